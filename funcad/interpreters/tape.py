"""Eager reverse mode: equations recorded with their values, transposed straight after.

`grad` and `value_and_grad` called outside every transform (plain eager code) run the
function once on `TapeTracer`s. Each primitive computes its value right away and is
appended to a tape with its inputs' values; the backward pass walks the tape once, in
reverse, applying each equation's transpose to its output's cotangent. This is still
reverse mode derived from the rule tables (no derivative is written here); it only
skips, for the commonest equations, the two passes of the general path (staging the
tangent equation into a linear jaxpr, then transposing that jaxpr):

* an elementwise primitive with per-argument jvp rules (`defjvp`: sin, exp, tanh, pow,
  ...) has a diagonal Jacobian for real inputs, so its transpose is its jvp rule applied
  to the cotangent: `ct * cos(x)` for sin;
* a primitive linear in each of its arguments (add, mul, dot_general, reduce_sum,
  broadcast_in_dim, reshape, slice, select_n, ...: `_TRANSPOSED`) is transposed by its
  transpose rule, one argument at a time, the other arguments being known values;
* anything else (loops, calls, custom rules, complex values, linear algebra) is
  linearized on its own with the general machinery (`linearize_flat`) when it runs, and
  its linear jaxpr is transposed by `backward_pass` when the tape reaches it.

Calls that record the same equations on the same shapes (the commonest: a training loop)
share their backward pass. The forward walks a trie of the equations recorded (`_Node`):
each node knows how its equation is transposed and its output's aval, so an equation seen
before costs little more than its impl; the tape's last node names its structure, whose
backward pass funcad/interpreters/tape_backward.py compiles into straight-line calls of
impl rules the second time it is seen. The user's function still runs every call (its
Python control flow may take another branch: another path in the trie).

Higher orders compose: an inner `grad` sees TapeTracers as inputs (not a top-level
call), takes the general path, and its primitives, forward and transposed, land on the
outer tape. Set `ENABLED = False` to send every eager gradient down the general path
(tests compare the two).
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Sequence

import numpy as np

from funcad import _core
from funcad._core import (
    Trace,
    Tracer,
    elementwise_primitives,
    get_aval,
    impl_rules,
    jvp_rules,
    new_main,
    nondiff_primitives,
    transpose_rules,
)
from funcad.interpreters import tape_backward
from funcad.interpreters.ad import (
    UndefinedPrimal,
    Zero,
    add_tangents,
    backward_pass,
    linearize_flat,
    raise_dropped_derivative,
)

#: Eager grad uses the tape (False: the general linearize-then-transpose path).
ENABLED = True

#: Elementwise primitives that funcad._core.elementwise_primitives does not list: x ** n.
_ELEMENTWISE = {"integer_pow"}


def _elementwise(prim) -> bool:
    return prim in elementwise_primitives or prim.name in _ELEMENTWISE


def _elementwise_jvp(prim) -> Any:
    """The per-argument jvp rules `(t, ans, *primals, **params) -> tangent` of an
    elementwise primitive, as `defjvp` keeps them with its jvp rule (None: not one)."""
    if not _elementwise(prim):
        return None
    return getattr(jvp_rules.get(prim), "per_arg_rules", None)

# Primitives transposed by their transpose rule: name -> (which arguments may be live, None:
# any; joint). Not joint: linear in each argument with the others fixed (bilinear mul,
# dot_general; add and sub, whose other argument only shifts), transposed one live
# argument at a time with the others as values. Joint: linear in all the array arguments
# together (pad's operand and padding value, concatenate's pieces); transposed once, and
# only when all its floating-point arguments are live (a rule may not take one as a value).
_TRANSPOSED_ARGS: dict[str, tuple] = {
    "add": (None, False), "sub": (None, False), "neg": (None, False),
    "mul": (None, False), "dot_general": (None, False), "div": ((0,), False),
    "reduce_sum": (None, False), "broadcast_in_dim": (None, False),
    "reshape": (None, False), "transpose": (None, False), "rev": (None, False),
    "cumsum": (None, False), "slice": (None, False), "convert_element_type": (None, False),
    "dynamic_slice": ((0,), False), "gather": ((0,), False),
    "pad": (None, True), "concatenate": (None, True), "select_n": (None, True),
    "dynamic_update_slice": ((0, 1), True),
}
_TRANSPOSED: dict = {}


def _transposed(prim) -> Any:
    hit = _TRANSPOSED.get(prim, False)
    if hit is False:
        hit = _TRANSPOSED_ARGS.get(prim.name, False) if prim in transpose_rules else False
        _TRANSPOSED[prim] = hit
    return hit


class TapeTracer(Tracer):
    """A value computed eagerly; `node` numbers it on the tape (None: a constant)."""

    __slots__ = ("val", "node", "_aval")

    def __init__(self, trace: Trace, val: Any, node: int | None, aval=None):
        self._trace = trace
        self.val = val
        self.node = node
        self._aval = aval

    @property
    def aval(self):
        a = self._aval
        if a is None:
            a = self._aval = get_aval(self.val)
        return a

    def to_concrete(self, why: str) -> Any:
        v = self.val
        return v.to_concrete(why) if isinstance(v, Tracer) else v

    def __array__(self, dtype=None, copy=None):
        if self.node is not None:
            raise_dropped_derivative(self)
        return Tracer.__array__(self, dtype, copy)


class _Tape:
    """The entries `(how, prim, params, vals, out, nodes)` (how 2: `prim` is the linear
    map, `params` None), the number of nodes, and where the tape's structure stands in the
    trie of structures seen (`node`; None: not cacheable, see tape_backward)."""

    __slots__ = ("entries", "count", "node")

    def __init__(self):
        self.entries: list = []
        self.count = 0
        self.node = None


def _kind(v) -> str:
    """The dtype kind of a value ('f' real, 'c' complex, ...), cheaply for ndarrays."""
    t = type(v)
    if t is np.ndarray:
        return v.dtype.kind
    if t is float:
        return "f"
    return get_aval(v).dtype.kind


def _shape(v) -> tuple:
    return v.shape if type(v) is np.ndarray else get_aval(v).shape


class TapeTrace(Trace):
    """Computes each primitive now and records it for the backward pass."""

    __slots__ = ()

    def pure(self, val: Any) -> TapeTracer:
        return TapeTracer(self, val, None)

    lift = pure

    def process_primitive(self, prim, tracers, params):
        tape = self.main.payload
        node = tape.node
        if node is None:        # not cached: no key
            vals = []
            nodes = []
            live = False
            plain = True        # every value an ndarray (no outer transform's tracer)
            for t in tracers:   # one loop, no comprehension frames (the hot path)
                v = t.val
                vals.append(v)
                if type(v) is not np.ndarray:
                    plain = False
                n = t.node
                nodes.append(n)
                if n is not None:
                    live = True
            if not live or prim in nondiff_primitives:
                return self._constant(prim, vals, params)
            return self._record(tape, None, prim, params, vals, nodes, plain)
        # The equation's key: primitive, params, each operand's node (a constant: its
        # type, shape and dtype). One and two operands spelt out: the commonest, and hot.
        pk = _params_key(params) if params else None
        if len(tracers) == 2:
            t0, t1 = tracers
            v0 = t0.val
            v1 = t1.val
            n0 = t0.node
            n1 = t1.node
            vals = [v0, v1]
            nodes = [n0, n1]
            if n0 is None:
                if n1 is None or prim in nondiff_primitives:
                    return self._constant(prim, vals, params)
                key = (prim, pk, (v0.shape, v0.dtype) if type(v0) is np.ndarray
                       else _value_key(v0), n1)
            elif n1 is None:
                if prim in nondiff_primitives:
                    return self._constant(prim, vals, params)
                key = (prim, pk, n0, (v1.shape, v1.dtype) if type(v1) is np.ndarray
                       else _value_key(v1))
            elif prim in nondiff_primitives:
                return self._constant(prim, vals, params)
            else:
                key = (prim, pk, n0, n1)
        elif len(tracers) == 1:
            t0 = tracers[0]
            v0 = t0.val
            n0 = t0.node
            vals = [v0]
            nodes = [n0]
            if n0 is None or prim in nondiff_primitives:
                return self._constant(prim, vals, params)
            key = (prim, pk, n0)
        else:
            vals = []
            nodes = []
            key = [prim, pk]
            live = False
            for t in tracers:
                v = t.val
                vals.append(v)
                n = t.node
                nodes.append(n)
                if n is not None:
                    key.append(n)
                    live = True
                elif type(v) is np.ndarray:
                    key.append((v.shape, v.dtype))
                else:
                    key.append(_value_key(v))
            if not live or prim in nondiff_primitives:
                return self._constant(prim, vals, params)
            key = tuple(key)
        try:
            child = node.children.get(key)
        except TypeError:       # params or a constant that is no plain data
            tape.node = None
            return self._record(tape, None, prim, params, vals, nodes, False)
        if child is None or child.out is None or child.rule is not child.table.get(prim):
            child = node.child(key, prim, vals, nodes)
            tape.node = child
            # Values that the trie keys are NumPy's or Python's: bind would call the impl
            return self._record(tape, child, prim, params, vals, nodes, child is not None)
        # Seen before, with its output: its way of transposing, its output's aval, known.
        # (An equation linearized on its own ends the tape's structure: never here.)
        out = impl_rules[prim](*vals, **params) if params else impl_rules[prim](*vals)
        if _core._debug_hook is not None:      # jax_debug_nans, as bind does
            _core._debug_hook(prim, vals, params, out)
        if not (out.shape == child.shape and (out.dtype is child.dtype or out.dtype ==
                                                  child.dtype) if type(out) is np.ndarray
                else _value_key(out) == child.out):
            # an output unlike the last time's (a data-dependent shape)
            tape.node = None
            return self._record(tape, None, prim, params, vals, nodes, True, out)
        tape.node = child
        tape.entries.append((child.how, prim, params, vals, out, nodes))
        first = tape.count
        tape.count = first + 1
        return TapeTracer(self, out, first if child.diff else None, child.aval)

    def _constant(self, prim, vals: list, params: dict):
        """An equation of constants (or with no derivative): only computed."""
        out = prim.bind(*vals, **params) if params else prim.bind(*vals)
        if prim.multiple_results:
            return [TapeTracer(self, o, None) for o in out]
        return TapeTracer(self, out, None)

    def _record(self, tape, node, prim, params, vals: list, nodes: list, plain: bool,
                out: Any = None):
        """Compute the equation (unless `out` is given) and put it on the tape; `node`:
        its node in the trie of structures (None: the tape is not cached)."""
        how = node.how if node is not None else _how(prim, vals, nodes)
        if how != 2:
            if out is not None:
                pass
            elif plain:     # what bind does below every transform, without its dispatch
                out = impl_rules[prim](*vals, **params) if params else impl_rules[prim](*vals)
                if _core._debug_hook is not None:      # jax_debug_nans, as bind does
                    _core._debug_hook(prim, vals, params, out)
            else:
                out = prim.bind(*vals, **params) if params else prim.bind(*vals)
            if how in (0, 3) and _kind(out) != "f":     # a complex result of real operands
                how = 2
            elif node is not None and not node.same_out(out):
                tape.node = None        # an output unlike the last time: not cached
        if how == 2:
            tape.node = None
            out, lin = _linearize_one(prim, params, vals, nodes)
            tape.entries.append((2, lin, None, vals, out, nodes))
        else:
            tape.entries.append((how, prim, params, vals, out, nodes))
        first = tape.count
        if prim.multiple_results:
            tape.count += len(out)
            return [TapeTracer(self, o, first + k if _kind(o) in "fc" else None)
                    for k, o in enumerate(out)]
        tape.count = first + 1
        # Integer and boolean results carry no derivative: later equations see constants.
        return TapeTracer(self, out, first if _kind(out) in "fc" else None)


# ----------------------------------------------------------------------------------
# The structure of tapes: a trie whose paths are the equations recorded (their keys:
# primitive, params, and for each operand its node, or for a constant its type, shape and
# dtype). A tape's node in it names its structure: what its backward pass computes, which
# tape_backward compiles once per structure. The live operands' shapes need no key: they
# follow from the equations before (each output's is checked against the trie's).

#: Most nodes the trie holds; beyond, it starts again (a loop over ever new programs).
MAX_NODES = 20_000
_NOKEY: list = []       # in a key, makes it unhashable: the tape is not cached


class _Node:
    """The structure of a tape up to an equation: `how` it is transposed, and once an
    equation has been recorded there, its output's key (`out`), aval, and whether it
    carries a derivative (`diff`)."""

    __slots__ = ("children", "how", "table", "rule", "out", "shape", "dtype", "aval", "diff")

    def __init__(self, prim=None, vals: list | None = None, nodes: list | None = None):
        self.children: dict = {}
        self.out = self.shape = self.dtype = None
        self.aval = None
        self.diff = False
        if prim is None:
            self.how = self.table = self.rule = None
            return
        self.how = how = _how(prim, vals, nodes)
        # The rule that transposes it (a test may replace it: then the cache is reset)
        self.table = (jvp_rules if how == 0 or how == 3 else
                      transpose_rules if how == 1 or how == 4 else _NO_RULES)
        self.rule = self.table.get(prim)

    def child(self, key: tuple, prim, vals: list, nodes: list) -> _Node | None:
        """The node after the equation `key` (None: the key is not hashable)."""
        global _n_nodes
        try:
            c = self.children.get(key)
        except TypeError:
            return None
        if c is None:
            if _n_nodes >= MAX_NODES:
                reset_cache()
                return None
            _n_nodes += 1
            c = self.children[key] = _Node(prim, vals, nodes)
        elif prim is not None and c.rule is not c.table.get(prim):
            reset_cache()       # a rule replaced: what was derived from it, forgotten
            return None
        return c

    def same_out(self, out) -> bool:
        """Whether the equation's output has the type, shape and dtype it had before (the
        first time: whether it has a key)."""
        k = _value_key(out)
        if k is _NOKEY:
            return False
        if self.out is None:
            self.aval = get_aval(out)
            self.diff = self.aval.dtype.kind in "fc"
            self.out = k
            if type(out) is np.ndarray:     # the short path's test
                self.shape, self.dtype = out.shape, out.dtype
            return True
        return k == self.out


_NO_RULES: dict = {}
_root = _Node()
_n_nodes = 0


def reset_cache() -> None:
    """Forget every structure seen and every backward pass compiled."""
    global _root, _n_nodes
    _root = _Node()
    _n_nodes = 0
    tape_backward.clear()


def _value_key(v) -> Any:
    """A constant's or output's type, shape and dtype, hashable."""
    t = type(v)
    if t is np.ndarray:
        return (v.shape, v.dtype)
    if t is float or t is int or t is bool or t is complex or isinstance(v, np.generic):
        return t
    if isinstance(v, np.ndarray):
        return (t, v.shape, v.dtype)
    return _NOKEY


_PLAIN = {int, str, bool, type(None)}


def _params_key(params: dict) -> Any:
    """The params as a hashable tuple (with _NOKEY in it where a value is no plain data:
    a program, an array, a function)."""
    key = []
    for k, v in params.items():
        key.append(k)
        key.append(v if type(v) in _PLAIN else _param_key(v))
    return tuple(key)


def _param_key(v) -> Any:
    t = type(v)
    if t in _PLAIN or isinstance(v, (np.dtype, type)):
        return v
    if t is float:      # 0.0 and -0.0 are equal (and nan is not itself)
        return (float, v.hex())
    if isinstance(v, tuple):     # tuples, named tuples
        return (t, tuple([_param_key(x) for x in v]))
    if isinstance(v, (np.integer, np.bool_)):
        return (t, int(v))
    if isinstance(v, frozenset):
        return (t, frozenset([_param_key(x) for x in v]))
    if isinstance(v, enum.Enum):
        return v
    return _NOKEY


def _how(prim, vals: list, nodes: list) -> int:
    """How the equation is transposed: 0 its per-argument jvp rules, 1 its transpose rule
    per argument, 4 its transpose rule for all live arguments at once, 3 its jvp rule on a
    one-hot tangent, 2 linearized on its own."""
    if prim.multiple_results:
        return 2
    diagonal = _elementwise(prim) and _diagonal(vals, nodes)
    if diagonal and _elementwise_jvp(prim) is not None:
        return 0
    how = _transposed(prim)
    if how is not False and _linear_in(how, vals, nodes):
        return 4 if how[1] else 1
    return 3 if diagonal else 2


_RULE = {0: _elementwise_jvp, 1: lambda prim: transpose_rules[prim],
         3: lambda prim: jvp_rules[prim], 4: lambda prim: transpose_rules[prim]}


def _diagonal(vals: list, nodes: list) -> bool:
    """Real operands of one shape: the Jacobian of an elementwise primitive is diagonal."""
    shape = None
    for v, n in zip(vals, nodes):
        if _kind(v) != "f":
            if n is not None:
                return False
            continue
        s = _shape(v)
        if shape is None:
            shape = s
        elif s != shape:
            return False
    return True


def _linear_in(how: tuple, vals: list, nodes: list) -> bool:
    lin_args, joint = how
    for k, (v, n) in enumerate(zip(vals, nodes)):
        kind = _kind(v)
        if n is not None and ((lin_args is not None and k not in lin_args) or kind != "f"):
            return False
        if joint and n is None and kind in "fc":
            return False
    return True


def _linearize_one(prim, params: dict, vals: list, nodes: list):
    """Run one equation under the general linearize; its live inputs are the linear ones."""
    live = [k for k, n in enumerate(nodes) if n is not None]

    def fun(*xs):
        args = list(vals)
        for k, x in zip(live, xs):
            args[k] = x
        out = prim.bind(*args, **params)
        return list(out) if prim.multiple_results else [out]
    outs, lin = linearize_flat(fun, [vals[k] for k in live], prune=False)
    return (outs if prim.multiple_results else outs[0]), lin


def _accumulate(cts: dict, node: int, ct: Any) -> None:
    if ct is None or type(ct) is Zero:
        return
    prev = cts.get(node)
    cts[node] = ct if prev is None else add_tangents(prev, ct)


def _backward(entries: list, count: int, out_nodes: Sequence, out_cts: Sequence,
              in_nodes: Sequence) -> list:
    """Cotangents of the input nodes, given those of the output nodes (`count`: the
    number of nodes of the tape `entries`)."""
    cts: dict[int, Any] = {}
    for n, ct in zip(out_nodes, out_cts):
        if n is not None:
            _accumulate(cts, n, ct)
    node = count
    for kind, rule, params, vals, out, nodes in reversed(entries):
        if kind != 2:
            rule = _RULE[kind](rule)
        if kind == 2 and isinstance(out, list):
            node -= len(out)
            outs_ct = [cts.pop(node + k, None) for k in range(len(out))]
            if all(c is None for c in outs_ct):
                continue
            outs_ct = [Zero(get_aval(o)) if c is None else c for o, c in zip(out, outs_ct)]
        else:
            node -= 1
            ct = cts.pop(node, None)
            if ct is None:
                continue
        if kind == 0:          # elementwise: the jvp rule applied to the cotangent
            for r, n in zip(rule, nodes):
                if n is not None and r is not None:
                    _accumulate(cts, n, r(ct, out, *vals, **params) if params
                                else r(ct, out, *vals))
        elif kind == 1:        # linear in each live argument: its transpose rule
            for k, n in enumerate(nodes):
                if n is None:
                    continue
                args = list(vals)
                args[k] = UndefinedPrimal(get_aval(vals[k]))
                res = rule(ct, *args, **params) if params else rule(ct, *args)
                _accumulate(cts, n, res[k])
        elif kind == 4:        # linear in its live arguments together: its transpose rule
            args = [UndefinedPrimal(get_aval(v)) if n is not None else v
                    for v, n in zip(vals, nodes)]
            res = rule(ct, *args, **params) if params else rule(ct, *args)
            for n, c in zip(nodes, res):
                if n is not None:
                    _accumulate(cts, n, c)
        elif kind == 3:        # elementwise, diagonal: the jvp of a one-hot tangent
            for k, n in enumerate(nodes):
                if n is None:
                    continue
                ts = [ct if j == k else Zero(get_aval(v)) for j, v in enumerate(vals)]
                _accumulate(cts, n, (rule(vals, ts, **params) if params
                                     else rule(vals, ts))[1])
        else:                  # linearized when it ran: transpose its linear jaxpr
            live = [n for n in nodes if n is not None]
            res = backward_pass(rule.jaxpr, rule.consts, [True] * len(live),
                                [None] * len(live),
                                outs_ct if isinstance(out, list) else [ct])
            for n, c in zip(live, res):
                _accumulate(cts, n, c)
    return [cts.get(n) for n in in_nodes]


def holds_value(x) -> bool:
    """True for a concrete value, or eager tracers around one (Python control flow on it
    works): TapeTracers and JVPTracers down to an array."""
    from funcad.interpreters.ad import JVPTracer
    while isinstance(x, Tracer):
        t = type(x)
        if t is TapeTracer:
            x = x.val
        elif t is JVPTracer:
            x = x.primal
        else:
            return False
    return True


def eager_trace(leaves: Sequence, tracer_type: type, value_of: Callable) -> Any:
    """The trace of the traced leaves when all are `tracer_type` tracers of one trace
    whose values (`value_of`) are concrete, and their equations go to it (no jit being
    traced above); else None."""
    trace = None
    for x in leaves:
        if isinstance(x, Tracer):
            if type(x) is not tracer_type or not holds_value(value_of(x)):
                return None
            if trace is None:
                trace = x._trace
            elif x._trace is not trace:
                return None
    if trace is None or trace.main.level < _core._dynamic_main.level:
        return None     # a jit being traced above would stage this call
    return trace


def concrete_on_tape(leaves: Sequence) -> tuple | None:
    """(trace, values, nodes) when the traced leaves are TapeTracers of one trace, holding
    values, that is where their equations go (a custom rule may then run on the values:
    Python control flow on them works, as in JAX's eager mode); else None."""
    trace = eager_trace(leaves, TapeTracer, lambda x: x.val)
    if trace is None:
        return None
    vals = [x.val if type(x) is TapeTracer else x for x in leaves]
    nodes = [x.node if type(x) is TapeTracer else None for x in leaves]
    return trace, vals, nodes


def record_linearized(trace, vals: list, nodes: list, outs: list, lin) -> list:
    """Put an equation linearized elsewhere on the tape (`lin`: its linear map from the
    live inputs' tangents to the outputs' tangents); returns the outputs' tracers."""
    tape = trace.main.payload
    tape.node = None    # a linear map of this call's: not cached
    outs = list(outs)
    tape.entries.append((2, lin, None, vals, outs, nodes))
    first = tape.count
    tape.count += len(outs)
    return [TapeTracer(trace, o, first + k if _kind(o) in "fc" else None)
            for k, o in enumerate(outs)]


def usable(leaves: Sequence) -> bool:
    """True when a gradient of a function of `leaves` may run on the tape: eager (no
    transform active) and no traced input."""
    return (ENABLED and len(_core.trace_stack) == 1
            and not any(isinstance(x, Tracer) for x in leaves))


def vjp_flat(fun: Callable, primals: Sequence) -> tuple[list, Callable[[Sequence], list]]:
    """Run `fun` on the tape: its outputs (plain values) and the function mapping output
    cotangents (None or Zero: none) to input cotangents (Zero where none flows)."""
    tape = _Tape()
    tape.node = _root.child(tuple([_value_key(p) for p in primals]), None, None, None)
    with new_main(TapeTrace, tape) as main:
        trace = main.trace
        ins = [TapeTracer(trace, p, k) for k, p in enumerate(primals)]
        tape.count = len(ins)
        outs = fun(*ins)
        out_t = [trace.full_raise(o) for o in outs]
    out_vals = [t.val for t in out_t]
    out_nodes = [t.node for t in out_t]

    def backward(cts_out: Sequence) -> list:
        res = None
        if tape.node is not None and _core._debug_hook is None:
            res = tape_backward.replay(tape, out_nodes, cts_out, len(primals))
        if res is None:
            with _core.inside():
                res = _backward(tape.entries, tape.count, out_nodes, cts_out,
                                range(len(primals)))   # entries' nodes follow the inputs'
        return [Zero(get_aval(p)) if c is None else c for p, c in zip(primals, res)]
    return out_vals, backward
