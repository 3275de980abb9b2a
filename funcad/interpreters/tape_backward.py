"""The tape's backward pass, compiled once per structure of tape.

Eager `grad` runs the user's function every call (its Python control flow may differ
between calls), but most calls record the same equations on the same shapes: the tape's
node in the trie of structures (funcad/interpreters/tape.py) says so. The backward pass of
such a tape is the same program every time, only on other values: the rules run under jit
too, so they do not need values. So the second time a structure is seen, its backward
pass (`tape._backward`) is traced once on tracers standing for the tape's values (one per
node: the inputs and every equation's output; one per constant operand) and the output
cotangents. The primitives that it applies become straight-line Python calling each
primitive's impl rule with its params (what `bind` does outside every transform, without
its dispatch), less the equations that the forward pass or an earlier rule computed
already (impl rules are pure) and those whose results are unused. Later tapes of that
structure run that function on their own values: the same NumPy calls in the same order
as their own backward pass, so the same bits.

The few rules that do look at values when they have them (elementwise.py's value tests)
are traced with guards: see below.

Not compiled (the tape's own backward pass runs instead): a tape with an equation
linearized on its own (loops, custom rules, complex results: its linear map is this
call's), params that are no plain data (programs, arrays, functions), values that are not
NumPy's, or a rule that needs a value (it raises while traced: remembered as FAILED). And
none runs while jax_debug_nans/infs is on (the tape's backward pass checks every result).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from funcad import _core
from funcad._core import Trace, Tracer, abstract_eval_rules, get_aval, impl_rules, new_main
from funcad.interpreters import tape as _T     # (being imported: used when called)
from funcad.interpreters.ad import Zero

#: Compile backward passes (False: every tape runs its own, as the first call does).
ENABLED = True
#: Structures compiled (least recently used dropped beyond).
MAX_PROGRAMS = 64
#: A structure's backward pass is compiled the time after it was seen this many times
#: (1: programs run only once are not compiled).
COMPILE_AFTER = 1

_programs: OrderedDict = OrderedDict()     # key -> compiled function, or FAILED
_seen: OrderedDict = OrderedDict()         # key -> times seen, not compiled yet
FAILED = object()


def clear() -> None:
    _programs.clear()
    _seen.clear()


def _ct_key(ct) -> Any:
    if ct is None or type(ct) is Zero:
        return None
    if type(ct) is np.ndarray:
        return (ct.shape, ct.dtype)
    return _T._value_key(ct)


def replay(tape, out_nodes: list, cts: Sequence, n_in: int) -> list | None:
    """The input cotangents by the compiled backward pass of the tape's structure, or None
    (not compiled: the caller runs the tape's backward pass)."""
    if not ENABLED:
        return None
    key = (tape.node, tuple(out_nodes), tuple([_ct_key(c) for c in cts]))
    try:
        prog = _programs[key]
    except KeyError:
        prog = None
    except TypeError:       # an unhashable cotangent key
        return None
    if prog is None:
        seen = _seen.get(key, 0)
        if seen < COMPILE_AFTER:
            _seen[key] = seen + 1
            if len(_seen) > 4 * MAX_PROGRAMS:
                _seen.popitem(last=False)
            return None
        _seen.pop(key, None)
        prog = _compile(tape, out_nodes, cts, n_in)
        _programs[key] = prog
        if len(_programs) > MAX_PROGRAMS:
            _programs.popitem(last=False)
    else:
        _programs.move_to_end(key)
    if prog is FAILED:
        return None
    try:
        return prog(tape.entries, cts)
    except _GuardFailed:    # a value unlike those the program was compiled for
        pass
    general = prog.general
    if general is None:     # compiled again without assumptions on values
        general = prog.general = _compile(tape, out_nodes, cts, n_in, guarded=False)
    return None if general is FAILED else general(tape.entries, cts)


class _GuardFailed(Exception):
    pass


# Rules that look at values (eager only): where a denominator is nonzero or a factor
# finite, the jvp rules of div, log, sqrt, ... take cheaper and exact equations (a plain
# mul or div, not mul_sz's strong zero or a reciprocal). On traced values they take the
# general equations. A guarded program assumes what the values it was compiled for said,
# and checks it where the rule looked; where a check fails, the call runs the program
# compiled without assumptions (once, when first needed). Results: the bits of the tape's
# own backward pass, but for the calls where a check failed (then equal to a rounding).
# The tests ask `_core.value_test_hook` about traced values: `_value_test` while compiling.


# ----------------------------------------------------------------------------------
# Tracing the backward pass


class _Tracer(Tracer):
    """A value of the backward pass: `name` in the generated code."""

    __slots__ = ("_aval", "name")

    def __init__(self, trace, aval, name: str):
        self._trace = trace
        self._aval = aval
        self.name = name

    @property
    def aval(self):
        return self._aval


class _Program:
    """The backward pass being traced: its items, in order, ("eqn", prim, params, operand
    names, output names, kept) or ("guard", test, name); and the names' values: globals
    (constants, primitives, params) and inputs (read from the tape's entries)."""

    def __init__(self, trace_guards: bool):
        self.trace_guards = trace_guards
        self.guarded = False
        self.items: list = []
        self.globals: dict[str, Any] = {}
        self.inputs: dict[str, str] = {}    # name -> where it is read from
        self.cse: dict = {}                 # (prim, operand names, params key) -> output
        self.n = 0

    def new_name(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def const(self, val: Any) -> str:
        name = f"c{len(self.globals)}"
        self.globals[name] = val
        return name


class _Trace(Trace):
    __slots__ = ()

    def pure(self, val: Any) -> _Tracer:
        prog = self.main.payload
        return _Tracer(self, get_aval(val), prog.const(val))

    lift = pure

    def process_primitive(self, prim, tracers, params):
        from funcad._callback import effectful_primitives
        _params_key = _T._params_key
        prog = self.main.payload
        names = tuple([t.name for t in tracers])
        # The impl rules are pure: an equation computed before (by the forward pass, or
        # by an earlier rule: div's jvp computes x / y again) is not computed again.
        key = (prim, names, _params_key(params) if params else None)
        kept = prim in effectful_primitives
        try:
            hit = None if kept else prog.cse.get(key)
        except TypeError:       # params that are no plain data: always computed
            kept, hit = True, None
        if hit is not None:
            return hit
        avals = [t.aval for t in tracers]
        out_aval = abstract_eval_rules[prim](*avals, **params)
        if prim.multiple_results:
            out = [_Tracer(self, a, prog.new_name()) for a in out_aval]
            outs = out
        else:
            out = _Tracer(self, out_aval, prog.new_name())
            outs = [out]
        prog.items.append(("eqn", prim, params, names, [o.name for o in outs], kept))
        if not kept:
            prog.cse[key] = out
        return out


def _value_test(prog: _Program):
    """The value-test hook while `prog` is traced: a value of the backward pass passes the
    test as the value it was compiled for did, which a guard checks on every call."""
    def traced_test(test, x):
        if not isinstance(x, _Tracer):
            return False        # another transform's tracer (another thread's trace)
        if not prog.trace_guards:
            return False
        prog.guarded = True
        if ("guard", test, x.name) not in prog.items:   # checked once
            prog.items.append(("guard", test, x.name))
        return True
    return traced_test


#: Compiling sets the process's value-test hook for the time of a trace: one at a time.
_compiling = threading.RLock()


def _compile(tape, out_nodes: list, cts: Sequence, n_in: int, guarded: bool = True) -> Any:
    with _compiling:
        return _compile_locked(tape, out_nodes, cts, n_in, guarded)


def _compile_locked(tape, out_nodes: list, cts: Sequence, n_in: int, guarded: bool) -> Any:
    T = _T
    prog = _Program(guarded)
    try:
        _core.value_test_hook = _value_test(prog)
        with _core.inside(), new_main(_Trace, prog) as main:
            trace = main.trace
            entries = []
            # One tracer per node (an input, or an equation's output: every equation has
            # one, equations with several being linearized on their own), one per constant.
            by_node: dict[int, _Tracer] = {}
            for i, (how, prim, params, vals, out, nodes) in enumerate(tape.entries):
                if how == 2:
                    return FAILED
                tvals = []
                for j, (v, n) in enumerate(zip(vals, nodes)):
                    t = by_node.get(n) if n is not None else None
                    if t is None:
                        name = f"a{i}_{j}"
                        prog.inputs[name] = f"E[{i}][3][{j}]"
                        t = _Tracer(trace, get_aval(v), name)
                        if n is not None:
                            by_node[n] = t
                    tvals.append(t)
                name = f"o{i}"
                prog.inputs[name] = f"E[{i}][4]"
                tout = by_node[n_in + i] = _Tracer(trace, get_aval(out), name)
                prog.cse[(prim, tuple([t.name for t in tvals]),
                          T._params_key(params) if params else None)] = tout
                entries.append((how, prim, params, tvals, tout, nodes))
            tcts = []
            for k, c in enumerate(cts):
                if c is None or type(c) is Zero:
                    tcts.append(None)
                else:
                    name = f"ct{k}"
                    prog.inputs[name] = f"CT[{k}]"
                    tcts.append(_Tracer(trace, get_aval(c), name))
            res = T._backward(entries, tape.count, out_nodes, tcts, range(n_in))
            outs = []
            for c in res:
                if c is None or type(c) is Zero:
                    outs.append("None")
                elif isinstance(c, _Tracer) and c._trace is trace:
                    outs.append(c.name)
                elif isinstance(c, Tracer):
                    return FAILED
                else:
                    outs.append(prog.const(c))
    except Exception:       # a rule that needs a value, a missing rule: not compiled
        return FAILED
    finally:
        _core.value_test_hook = None
    # Straight-line code of the equations that the results need (and the checks)
    live = set(outs)
    kept = []
    for item in reversed(prog.items):
        if item[0] == "eqn":
            _, prim, params, names, out_names, effect = item
            if not effect and not any(n in live for n in out_names):
                continue
            live.update(names)
        else:
            live.add(item[2])
        kept.append(item)
    src = ["def backward(E, CT):"]
    src += [f"    {n} = {where}" for n, where in prog.inputs.items() if n in live]
    for item in reversed(kept):
        if item[0] == "guard":
            src.append(f"    if not {prog.const(item[1])}({item[2]}): raise GuardFailed")
            continue
        _, prim, params, names, out_names, _ = item
        args = ", ".join(names)
        if params:
            args += (", " if names else "") + "**" + prog.const(params)
        call = f"IR[{prog.const(prim)}]({args})"  # looked up when run (tests swap some)
        if not out_names:
            src.append(f"    {call}")
        elif prim.multiple_results:
            src.append(f"    ({''.join([n + ', ' for n in out_names])}) = {call}")
        else:
            src.append(f"    {out_names[0]} = {call}")
    src.append(f"    return [{', '.join(outs)}]")
    namespace = dict(prog.globals, GuardFailed=_GuardFailed, IR=impl_rules)
    exec(compile("\n".join(src), "<tape backward>", "exec"), namespace)
    fn = namespace["backward"]
    fn.source = "\n".join(src)
    fn.guarded = prog.guarded
    fn.general = None if prog.guarded else FAILED
    return fn

