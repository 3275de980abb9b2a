"""Tiered first calls: interpret a new program while another process compiles it.

With `FUNCAD_COMPILE=background` (the default), the first call of a program whose
compiled code is not on disk yet returns as soon as evaluating the jaxpr with NumPy would,
while a worker process (`python -m funcad.lowering.numba.background JOB`) compiles it into
the shared disk cache. A thread would starve the caller through the GIL; a process does
not. Later calls check the worker without blocking and switch to native code once it has
finished (loading from the disk cache). Programs with loops (`scan`, `while`) are compiled
at once instead: interpreted op by op, a loop runs ~100x slower than compiled.

Lowering itself takes ~70 us an equation, so a large program (a 200-layer chain's
gradient: 0.35 s) is lowered by the worker too, from the pickled jaxpr: the worker writes
the lowered program next to its job, and the caller loads it instead of lowering. No call
of the caller waits for lowering or compiling, whatever the program's size.

`FUNCAD_COMPILE=sync` compiles before the first call returns (benchmarks, tests), and
`wait_compiled()` waits for the workers that are running and switches to their results.
Tracing always stays on the caller's thread.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
import weakref
from typing import Callable

_jobs: list["Tiered"] = []          # workers running
_pending: "weakref.WeakSet[Tiered]" = None   # set below: every tiered program
_lock = threading.Lock()


_pending = weakref.WeakSet()


def compile_mode() -> str:
    """FUNCAD_COMPILE: 'background' (default) or 'sync'."""
    mode = os.environ.get("FUNCAD_COMPILE", "background").lower()
    if mode not in ("background", "sync"):
        raise ValueError(f"FUNCAD_COMPILE={mode!r}: expected 'background' or 'sync'")
    return mode


class Tiered:
    """An executor that interprets the program until its compiled code is ready.

    The first call only interprets (lowering a large program takes longer than running
    it once); the second lowers it, loads it if every part is on disk already, and
    otherwise starts a worker; later calls switch to native code once the worker is done.
    """

    tiered = True

    def __init__(self, jaxpr, name: str, options):
        self.jaxpr, self.name, self.options = jaxpr, name, options
        _pending.add(self)
        self.native: Callable | None = None
        self.proc = None
        self.calls = 0
        self.interpreted_calls = 0

    @property
    def ready(self) -> bool:
        """True once calls run native code."""
        if self.native is None and self.proc is not None and self.proc.poll() is not None:
            self._switch()
        return self.native is not None

    def __call__(self, *args):
        if self.native is not None or self.ready:
            return self.native(*args)
        self.calls += 1
        if self.calls == 2:
            self._start()
            if self.native is not None:
                return self.native(*args)
        self.interpreted_calls += 1
        return interpret(self.jaxpr, args)

    def _start(self) -> None:
        from funcad.lowering.numba import compile as comp
        if program_size(self.jaxpr) > LOWER_HERE_MAX and self._spawn_lowering():
            return
        lowered, key, opts = comp.lower_with_key(self.jaxpr, self.name, self.options)
        self.lowered, self.key, self.opts = lowered, key, opts
        if comp.ready_to_load(lowered, key, opts):
            self._switch()
            return
        self._spawn(("lowered", lowered, key, opts, self.name), key)

    def _spawn_lowering(self) -> bool:
        """Start a worker that lowers and compiles the pickled jaxpr (False: cannot)."""
        from funcad._serialize import JaxprPickleError, dumps
        try:
            program = dumps(self.jaxpr, for_eval=True)
        except (JaxprPickleError, pickle.PicklingError, TypeError, AttributeError):
            return False      # a param that cannot travel: lower here
        self._spawn(("jaxpr", program, self.options, self.name), "program")
        return True

    def _spawn(self, job: tuple, tag: str) -> None:
        from funcad.lowering.numba import compile as comp
        folder = os.path.join(comp.cache_dir(), "jobs")
        os.makedirs(folder, exist_ok=True)
        _sweep(folder)
        fd, self.job_path = tempfile.mkstemp(prefix=f"job-{tag}-", suffix=".pkl", dir=folder)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(job, f)
        env = dict(os.environ, FUNCAD_COMPILE="sync")
        self.log_path = self.job_path[:-4] + ".log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "funcad.lowering.numba.background", self.job_path],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        with _lock:
            _jobs.append(self)

    def wait(self) -> None:
        """Block until native code runs (starting the worker if it has not started)."""
        if self.native is not None:
            return
        if self.proc is None:
            self.calls = max(self.calls, 1)
            self._start()
        if self.proc is not None:
            self.proc.wait()
        self._switch()

    def _switch(self) -> None:
        from funcad.lowering.numba import compile as comp
        if self.native is not None:
            return
        if not hasattr(self, "lowered"):
            self.lowered, self.key, self.opts = self._worker_lowering() or \
                comp.lower_with_key(self.jaxpr, self.name, self.options)
        # The worker's result is on disk now: building here loads it. If the worker
        # failed, this compiles in the caller and raises the real error.
        self.native = comp.build(self.lowered, self.key, self.opts, False, self.name).run
        job = getattr(self, "job_path", None)
        for p in (job, getattr(self, "log_path", None), job and _lowered_path(job)):
            if p:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        with _lock:
            if self in _jobs:
                _jobs.remove(self)


    def _worker_lowering(self) -> tuple | None:
        """(lowered, key, opts) as the worker wrote it, or None (not there, unreadable)."""
        job = getattr(self, "job_path", None)
        if job is None:
            return None
        try:
            with open(_lowered_path(job), "rb") as f:
                return pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            return None


# Programs up to this many equations (nested ones included) are lowered by the caller
# (~70 us an equation, so ~35 ms at most); larger ones by the worker.
LOWER_HERE_MAX = 500


def _inner_programs(eqn):
    """The programs an equation's params hold (a body, a ClosedJaxpr, cond's branches)."""
    for v in eqn.params.values():
        for x in (v if isinstance(v, (tuple, list)) else (v,)):
            inner = getattr(x, "jaxpr", x)
            if hasattr(inner, "eqns"):
                yield inner


def program_size(jaxpr) -> int:
    """The number of equations of a program, those of inner programs included."""
    return sum(1 + sum(program_size(j) for j in _inner_programs(e)) for e in jaxpr.eqns)


_STALE_S = 86400.0


def _sweep(folder: str) -> None:
    """Delete job files a day old (left by callers that exited before their switch)."""
    import time
    now = time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for n in names:
        p = os.path.join(folder, n)
        try:
            if now - os.path.getmtime(p) > _STALE_S:
                os.unlink(p)
        except OSError:
            pass


def _lowered_path(job_path: str) -> str:
    return job_path[:-4] + ".lowered.pkl"


def interpret(jaxpr, args) -> list:
    """Evaluate a program with NumPy (the tier before native code)."""
    from funcad._core import eval_context
    from funcad._ir import eval_jaxpr
    with eval_context():
        return eval_jaxpr(jaxpr, (), args)


def wait_compiled() -> None:
    """Compile every program of this process still interpreted, and switch to it."""
    with _lock:
        jobs = list(_jobs) + [t for t in _pending if t.native is None and t not in _jobs]
    for job in jobs:
        job.wait()


def has_loops(jaxpr) -> bool:
    """True when a program contains a native loop (scan, while) at any depth."""
    return any(e.primitive.name in ("scan", "while", "while_rev")
               or any(has_loops(j) for j in _inner_programs(e)) for e in jaxpr.eqns)


def _main(path: str) -> int:
    import funcad  # noqa: F401  (registers the rules and the backend)
    from funcad.lowering.numba import compile as comp
    from funcad._serialize import loads
    with open(path, "rb") as f:
        job = pickle.load(f)
    os.unlink(path)     # read: the caller needs only the log and the lowered program
    if job[0] == "lowered":
        _, lowered, key, opts, name = job
    else:       # lower here, and leave the lowered program for the caller
        _, program, options, name = job
        lowered, key, opts = comp.lower_with_key(loads(program), name, options)
    comp.build(lowered, key, opts, False, name)
    if job[0] == "jaxpr":
        out = _lowered_path(path)
        with open(out + ".tmp", "wb") as f:
            pickle.dump((lowered, key, opts), f)
        os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
