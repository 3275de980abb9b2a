"""Compile progress: a status line instead of a silent wait.

When compiling a `jit` program takes longer than `DELAY` seconds (1 s), funcad shows
what is compiling and for how long: in a Jupyter notebook an output line that updates in
place (`IPython.display` with a `display_id`; no ipywidgets needed), in a terminal a
one-line status on stderr rewritten with `\\r` (when stderr is not a terminal, one final
line only). Fast compiles show nothing. `FUNCAD_PROGRESS=0` (or `progress.enable(False)`)
turns it off.

The API is two calls, used by the backend (`funcad/lowering/numba/compile.py`) and usable
by anyone with a slow loop:

    with progress.task("jit(loss)", "compiling the whole program"):
        slow()

    for i, call in progress.steps(enumerate(calls), "jit(loss)", total=len(calls)):
        compile_one(call)

A ticker thread refreshes the elapsed time while one step blocks (a single Numba compile
can take seconds); it only touches the display, never the work.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Iterable, Iterator

#: Seconds a task must run before anything is shown.
DELAY = 1.0
#: Seconds between refreshes of the elapsed time.
TICK = 0.5

_enabled: bool | None = None     # None: read FUNCAD_PROGRESS
_local = threading.local()       # .stack: the tasks running on this thread, outermost first


def enabled() -> bool:
    """Whether progress is shown (FUNCAD_PROGRESS, default on; `enable` overrides it)."""
    if _enabled is not None:
        return _enabled
    return os.environ.get("FUNCAD_PROGRESS", "1").strip().lower() not in ("0", "false", "off",
                                                                         "no")


def enable(on: bool | None = True) -> None:
    """Turn progress on or off for this process (`None`: follow FUNCAD_PROGRESS again)."""
    global _enabled
    _enabled = on


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


class _Sink:
    """Where status lines go: a notebook display, a terminal line, or a pipe (final only)."""

    def __init__(self):
        self.handle = None
        self.kind = "pipe"
        self.width = 0
        try:
            from IPython import get_ipython
            ip = get_ipython()
            if ip is not None and getattr(ip, "kernel", None) is not None:
                self.kind = "notebook"
        except Exception:  # IPython missing or broken: a terminal or a pipe
            pass
        if self.kind == "pipe" and getattr(sys.stderr, "isatty", lambda: False)():
            self.kind = "terminal"

    def show(self, text: str, final: bool = False) -> None:
        if self.kind == "notebook":
            from IPython.display import display
            out = {"text/plain": text,
                   "text/html": f"<pre style='margin:0;color:#555'>{_html(text)}</pre>"}
            if self.handle is None:
                self.handle = display(out, raw=True, display_id=True)
            else:
                self.handle.update(out, raw=True)
        elif self.kind == "terminal":
            pad = " " * max(0, self.width - len(text))
            sys.stderr.write("\r" + text + pad + ("\n" if final else ""))
            sys.stderr.flush()
            self.width = len(text)
        elif final:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


def _html(text: str) -> str:
    import html
    return html.escape(text)


class Task:
    """One running task: a name, an optional step count and the current step's label."""

    def __init__(self, name: str, detail: str = "", total: int | None = None,
                 verb: str = "compiling", done: str = "compiled", unit: str = "kernels"):
        self.name, self.detail, self.total = name, detail, total
        self.verb, self.done_verb, self.unit = verb, done, unit
        self.done = 0
        self.failed = False
        self.t0 = time.perf_counter()
        self.sink: _Sink | None = None
        self.shown = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- called by the work ------------------------------------------------------------
    def step(self, detail: str | None = None) -> None:
        """Start the next step (`detail` says which part is compiling now)."""
        if detail is not None:
            self.detail = detail
        self.done += 1
        self._refresh()

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def line(self, final: bool = False) -> str:
        t = _fmt(self.elapsed())
        if final and self.failed:
            return f"funcad: {self.verb} {self.name} stopped after {t}"
        if final:
            what = f" ({self.total} {self.unit})" if self.total else ""
            return f"funcad: {self.done_verb} {self.name}{what} in {t}"
        count = f" [{self.done}/{self.total}]" if self.total else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"funcad: {self.verb} {self.name}{count}{detail} ... {t}"

    # -- display -----------------------------------------------------------------------
    def _refresh(self) -> None:
        if self.elapsed() < DELAY or not enabled():
            return
        with self._lock:
            if self._stop.is_set():
                return
            if self.sink is None:
                self.sink = _Sink()
            self.shown = True
            self.sink.show(self.line())

    def _tick(self) -> None:
        if self._stop.wait(DELAY):
            return
        while not self._stop.is_set():
            try:
                self._refresh()
            except Exception:  # a display error must never break a compile
                return
            self._stop.wait(TICK)

    def _start(self) -> None:
        if enabled():
            self._ticker = threading.Thread(target=self._tick, name="funcad-progress",
                                            daemon=True)
            self._ticker.start()

    def _finish(self) -> None:
        with self._lock:
            self._stop.set()
            # A task that outlived DELAY while the ticker could not run (a C call holding
            # the GIL) still ends with its final line.
            if not self.shown and self.elapsed() >= DELAY and enabled():
                self.sink, self.shown = _Sink(), True
            if self.shown and self.sink is not None:
                try:
                    self.sink.show(self.line(final=True), final=True)
                except Exception:
                    pass


def current() -> Task | None:
    """The innermost task running on this thread, if any."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def task(name: str, detail: str = "", total: int | None = None, verb: str = "compiling",
         done: str = "compiled", unit: str = "kernels") -> Iterator[Task]:
    """Report on the work inside the `with` block if it takes longer than DELAY seconds.

    The status reads "funcad: {verb} {name} [step/total]: {detail} ... {elapsed}", and
    "funcad: {done} {name} ({total} {unit}) in {elapsed}" at the end.

    A task nested in another (a kernel inside a program) is shown as a step of the outer
    one, so there is one status line per program.
    """
    outer = current()
    if outer is not None:
        outer.detail = f"{name}: {detail}" if detail else name
        yield outer
        return
    t = Task(name, detail, total, verb, done, unit)
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(t)
    t._start()
    try:
        yield t
    except BaseException:
        t.failed = True
        raise
    finally:
        stack.pop()
        t._finish()


def steps(items: Iterable, name: str, total: int | None = None, label=None,
          verb: str = "compiling", done: str = "compiled", unit: str = "kernels") -> Iterator:
    """Yield `items`, reporting each as a step of one task (`label(item)` names the step)."""
    with task(name, total=total, verb=verb, done=done, unit=unit) as t:
        for item in items:
            t.step(label(item) if label is not None else None)
            yield item


def step(detail: str | None = None) -> None:
    """Advance the innermost running task of this thread (no-op when none runs)."""
    t = current()
    if t is not None:
        t.step(detail)


__all__ = ["DELAY", "Task", "current", "enable", "enabled", "step", "steps", "task"]
