"""On-disk cache of compiled kernel object code.

One file per kernel, ``<cache_dir>/<key>.fko``, where ``key`` is the sha256
computed by :func:`cache_key` over everything the object code depends on.
File layout: 8-byte magic, 32-byte sha256 of the payload, 8-byte payload
length (little endian), payload (the ELF object from
``TargetMachine.emit_object``).  A file whose header or checksum does not
match is treated as absent (and overwritten by the next store).

Writes go to a temporary file in the same folder followed by ``os.replace``,
so concurrent processes never see a partial file.
"""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile

MAGIC = b"FKOBJ\x00\x01\x00"
_HDR = struct.Struct("<8s32sQ")
FORMAT_VERSION = 1


def cache_key(*parts) -> str:
    h = hashlib.sha256()
    h.update(repr((FORMAT_VERSION,) + tuple(parts)).encode("utf-8"))
    return h.hexdigest()


def _path(cache_dir: str, key: str) -> str:
    return os.path.join(cache_dir, key + ".fko")


def load(cache_dir: str, key: str):
    """The cached payload for ``key``, or None (absent, truncated or corrupt)."""
    try:
        with open(_path(cache_dir, key), "rb") as f:
            data = f.read()
    except OSError:
        return None
    if len(data) < _HDR.size:
        return None
    magic, digest, n = _HDR.unpack_from(data)
    payload = data[_HDR.size:]
    if magic != MAGIC or n != len(payload) or hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def store(cache_dir: str, key: str, payload: bytes) -> None:
    """Atomically write ``payload`` for ``key``; errors (read-only disk...) are ignored."""
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-" + key[:16], dir=cache_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_HDR.pack(MAGIC, hashlib.sha256(payload).digest(), len(payload)))
                f.write(payload)
            os.replace(tmp, _path(cache_dir, key))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        pass
