"""dmap's NumPy inputs for workers on this machine, through shared memory.

Scattering a mapped NumPy array to local worker processes pickles it, sends it through a
socket and unpickles it again: for the 410 MB of bench_distributed's MLP, 0.57 s of CPU
spread over the caller and both workers, about as long as the computation itself. When
every worker can map this process's shared memory (`workers_share_memory`, checked once
per set of workers), `SharedInputs` copies the mapped arrays into one shared segment
(one copy) and the tasks carry only its name and the layout; each worker maps it and
reads its chunks in place. Segments are pooled and stay mapped in the workers, so a
second call faults no page in again.
"""

from __future__ import annotations

import atexit
import mmap
import os
import secrets
import threading
from multiprocessing import shared_memory
from typing import Any

import numpy as np

#: Mapped inputs smaller than this travel with the tasks (a segment is not worth it).
MIN_BYTES = 8 << 20

_checked: dict[tuple, bool] = {}


class _Mapping:
    """A segment another process created, mapped here without Python's resource tracker:
    `SharedMemory(name=...)` registers it (Python < 3.13), and a worker's tracker would
    unlink it when the worker exits, or, shared with the caller's (spawned processes
    inherit it), lose the caller's own registration."""

    def __init__(self, name: str):
        import _posixshmem
        fd = _posixshmem.shm_open("/" + name.lstrip("/"), os.O_RDWR, mode=0o600)
        try:
            self._mmap = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self.buf = memoryview(self._mmap)

    def close(self) -> None:
        self.buf.release()
        self._mmap.close()


def _probe(name: str, token: bytes) -> bool:
    """Worker side: can this process read the caller's segment `name`?"""
    try:
        shm = _Mapping(name)
    except (ImportError, OSError):      # another machine, or no POSIX shared memory
        return False
    try:
        return bytes(shm.buf[:len(token)]) == token
    finally:
        shm.close()


def workers_share_memory(client) -> bool:
    """True when every current worker of `client` maps this process's shared memory."""
    workers = tuple(sorted(client.scheduler_info()["workers"]))
    key = (id(client), workers)
    hit = _checked.get(key)
    if hit is None:
        token = secrets.token_bytes(16)
        try:
            shm = shared_memory.SharedMemory(create=True, size=len(token))
        except OSError:     # no /dev/shm
            return False
        try:
            shm.buf[:len(token)] = token
            answers = client.run(_probe, shm.name, token)
            hit = bool(answers) and all(answers.values())
        finally:
            shm.close()
            shm.unlink()
        _checked[key] = hit
    return hit


class SharedInputs:
    """The mapped arrays of one dmap call in a shared segment (caller side).

    `layout[k]` is (offset, shape, dtype) of mapped input k; chunks are ranges of its
    first axis. `release()` gives the segment back to a small pool and the next call
    reuses it, so neither this process nor the workers (which keep it mapped) fault its
    pages in again; the pool's segments are unlinked when this process exits.
    """

    def __init__(self, arrays: list[np.ndarray]):
        self.layout = []
        offset = 0
        for a in arrays:
            offset = -(-offset // 64) * 64         # each array starts cache-line aligned
            self.layout.append((offset, a.shape, a.dtype.str))
            offset += a.nbytes
        self.shm = _take_segment(max(offset, 1))
        for a, (off, shape, dt) in zip(arrays, self.layout, strict=True):
            np.ndarray(shape, dt, buffer=self.shm.buf, offset=off)[...] = a
        self.name = self.shm.name

    def release(self) -> None:
        """The call is over: the segment goes back to the pool."""
        _give_back(self.shm)


_pool: list[shared_memory.SharedMemory] = []    # free segments, the newest last
_pool_lock = threading.Lock()
_POOL_SIZE = 2


def _take_segment(size: int) -> shared_memory.SharedMemory:
    with _pool_lock:
        for k, shm in enumerate(_pool):
            if shm.size >= size:
                return _pool.pop(k)
    return shared_memory.SharedMemory(create=True, size=size)


def _give_back(shm: shared_memory.SharedMemory) -> None:
    with _pool_lock:
        _pool.append(shm)
        while len(_pool) > _POOL_SIZE:
            _unlink(_pool.pop(0))


def _unlink(shm: shared_memory.SharedMemory) -> None:
    shm.close()
    shm.unlink()


@atexit.register
def _unlink_pool() -> None:
    with _pool_lock:
        while _pool:
            _unlink(_pool.pop())


# Worker side: segments kept mapped between tasks (the caller reuses them), newest last.
_mapped: dict[str, _Mapping] = {}
_MAPPED_MAX = 4


def _mapping(name: str) -> _Mapping:
    shm = _mapped.pop(name, None)
    if shm is None:
        shm = _Mapping(name)
    _mapped[name] = shm
    while len(_mapped) > _MAPPED_MAX:
        old = _mapped.pop(next(iter(_mapped)))
        try:
            old.close()
        except BufferError:   # a view still alive (an exception's frames): unmapped at exit
            pass
    return shm


class Chunks:
    """Worker side: the chunks of a shared segment, as writeable arrays (compiled code
    takes writeable arrays and never writes into its inputs)."""

    def __init__(self, name: str, layout: list):
        self.shm = _mapping(name)
        self.layout = layout

    def get(self, k: int, lo: int, hi: int) -> np.ndarray:
        off, shape, dt = self.layout[k]
        dt = np.dtype(dt)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dt.itemsize
        return np.ndarray((hi - lo, *shape[1:]), dt, buffer=self.shm.buf,
                          offset=off + lo * row)

    def own(self, out: Any) -> Any:
        """An output that views the segment (a program returning its input), as an array
        of its own; any other output as it is."""
        if isinstance(out, np.ndarray) and np.may_share_memory(
                out, np.frombuffer(self.shm.buf, np.uint8)):
            return np.array(out)
        return out


__all__ = ["MIN_BYTES", "Chunks", "SharedInputs", "workers_share_memory"]
