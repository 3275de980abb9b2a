"""Compiling generated programs: in-memory cache, content-addressed disk cache, executors.

A program's source is written to `<cache dir>/fa_<key>.py` (key: hash of the source,
funcad's and Numba's versions and the compile flags), imported as a registered module, and
compiled with `numba.njit(cache=True)` for one explicit signature, so that Numba stores the
machine code next to it and a new process loads it without compiling. Files are written
to a temporary name and renamed, so concurrent processes never see half-written files; a
file whose text differs from the expected source (corrupted, or written by something
else) is rewritten before use.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from funcad._core import FuncadError
from funcad._ir import Jaxpr
from funcad.lowering.numba.codegen import LoweredSource, LoweringError, lower_jaxpr

#: Counters that tests and benchmarks read: programs lowered, Numba compilations (cache
#: misses), programs loaded from the disk cache, disk files rewritten, compile seconds.
stats: dict[str, float] = {"lowered": 0, "compiled": 0, "disk_hits": 0, "rewritten": 0,
                           "compile_seconds": 0.0}
_log: list[str] = []
_lock = threading.RLock()


def compile_log() -> list[str]:
    """One line per program compiled or loaded in this process (newest last)."""
    return list(_log)


def jit_disabled() -> bool:
    """True when FUNCAD_DISABLE_JIT=1: run the generated source as plain Python."""
    return os.environ.get("FUNCAD_DISABLE_JIT", "") not in ("", "0")


def cache_dir() -> str:
    """The folder of generated sources and Numba's cache files."""
    d = os.environ.get("FUNCAD_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                ".cache")
        d = os.path.join(base, "funcad")
    return d


class NumbaCompileError(FuncadError):
    """Numba failed to compile a generated program (names the primitive and the line)."""


@dataclass
class Compiled:
    """A compiled program: `run(*args)` returns the list of outputs as arrays."""

    lowered: LoweredSource
    key: str
    path: str
    fn: Callable
    run: Callable = field(repr=False, default=None)

    @property
    def source(self) -> str:
        return self.lowered.source.replace(self.lowered.fun_name, self.name)

    @property
    def name(self) -> str:
        return f"fa_{self.key}"


def _options_dict(options) -> dict:
    d = dict(options or ())
    return {"parallel": bool(d.get("parallel", False)),
            "fastmath": bool(d.get("fastmath", False))}


def _signature(lowered: LoweredSource) -> str:
    """Ranks, dtypes and weak types of a program's inputs, outputs and constant arguments.

    Part of every key: a program's source need not mention them (`lambda a: +a` is
    `return (rt.copy(a),)` for every input), but it is compiled for one signature.
    """
    def one(a) -> str:
        return f"{np.dtype(a.dtype).str}:{a.ndim}{'w' if getattr(a, 'weak_type', False) else ''}"
    return (",".join(one(a) for a in lowered.in_avals) + "->"
            + ",".join(one(a) for a in lowered.out_avals) + ";"
            + ",".join(one(c) for c in lowered.extra_args))


def _key(source: str, options: dict, disabled: bool, signature: str = "") -> str:
    import funcad
    import numba
    h = hashlib.sha256()
    for part in (funcad.__version__, _runtime_hash(), numba.__version__, np.__version__,
                 sys.version, repr(sorted(options.items())), str(disabled), signature,
                 source):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


_RUNTIME_HASH: list[str] = []


def _runtime_hash() -> str:
    # Compiled programs link the helpers of _runtime.py: a change there must change keys.
    if not _RUNTIME_HASH:
        from funcad.lowering.numba import _runtime
        with open(_runtime.__file__, "rb") as f:
            _RUNTIME_HASH.append(hashlib.sha256(f.read()).hexdigest())
    return _RUNTIME_HASH[0]


# In-process caches: by jaxpr identity (fast path of jit_p's impl) and by source key.
_by_jaxpr: dict[tuple, tuple[Jaxpr, Compiled]] = {}
_by_key: dict[str, Compiled] = {}


def compile_jaxpr(jaxpr: Jaxpr, name: str = "program", options=()) -> Compiled:
    """Lower and compile a constvar-free jaxpr (cached in memory and on disk)."""
    disabled = jit_disabled()
    k = (id(jaxpr), options, disabled)
    hit = _by_jaxpr.get(k)
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    with _lock:
        opts = _options_dict(options)
        lowered = lower_jaxpr(jaxpr, name, opts)
        stats["lowered"] += 1
        key = _key(lowered.source, opts, disabled, _signature(lowered))
        compiled = _by_key.get(key)
        if compiled is None:
            compiled = _build(lowered, key, opts, disabled, name)
            _by_key[key] = compiled
        elif any(a is not b for a, b in zip(compiled.lowered.extra_args,
                                             lowered.extra_args, strict=True)):
            # Same code, other constant arguments: share the function, not the constants.
            compiled = Compiled(lowered, key, compiled.path, compiled.fn)
            compiled.run = _make_executor(compiled.fn, lowered)
        if len(_by_jaxpr) > 2048:
            _by_jaxpr.clear()
        _by_jaxpr[k] = (jaxpr, compiled)
        return compiled


def program_source(jaxpr: Jaxpr, name: str = "program", options=()) -> str:
    """The generated source of a program, as it is written to the cache (no compiling)."""
    opts = _options_dict(options)
    lowered = lower_jaxpr(jaxpr, name, opts)
    key = _key(lowered.source, opts, jit_disabled(), _signature(lowered))
    return lowered.source.replace(lowered.fun_name, f"fa_{key}")


def backend_compile(jaxpr: Jaxpr, name: str, options) -> Callable:
    """The `compile_fn` installed with funcad._jit.set_backend: returns an executor."""
    return compile_jaxpr(jaxpr, name, options).run


def _write_source(path: str, text: str) -> None:
    """Write `text` atomically: temp file in the same folder, then rename."""
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".py", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _ensure_file(path: str, text: str) -> None:
    try:
        with open(path) as f:
            if f.read() == text:
                return
        stats["rewritten"] += 1      # corrupted or stale: never used, rebuilt
    except (OSError, UnicodeDecodeError):
        pass
    _write_source(path, text)


def _import(path: str, modname: str):
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


def _build(lowered: LoweredSource, key: str, opts: dict, disabled: bool,
           name: str) -> Compiled:
    fname = f"fa_{key}"
    text = lowered.source.replace(lowered.fun_name, fname)
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, fname + ".py")
    _ensure_file(path, text)
    modname = f"funcad_cache_{key}"
    try:
        mod = _import(path, modname)
        pyfn = getattr(mod, fname)
    except Exception:
        # A file changed under us (another process rewrote it): write and load once more.
        _write_source(path, text)
        mod = _import(path, modname)
        pyfn = getattr(mod, fname)
    if disabled:
        fn = pyfn
        _log.append(f"python {fname} for jit({name})")
    else:
        fn = _numba_compile(pyfn, lowered, name, opts, text)
    compiled = Compiled(lowered, key, path, fn)
    compiled.run = _make_executor(fn, lowered)
    return compiled


def _numba_type(aval):
    import numba
    return numba.types.Array(numba.from_dtype(np.dtype(aval.dtype)), aval.ndim, "C")


def _numba_compile(pyfn, lowered: LoweredSource, name: str, opts: dict, text: str):
    import numba
    flags = {"cache": True, "error_model": "numpy", "nogil": True}
    if opts["parallel"]:
        flags["parallel"] = True
    if opts["fastmath"]:
        # Never 'nnan'/'ninf': NaN and Inf must keep their meaning.
        flags["fastmath"] = {"reassoc", "contract", "arcp", "nsz", "afn"}
    disp = numba.njit(**flags)(pyfn)
    sig = tuple(_numba_type(a) for a in lowered.in_avals) + tuple(
        _numba_type(_AvalOf(c)) for c in lowered.extra_args)
    t0 = time.perf_counter()
    try:
        disp.compile(sig)
    except Exception as e:  # Numba's typing errors, and the odd raw AttributeError
        raise _wrap_numba_error(e, lowered, name, text) from None
    dt = time.perf_counter() - t0
    hits = sum(disp.stats.cache_hits.values())
    if hits:
        stats["disk_hits"] += 1
        _log.append(f"loaded {pyfn.__name__} for jit({name}) from the disk cache")
    else:
        stats["compiled"] += 1
        stats["compile_seconds"] += dt
        _log.append(f"compiled {pyfn.__name__} for jit({name}) in {dt:.3f}s")
    disp.disable_compile()
    return disp


class _AvalOf:
    __slots__ = ("dtype", "ndim")

    def __init__(self, arr):
        self.dtype = arr.dtype
        self.ndim = arr.ndim


def _wrap_numba_error(e: Exception, lowered: LoweredSource, name: str,
                      text: str) -> NumbaCompileError:
    msg = str(e)
    lines = text.splitlines()
    found = [int(m.group(1)) for m in
             re.finditer(r'File "[^"]*fa_[0-9a-f]+\.py", line (\d+)', msg)]
    if not found:
        # No location (e.g. a raw AttributeError): find a quoted name from the message.
        for word in re.findall(r"'([A-Za-z_][A-Za-z_0-9]*)'", msg):
            hits = [i + 1 for i, ln in enumerate(lines)
                    if word in ln and not ln.lstrip().startswith("#")]
            if hits and word not in ("numpy", "np"):
                found = hits[:1]
                break
    where = ""
    for ln in found:
        if 1 <= ln <= len(lines):
            eqn = lowered.line_eqn[ln - 1] if ln - 1 < len(lowered.line_eqn) else None
            prim = eqn.split("=", 1)[1].split()[0] if eqn and "=" in eqn else "?"
            where = (f"\n  primitive: {prim}\n  equation:  {eqn}\n"
                     f"  generated line {ln}: {lines[ln - 1].strip()}")
    first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
    return NumbaCompileError(
        f"Numba could not compile the program generated for jit({name}).{where}\n"
        f"  Numba said: {first}\n(Set FUNCAD_DISABLE_JIT=1 to run the generated source as "
        f"plain Python, or use jit(...).lower(...).source to read it.)\n\n{msg}")


def _make_executor(fn: Callable, lowered: LoweredSource) -> Callable:
    extra = tuple(lowered.extra_args)
    in_avals = lowered.in_avals
    scalar_outs = [(i, a.dtype) for i, a in enumerate(lowered.out_avals) if a.ndim == 0]

    def normalise(args):
        return [x if (type(x) is np.ndarray and x.dtype == a.dtype and x.flags.c_contiguous
                      and x.flags.writeable) else np.array(x, dtype=a.dtype, order="C")
                for x, a in zip(args, in_avals, strict=True)]

    def run(*args):
        try:
            res = fn(*args, *extra)
        except TypeError:
            # Scalars, other dtypes, strided or read-only arrays: normalise and retry.
            res = fn(*normalise(args), *extra)
        if scalar_outs:
            res = list(res)
            for i, dt in scalar_outs:
                res[i] = np.asarray(res[i], dt)
            return res
        return res

    run.scalar_outs = scalar_outs
    run.fn = fn
    run.extra = extra
    return run


__all__ = ["Compiled", "NumbaCompileError", "backend_compile", "cache_dir", "compile_jaxpr",
           "compile_log", "jit_disabled", "program_source", "stats", "LoweringError"]
