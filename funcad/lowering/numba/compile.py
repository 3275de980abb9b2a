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
import linecache
import math
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from funcad._array import Array, writeable_view
from funcad._core import FuncadError
from funcad._ir import Jaxpr
from funcad.lowering import progress
from funcad.lowering.numba.codegen import LoweredSource, LoweringError, lower_jaxpr

#: Counters that tests and benchmarks read: programs lowered, Numba compilations (cache
#: misses), programs loaded from the disk cache, disk files rewritten, compile seconds.
stats: dict[str, float] = {"lowered": 0, "compiled": 0, "disk_hits": 0, "rewritten": 0,
                           "compile_seconds": 0.0, "kernels_compiled": 0, "kernels_loaded": 0,
                           "kernels_llvm": 0, "kernels_reused": 0}
_log: list[str] = []
_lock = threading.RLock()

# Numba compilations of this machine's processes, one at a time (see _numba_machine_lock).
_machine = threading.RLock()
_machine_held = [0, None]      # depth, the locked file


@contextlib.contextmanager
def _numba_machine_lock():
    """Hold a lock file while Numba compiles: Numba's disk cache of a function compiled for
    several signatures (the `_runtime` helpers) is an index plus numbered files that two
    processes compiling new signatures at once overwrite each other's of, after which a
    process loads one signature's code for another and refuses to compile (seen with Dask
    workers compiling together). Nested compilations take it once."""
    with _machine:
        if _machine_held[0] == 0:
            try:
                import fcntl
                f = open(os.path.join(tempfile.gettempdir(),
                                      f"funcad-numba-{os.getuid()}.lock"), "a")
                fcntl.flock(f, fcntl.LOCK_EX)
            except (ImportError, OSError):   # no fcntl (Windows) or no writable tmp
                f = None
            _machine_held[1] = f
        _machine_held[0] += 1
        try:
            yield
        finally:
            _machine_held[0] -= 1
            if _machine_held[0] == 0 and _machine_held[1] is not None:
                _machine_held[1].close()     # (closing releases the lock)
                _machine_held[1] = None


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


_NUMBA_VERSION: list[str] = []


def _numba_version() -> str:
    # Where Numba is installed and when: importing it costs ~0.4 s and reading its
    # metadata ~50 ms, and a program that only needs LLVM kernels never imports it.
    if not _NUMBA_VERSION:
        spec = importlib.util.find_spec("numba")
        origin = spec.origin if spec is not None else "none"
        stamp = os.stat(origin).st_mtime_ns if spec is not None else 0
        _NUMBA_VERSION.append(f"{origin}:{stamp}")
    return _NUMBA_VERSION[0]


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
    h = hashlib.sha256()
    for part in (funcad.__version__, _runtime_hash(), _numba_version(), np.__version__,
                 sys.version, repr(sorted(options.items())), str(disabled), signature,
                 source):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


_RUNTIME_HASH: list[str] = []


def _runtime_hash() -> str:
    # Compiled programs link the helpers of _runtime.py: a change there must change keys.
    if not _RUNTIME_HASH:
        # The file, not the module: importing it imports Numba (~0.4 s).
        with open(os.path.join(os.path.dirname(__file__), "_runtime.py"), "rb") as f:
            _RUNTIME_HASH.append(hashlib.sha256(f.read()).hexdigest())
    return _RUNTIME_HASH[0]


# In-process caches: by jaxpr identity (fast path of jit_p's impl) and by source key.
_by_jaxpr: dict[tuple, tuple[Jaxpr, Compiled]] = {}
_by_key: dict[str, Compiled] = {}


def driver_mode() -> str:
    """FUNCAD_DRIVER: 'auto' (default), 'python' (always split into kernels) or 'numba'."""
    mode = os.environ.get("FUNCAD_DRIVER", "auto").lower()
    if mode not in ("auto", "python", "numba"):
        raise ValueError(f"FUNCAD_DRIVER={mode!r}: expected 'auto', 'python' or 'numba'")
    return mode


# A program this small (driver and kernels), without BLAS or LAPACK calls, is compiled as
# one Numba function: its call costs ~1.4 us and it runs without a Python driver's
# allocations and calls between loop nests (jit(hessian) of the bench: 34 us, not 50).
_WHOLE_MAX_LINES = 200


def lower_program(jaxpr: Jaxpr, name: str, opts: dict, comments: bool = False
                  ) -> LoweredSource:
    """Lower for the driver that fits: kernels under a Python driver, or one function.

    `comments`: equation comments inside kernels too (for reading the source; a compile
    does without them, they are not part of a kernel's canonical text).
    """
    mode = driver_mode()
    if mode == "numba":
        return lower_jaxpr(jaxpr, name, opts)
    split = lower_jaxpr(jaxpr, name, opts, split=True, comments=comments)
    if mode == "python" or opts["parallel"]:
        return split
    size = len(split.source.splitlines()) + sum(
        len(c.kernel.canonical.splitlines()) for c in split.calls)
    calls_lib = "_rt.dot" in split.source or any(
        f"_rt.{f}(" in split.source
        for f in ("solve", "det", "slogdet", "cholesky", "eigh", "svd", "qr", "eig_f64",
                  "eig_f32", "eig_complex", "eigvals_f64", "eigvals_f32", "eigvals_complex"))
    # Host callbacks and the LAPACK calls Numba does not bind run from the Python driver.
    calls_lib = calls_lib or "_rt.call_callback(" in split.source or "_rt.host_" in split.source
    # One kernel under a Python driver calls faster than one Numba function (the LLVM
    # kernel's call costs ~0.05 us against Numba's dispatcher's ~0.4 us).
    if size <= _WHOLE_MAX_LINES and not calls_lib and len(split.calls) > 1:
        return lower_jaxpr(jaxpr, name, opts)
    return split


def compile_jaxpr(jaxpr: Jaxpr, name: str = "program", options=()) -> Compiled:
    """Lower and compile a constvar-free jaxpr (cached in memory and on disk)."""
    disabled = jit_disabled()
    k = (id(jaxpr), options, disabled)
    hit = _by_jaxpr.get(k)
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    with _lock:
        opts = _options_dict(options)
        lowered = lower_program(jaxpr, name, opts)
        stats["lowered"] += 1
        key = _key(lowered.source, opts, disabled, _signature(lowered))
        compiled = build(lowered, key, opts, disabled, name)
        if len(_by_jaxpr) > 2048:
            _by_jaxpr.clear()
        _by_jaxpr[k] = (jaxpr, compiled)
        return compiled


def program_source(jaxpr: Jaxpr, name: str = "program", options=()) -> str:
    """The generated source of a program, as it is written to the cache (no compiling)."""
    opts = _options_dict(options)
    lowered = lower_program(jaxpr, name, opts, comments=True)
    key = _key(lowered.source, opts, jit_disabled(), _signature(lowered))
    text = lowered.source.replace(lowered.fun_name, f"fa_{key}")
    if not lowered.split:
        return text
    parts = [text, "", "# ---- kernels, as first called here (each compiles from a canonical "
             "text:", "# names in order of appearance, sizes as arguments; shared by programs)"]
    first: dict[str, int] = {}
    for i, call in enumerate(lowered.calls):
        kern = call.kernel
        if kern.key in first:
            parts.append(f"\n# __k{i}: {kern.name} again, as __k{first[kern.key]}")
            continue
        first[kern.key] = i
        parts.append(f"\n# __k{i}: {kern.name}")
        parts.append(kern.display.replace("{name}", kern.name, 1))
    return "\n".join(parts)


def build(lowered: LoweredSource, key: str, opts: dict, disabled: bool,
          name: str) -> Compiled:
    """Compile (or load from disk) a lowered program; cached in memory by key."""
    with _lock:
        compiled = _by_key.get(key)
        if compiled is None:
            if lowered.split:
                compiled = _build_split(lowered, key, opts, disabled, name)
            else:
                compiled = _build(lowered, key, opts, disabled, name)
                if not disabled:
                    _touch(_marker(key))
            _by_key[key] = compiled
        elif any(a is not b for a, b in zip(compiled.lowered.extra_args,
                                             lowered.extra_args, strict=True)):
            # Same code, other constant arguments: share the function, not the constants.
            fn = compiled.fn
            compiled = Compiled(lowered, key, compiled.path, fn)
            compiled.run = (_make_split_executor if lowered.split else _make_executor)(
                fn, lowered)
        return compiled


_tiered: dict[tuple, tuple] = {}


def backend_compile(jaxpr: Jaxpr, name: str, options) -> Callable:
    """The `compile_fn` installed with funcad._jit.set_backend: returns an executor.

    With FUNCAD_COMPILE=background, a program that is neither compiled in this process
    nor on disk gets a tiered executor (interpreted until a worker has compiled it).
    """
    from funcad.lowering.numba import background
    disabled = jit_disabled()
    if disabled or background.compile_mode() == "sync":
        return compile_jaxpr(jaxpr, name, options).run
    k = (id(jaxpr), options)
    hit = _by_jaxpr.get((id(jaxpr), options, disabled))
    if hit is not None and hit[0] is jaxpr:
        return hit[1].run
    t = _tiered.get(k)
    if t is not None and t[0] is jaxpr:
        tiered = t[1]
        return tiered.native if tiered.ready else tiered
    if background.has_loops(jaxpr):
        return compile_jaxpr(jaxpr, name, options).run
    tiered = background.Tiered(jaxpr, name, options)
    _tiered[k] = (jaxpr, tiered)
    return tiered


def lower_with_key(jaxpr: Jaxpr, name: str, options) -> tuple:
    """(lowered program, its key, options dict): what `build` needs."""
    opts = _options_dict(options)
    lowered = lower_program(jaxpr, name, opts)
    return lowered, _key(lowered.source, opts, False, _signature(lowered)), opts


def ready_to_load(lowered: LoweredSource, key: str, opts: dict) -> bool:
    """True when the program is built in this process or every part of it is on disk."""
    return key in _by_key or _on_disk(lowered, key, opts)


def _marker(key: str) -> str:
    return os.path.join(_kernel_dir(), key + ".ready")


def _touch(path: str) -> None:
    try:
        with open(path, "a"):
            pass
    except OSError:
        pass


def _kernel_marker(kernel, types, opts) -> str:
    h = hashlib.sha256(repr((kernel.key, types, sorted(opts.items()))).encode())
    return _marker("k" + h.hexdigest()[:24])


def _on_disk(lowered: LoweredSource, key: str, opts: dict) -> bool:
    """True when every part of the program was compiled before (by any process)."""
    if not lowered.split:
        return os.path.exists(_marker(key))
    return all(c.types is not None and (
        (c.kernel.key, tuple(sorted(opts.items())), False, c.types) in _kernels
        or os.path.exists(_kernel_marker(c.kernel, c.types, opts))) for c in lowered.calls)


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
    pyfn = _load_function(path, text, f"funcad_cache_{key}", fname)
    if disabled:
        fn = pyfn
        _log.append(f"python {fname} for jit({name})")
    else:
        fn = _numba_compile(pyfn, lowered, name, opts, text)
    compiled = Compiled(lowered, key, path, fn)
    compiled.run = _make_executor(fn, lowered)
    return compiled


# ---------------------------------------------------------------------------------------
# Split programs: a Python driver calling kernels


def _build_split(lowered: LoweredSource, key: str, opts: dict, disabled: bool,
                 name: str) -> Compiled:
    from funcad.lowering.numba import _pyruntime
    fname = f"fa_{key}"
    text = lowered.source.replace(lowered.fun_name, fname)
    filename = f"<funcad driver of jit({name}) {fname}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    globs = {"np": np, "_rt": _pyruntime, "__name__": f"funcad_driver_{key}"}
    for i, call in progress.steps(enumerate(lowered.calls), f"jit({name})", len(lowered.calls),
                                  lambda ic: f"kernel {ic[1].kernel.name}"):
        slot = f"__k{i}"
        if call.types is not None:
            globs[slot] = kernel_callable(call.kernel, call.types, opts, disabled, name)
        else:
            globs[slot] = _KernelSlot(call.kernel, globs, slot, opts, disabled, name)
    exec(compile(text, filename, "exec"), globs)
    fn = globs[fname]
    _log.append(f"{'python' if disabled else 'driver'} {fname} for jit({name}): "
                f"{len(lowered.calls)} kernel calls, "
                f"{len({c.kernel.key for c in lowered.calls})} distinct kernels")
    compiled = Compiled(lowered, key, filename, fn)
    compiled.run = run = _make_split_executor(fn, lowered)
    single = globs.get(fname + "_single")
    if single is not None and getattr(run, "single", None) is not None and not getattr(
            run, "callbacks", False):
        globs["_fallback_single"] = run.single     # (see codegen._single_entry)
        run.single = single
    return compiled


class _KernelSlot:
    """A driver's call site of a kernel: compiles (or loads) it on first use, then steps
    aside (rebinds the driver's global to the compiled callable)."""

    def __init__(self, kernel, globs, slot, opts, disabled, name):
        self.kernel, self.globs, self.slot = kernel, globs, slot
        self.opts, self.disabled, self.name = opts, disabled, name

    def __call__(self, *args):
        fn = kernel_callable(self.kernel, _arg_types(args), self.opts, self.disabled,
                             self.name)
        self.globs[self.slot] = fn
        return fn(*args)


# Compiled kernels of this process: (kernel key, flags, argument types) -> callable.
_kernels: dict[tuple, Callable] = {}


def _arg_types(args) -> tuple:
    out = []
    for a in args:
        if type(a) is np.ndarray:
            out.append(("a", a.dtype.str, a.ndim))
        elif type(a) is bool or isinstance(a, np.bool_):
            out.append(("s", "|b1"))
        elif type(a) is int:
            out.append(("s", "<i8"))
        elif type(a) is float:
            out.append(("s", "<f8"))
        else:
            out.append(("s", np.asarray(a).dtype.str))
    return tuple(out)


def kernel_callable(kernel, types: tuple, opts: dict, disabled: bool, name: str) -> Callable:
    """The compiled callable of `kernel` for argument `types` (cached per process)."""
    k = (kernel.key, tuple(sorted(opts.items())), disabled, types)
    fn = _kernels.get(k)
    if fn is not None:
        stats["kernels_reused"] += 1
        return fn
    with _lock:
        fn = _kernels.get(k)
        if fn is None:
            fn = _compile_kernel(kernel, types, opts, disabled, name)
            _kernels[k] = fn
            if not disabled:
                _touch(_kernel_marker(kernel, types, opts))
        return fn


def _compile_kernel(kernel, types, opts, disabled, name) -> Callable:
    if disabled:
        globs = {"np": np, "math": math, "prange": range, "_rt": _python_runtime()}
        exec(compile(kernel.source(), f"<funcad kernel {kernel.name}>", "exec"), globs)
        return globs[kernel.name]
    if not opts["parallel"]:
        fn = _llvm_kernel(kernel, types, opts)
        if fn is not None:
            return fn
    return _numba_kernel(kernel, types, opts, name)


def _python_runtime():
    from funcad.lowering.numba import _pyruntime
    return _pyruntime


def _llvm_kernel(kernel, types, opts):
    try:
        from funcad.lowering.llvm import ArrayArg, ScalarArg, Unsupported, compile_kernel
    except ImportError:
        return None
    arg_types = [ArrayArg(np.dtype(t[1]), t[2]) if t[0] == "a" else ScalarArg(np.dtype(t[1]))
                 for t in types]
    from funcad.lowering.llvm import kernel_stats
    loaded = kernel_stats["loaded"]
    t0 = time.perf_counter()
    try:
        fn = compile_kernel(kernel.source(), kernel.name, arg_types,
                            fastmath=opts["fastmath"], cache_dir=_kernel_dir())
    except Unsupported as e:
        _log.append(f"kernel {kernel.name}: LLVM route unsupported ({e}); Numba compiles it")
        return None
    if kernel_stats["loaded"] > loaded:
        stats["kernels_loaded"] += 1          # object code from the disk cache
    else:
        stats["kernels_llvm"] += 1
        stats["compile_seconds"] += time.perf_counter() - t0
    return fn


def _kernel_dir() -> str:
    d = os.path.join(cache_dir(), "kernels")
    os.makedirs(d, exist_ok=True)
    return d


_KERNEL_HEADER = ("import math\nimport numpy as np\nfrom numba import prange\n"
                  "from funcad.lowering.numba import _runtime as _rt\n\n\n")


def _numba_kernel(kernel, types, opts, name) -> Callable:
    import numba
    src = kernel.source()
    key = _key(src, opts, False)
    fname = f"fk_{key}"
    text = _KERNEL_HEADER + src.replace(kernel.name, fname, 1)
    path = os.path.join(_kernel_dir(), fname + ".py")
    pyfn = _load_function(path, text, f"funcad_kernel_{key}", fname)
    disp = numba.njit(**_numba_flags(opts))(pyfn)
    sig = tuple(numba.types.Array(numba.from_dtype(np.dtype(t[1])), t[2], "C") if t[0] == "a"
                else numba.from_dtype(np.dtype(t[1])) for t in types)
    t0 = time.perf_counter()
    try:
        with _numba_machine_lock():
            disp.compile(sig)
    except Exception as e:
        texts = kernel.equation_texts()
        eqns = "\n".join(f"    {q}" for q in texts)
        prims = sorted({q.split("=", 1)[1].split()[0] for q in texts if "=" in q})
        lines = text.splitlines()
        where = "".join(f"\n  generated line {ln}: {lines[ln - 1].strip()}"
                        for ln in _error_lines(str(e), lines, "fk") if 1 <= ln <= len(lines))
        raise NumbaCompileError(
            f"Numba could not compile a kernel of jit({name}) ({kernel.name}); primitives: "
            f"{', '.join(prims)}; it lowers:\n{eqns}{where}\n  Numba said: "
            f"{str(e).strip().splitlines()[0]}\n(Set FUNCAD_DISABLE_JIT=1 to run the "
            f"generated source as plain Python, or read jit(...).lower(...).source.)\n\n{e}"
        ) from None
    dt = time.perf_counter() - t0
    if sum(disp.stats.cache_hits.values()):
        stats["kernels_loaded"] += 1
    else:
        stats["kernels_compiled"] += 1
        stats["compile_seconds"] += dt
        _log.append(f"compiled kernel {fname} for jit({name}) in {dt:.3f}s")
    disp.disable_compile()
    return disp


def _normalise_input(x, aval):
    """An input as compiled code takes it: a C-contiguous, aligned, writeable ndarray of the
    traced dtype. funcad.Arrays are read-only views of memory that funcad allocated
    writeable, so a writeable plain view of them is free of copies; Numba would type a
    read-only array as another type (and compile again), and generated code never writes
    into its inputs."""
    if type(x) is Array:
        x = writeable_view(x)
        f = x.flags
        if x.dtype == aval.dtype and f.c_contiguous and f.aligned:
            return x
    return np.array(x, dtype=aval.dtype, order="C")


def _make_split_executor(fn: Callable, lowered: LoweredSource) -> Callable:
    extra = tuple(lowered.extra_args)
    in_avals = lowered.in_avals
    scalar_outs = [(i, a.dtype) for i, a in enumerate(lowered.out_avals) if a.ndim == 0]

    def run_args(args):
        # Kernels are typed by their first call: inputs must be exactly as traced (and
        # aligned: arrays that Dask or np.frombuffer hand over may not be).
        return [x if (type(x) is np.ndarray and x.dtype == a.dtype and x.flags.c_contiguous
                      and x.flags.aligned)
                else _normalise_input(x, a)
                for x, a in zip(args, in_avals, strict=True)]

    def run(*args):
        res = fn(*run_args(args), *extra)
        if scalar_outs:
            res = list(res)
            for i, dt in scalar_outs:
                res[i] = np.asarray(res[i], dt)
        return res

    run.scalar_outs = scalar_outs
    run.fn = fn
    run.extra = extra
    run.callbacks = "_rt.call_callback(" in lowered.source
    if run.callbacks:
        _add_single(run, lowered, lambda args: fn(*run_args(args), *extra))
    else:
        # Without callbacks a program may run twice: try the arguments as they are (LLVM
        # kernels check their arrays themselves and raise TypeError on the wrong layout;
        # reading an Array's memory needs no writeable view), and normalise on TypeError.
        _add_single(run, lowered, _trying(fn, extra, run_args), run_args)
    return run


def _add_single(run: Callable, lowered: LoweredSource, raw: Callable,
                normalise: Callable | None = None) -> None:
    """Give the executor of a one-output program `run.single(args)`: jit's fast path,
    which returns that output as a funcad.Array with no list or tuple in between. `raw`
    maps the argument list to the compiled function's result tuple. With `normalise`
    (for a program without extra arguments whose compiled function raises TypeError on
    arguments it cannot take, and may then run again), the hottest case (an array
    output) calls the compiled function itself, one call layer less."""
    if len(lowered.out_avals) != 1:
        return
    aval = lowered.out_avals[0]
    if aval.ndim == 0:
        dt = aval.dtype

        def single(args):
            a = np.asarray(raw(args)[0], dt).view(Array)
            a.setflags(False)
            return a
    elif normalise is not None and not lowered.extra_args:
        fn = run.fn

        def single(args):
            try:
                out = fn(*args)[0]
            except TypeError:
                out = fn(*normalise(args))[0]
            a = out.view(Array)
            a.setflags(False)
            return a
    else:
        def single(args):
            a = raw(args)[0].view(Array)
            a.setflags(False)
            return a
    run.single = single


def _numba_type(aval):
    import numba
    return numba.types.Array(numba.from_dtype(np.dtype(aval.dtype)), aval.ndim, "C")


def _numba_flags(opts: dict) -> dict:
    """numba.njit's options for funcad's compile options."""
    flags = {"cache": True, "error_model": "numpy", "nogil": True}
    if opts["parallel"]:
        flags["parallel"] = True
    if opts["fastmath"]:
        # Never 'nnan'/'ninf': NaN and Inf must keep their meaning.
        flags["fastmath"] = {"reassoc", "contract", "arcp", "nsz", "afn"}
    return flags


def _load_function(path: str, text: str, modname: str, fname: str):
    """Import `fname` from the source file `path`, (re)writing it when it is not `text`."""
    _ensure_file(path, text)
    try:
        return getattr(_import(path, modname), fname)
    except Exception:
        # A file changed under us (another process rewrote it): write and load once more.
        _write_source(path, text)
        return getattr(_import(path, modname), fname)


def _numba_compile(pyfn, lowered: LoweredSource, name: str, opts: dict, text: str):
    import numba
    disp = numba.njit(**_numba_flags(opts))(pyfn)
    sig = tuple(_numba_type(a) for a in lowered.in_avals) + tuple(
        _numba_type(_AvalOf(c)) for c in lowered.extra_args)
    t0 = time.perf_counter()
    try:
        with progress.task(f"jit({name})", "the whole program, one Numba function"), \
                _numba_machine_lock():
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


def _error_lines(msg: str, lines: list, prefix: str) -> list:
    """Line numbers of generated `lines` that a Numba error message points at."""
    found = [int(m.group(1)) for m in
             re.finditer(rf'File "[^"]*{prefix}_[0-9a-f]+\.py", line (\d+)', msg)]
    if not found:
        # No location (e.g. a raw AttributeError): find a quoted name from the message.
        for word in re.findall(r"'([A-Za-z_][A-Za-z_0-9]*)'", msg):
            hits = [i + 1 for i, ln in enumerate(lines)
                    if word in ln and not ln.lstrip().startswith("#")]
            if hits and word not in ("numpy", "np"):
                return hits[:1]
    return found


def _wrap_numba_error(e: Exception, lowered: LoweredSource, name: str,
                      text: str) -> NumbaCompileError:
    msg = str(e)
    lines = text.splitlines()
    found = _error_lines(msg, lines, "fa")
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
                      and x.flags.writeable) else _normalise_input(x, a)
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

    _add_single(run, lowered, _trying(fn, extra, normalise), normalise)
    return run


def _trying(fn: Callable, extra: tuple, normalise: Callable) -> Callable:
    """args -> fn's result tuple: the arguments as they come, normalised after a TypeError
    (the compiled function refusing a dtype, a layout or a read-only array)."""
    if extra:
        def raw(args):
            try:
                return fn(*args, *extra)
            except TypeError:
                return fn(*normalise(args), *extra)
    else:
        def raw(args):
            try:
                return fn(*args)
            except TypeError:
                return fn(*normalise(args))
    return raw


__all__ = ["Compiled", "NumbaCompileError", "backend_compile", "cache_dir", "compile_jaxpr",
           "compile_log", "jit_disabled", "program_source", "stats", "LoweringError"]
