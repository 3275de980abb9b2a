"""Source emission: an interpreter over a jaxpr that writes one Python `def` for Numba.

Interface for lowering rules
============================
`funcad._core.lowering_rules[prim]` holds one of four kinds of rule. Elementwise and
index-remapping rules are *fusible*: the code generator puts them into explicit loop nests
(a "fused group") instead of one NumPy temporary per equation. A group is one outer loop
over the first non-1 dim around a sequence of inner loop nests ("phases"): a phase may
use what earlier phases computed for the same outer index, e.g. a row reduction
(softmax: row max, then sum of exps, then normalisation in one outer loop). Size-1 dims
get no loop, and reshapes that only add or drop them are fused as index remappings.

1. `str` -- a scalar expression template of an elementwise primitive, formatted with the
   operand expressions as `{0}, {1}, ...` and the equation's params by name, e.g.
   `"np.sin({0})"`, `"({0} + {1})"`, `"({0} ** {y})"`.
2. `ScalarRule(fn)` -- elementwise too, when the expression depends on dtypes or params:
   `fn(ctx, eqn, args: list[str]) -> str`, where `args` are scalar operand expressions.
   It may write scalar temporaries with `ctx.line` first (they land in the loop body).
3. `IndexRule(fn)` / `ReduceRule(...)` -- fusible structural ops: an `IndexRule` says, for
   the output index names `idx`, at which index of its (only) operand to read:
   `fn(eqn, idx: list[str]) -> list[str]` (broadcast, transpose, slice, rev). A
   `ReduceRule(init, update)` accumulates over the loop nest of its operand's shape.
   `NullaryRule(fn)`: `fn(ctx, eqn, idx) -> str` builds a value from the indices (iota).
4. any other callable -- a *statement* rule: `rule(ctx, eqn, args: list[str]) -> list[str]`.
   `args` are Python expressions for the inputs: C-contiguous arrays for rank >= 1
   (exact shape and dtype), scalars of the exact dtype for rank 0 (literals included).
   The rule writes statements with `ctx.line(...)` and returns one expression (usually a
   fresh name from `ctx.fresh()`) per output, obeying the same contract: rank >= 1
   outputs are C-contiguous arrays (new buffers; a rule never writes into its inputs,
   `out = x.copy()` first), rank-0 outputs are scalars of the output dtype.

`ctx` is the `Emitter` of the program being generated. What a rule may use:
- `ctx.line(text)` writes one statement at the current indentation; `with ctx.block():`
  indents the statements written inside it (the body of a `for`/`while`/`if` line).
- `ctx.fresh(hint)` a new unique local name; `ctx.literal(value, dtype)` a typed constant
  (float32 stays float32); `ctx.dtype(dtype)` e.g. `np.float64`; `ctx.empty(shape,
  dtype)` / `ctx.full(shape, value_expr, dtype)` allocation expressions;
  `ctx.const(array)` the expression of a constant array (passed as an extra argument
  of the compiled function, never baked in); `ctx.loop(shape)` a context manager that
  writes a loop nest over `shape` and yields the index names.
- `ctx.emit_jaxpr(jaxpr, args) -> list[str]` lowers a constvar-free inner jaxpr at the
  current position and indentation (with fusion inside it), binding its invars to the
  expressions `args`, and returns the expressions of its outputs. This is how nested
  programs and loop bodies are emitted. A native loop, e.g. for a scan-like primitive:

      def _scan_numba(ctx, eqn, args):
          carry = [ctx.fresh("carry") for _ in range(n_carry)]
          for c, a in zip(carry, args[:n_carry]):
              ctx.line(f"{c} = {a}")
          ctx.line(f"for {i} in range({length}):")
          with ctx.block():
              outs = ctx.emit_jaxpr(eqn.params["jaxpr"], [*carry, *xs_at_i])
              for c, o in zip(carry, outs[:n_carry]):
                  ctx.line(f"{c} = {o}")
          return carry

  Loop-carried variables must keep one Numba type across iterations: that holds because
  every array the emitter produces is C-contiguous with a fixed dtype and every rank-0
  value is a scalar of its exact dtype.
Rules live in funcad/lowering/numba/rules.py (control flow: control_rules.py) and are
registered into `lowering_rules` when funcad.lowering.numba is imported.

Each equation's pretty-printed form is written as a comment above its statements.
Calls (`jit`, `closed_call`) are inlined before planning, so fusion crosses them.
"""

from __future__ import annotations

import builtins
import contextlib
import keyword
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from funcad._array import Array, writeable_view
from funcad._core import FuncadError, lowering_rules
from funcad._ir import Jaxpr, JaxprEqn, Literal, Var
from funcad._pretty import _Namer, pp_eqn, pp_eqn_head
from funcad.lowering.numba.kernels import KernelCall, make_kernel
from funcad.lowering.numba.remat import remat_cheap
from funcad.lowering.numba import unroll
from funcad.lowering.numba.outer_products import outer_products
from funcad.lowering.numba.sink_transposes import sink_transposes


class LoweringError(FuncadError, NotImplementedError):
    """A primitive cannot be lowered to Numba."""


class ScalarRule:
    """An elementwise rule: `fn(ctx, eqn, args) -> scalar expression`."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable):
        self.fn = fn


class IndexRule:
    """A fusible remapping rule: `fn(eqn, out_idx) -> operand index expressions`.

    `guard(eqn, out_idx) -> condition or None`: where the condition is false the element
    is the equation's second operand (a scalar) instead of a read (pad).
    """

    __slots__ = ("fn", "guard")

    def __init__(self, fn: Callable, guard: Callable | None = None):
        self.fn = fn
        self.guard = guard


class NullaryRule:
    """A fusible rule with no array operand: `fn(ctx, eqn, idx) -> scalar expression`."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable):
        self.fn = fn


class ReduceRule:
    """A fusible reduction: `init(ctx, dtype) -> expr`, `update` a template over acc, v."""

    __slots__ = ("init", "update", "parallel_ok")

    def __init__(self, init: Callable, update: str, parallel_ok: bool = False):
        self.init = init
        self.update = update
        self.parallel_ok = parallel_ok


# Names a generated variable must never take: keywords (soft ones too), builtins, and the
# modules generated code refers to. The runtime is imported as `_rt`, which the namer
# (lower-case letters) can never produce.
_RESERVED = (set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
             | {"np", "math", "numba", "prange"})


def _kind(rule) -> str:
    if isinstance(rule, str):
        return "elementwise"
    if isinstance(rule, ScalarRule):
        return "elementwise"
    if isinstance(rule, IndexRule):
        return "index"
    if isinstance(rule, NullaryRule):
        return "nullary"
    if isinstance(rule, ReduceRule):
        return "reduce"
    return "stmt"


def _is_placeholder(rule) -> bool:
    return isinstance(rule, str) and "{" not in rule


def _squeeze(shape) -> tuple:
    return tuple(n for n in shape if n != 1)


def _expand(shape, names) -> list[str]:
    """Index expressions for `shape` from the loop indices of its non-1 dims."""
    it = iter(names)
    return ["0" if n == 1 else next(it) for n in shape]


@dataclass
class _Phase:
    """Equations of one inner loop nest (over `inner`) inside a group's outer loop."""

    inner: tuple[int, ...]
    eqns: list = field(default_factory=list)


@dataclass
class _Group:
    """Equations fused into one loop nest: an outer loop over `outer` around phases.

    Size-1 dims get no loop, so (128, 1) and (128,) share one. A later phase reads what
    earlier ones computed at the same outer index: softmax's row max, sum of exps and
    normalisation are three inner loops in one outer loop, not three loop nests.
    """

    outer: int | None                 # None: no loop at all (every dim has size 1)
    phases: list = field(default_factory=list)
    phase_of: dict = field(default_factory=dict)
    reduce_outs: set = field(default_factory=set)
    final_only: set = field(default_factory=set)   # reductions over the outer loop
    size: int = 0                                    # equations in it
    # value -> (var, permutation): also stored transposed, as `var` (a transpose that
    # is the value's only use costs no pass of its own)
    stores: dict = field(default_factory=dict)


_LITERALS: dict = {}


def _plain_literal(val: Any, d: np.dtype) -> str:
    """A typed scalar constant in compiled-code form (float64 and int64 bare)."""
    # Cached for Python numbers only, and not for 0.0 (equal to -0.0) or NaN.
    t = type(val)
    key = (t, val, d) if (t is int or t is bool or (t is float and val != 0.0
                                                      and val == val)) else None
    hit = _LITERALS.get(key) if key is not None else None
    if hit is None:
        hit = _literal_text(val, d)
        if key is not None and len(_LITERALS) < 65536:
            _LITERALS[key] = hit
    return hit


def _literal_text(val: Any, d: np.dtype) -> str:
    kind = d.kind
    if kind == "b":
        return repr(bool(val))
    if kind == "f":
        f = float(val)
        if np.isnan(f):
            s = "np.nan"
        elif np.isinf(f):
            s = "np.inf" if f > 0 else "(-np.inf)"
        else:
            s = repr(f)
        return s if d == np.float64 else f"np.{d.name}({s})"
    if kind in "iu":
        return repr(int(val)) if d == np.int64 else f"np.{d.name}({int(val)})"
    if kind == "c":
        c = complex(val)
        if np.isfinite(c.real) and np.isfinite(c.imag):
            return f"np.{d.name}({c!r})"
        # repr gives (nan+nanj) / (inf+0j): names, not Python. Write the parts as floats.
        parts = [_literal_text(v, np.dtype(np.float64)) for v in (c.real, c.imag)]
        return f"np.{d.name}(complex({parts[0]}, {parts[1]}))"
    raise LoweringError(f"cannot write a constant of dtype {d}")


@dataclass
class _Captured:
    lines: list
    line_eqn: list
    eqns: list = field(default_factory=list)     # printed equations written inside


def interpreted() -> bool:
    """True when generated source runs as plain Python (FUNCAD_DISABLE_JIT=1)."""
    from funcad.lowering.numba.compile import jit_disabled   # compile imports this module
    return jit_disabled()


class Emitter:
    """Writes the source of one program; rules call its methods (see the module doc)."""

    def __init__(self, name: str, options: dict, fun_name: str = "program",
                 split: bool = False, comments: bool = True):
        self.name = name
        self.comments = comments      # equation comments inside kernels (for reading)
        self.fun_name = fun_name
        self.options = options
        # split: loop nests become kernels called by a Python driver (see kernels.py).
        self.split = split
        self.in_kernel = False
        self.plain_literals = not split
        self.captured: _Captured | None = None
        self.calls: list[KernelCall] = []
        self.types: dict[str, tuple] = {}      # driver name -> kernel argument type
        self.lines: list[str] = []
        self.line_eqn: list[str | None] = []
        self._indent = 1
        self._count = 0
        self.namer = _Namer()
        self.used_names: set[str] = set()
        self.extra_args: list[tuple[str, np.ndarray]] = []
        self.current: str | None = None
        self._emitted: dict[int, Jaxpr] = {}    # inner programs lowered so far, by id
        self.loop_depth = 0     # > 0 inside a loop body: small values unroll (unroll.py)
        self.driver_loops = 0   # > 0 inside the body of a loop the Python driver runs
        # FUNCAD_DISABLE_JIT=1 runs the source as Python, element by element: NumPy's
        # math functions there, not vecmath's libm-free arithmetic (dozens of scalar
        # operations an element, written for LLVM to vectorise).
        self.interpreted = interpreted()
        self.vector_loop = False    # True while writing an innermost fused loop's body

    # -- writing -------------------------------------------------------------------
    def line(self, text: str) -> None:
        """Write one statement at the current indentation."""
        self.lines.append("    " * self._indent + text)
        self.line_eqn.append(self.current)

    @contextlib.contextmanager
    def block(self):
        """Indent the statements written inside the `with` block."""
        self._indent += 1
        try:
            yield
        finally:
            self._indent -= 1

    @contextlib.contextmanager
    def capture(self, plain_literals: bool):
        """Collect the statements written inside the block (at indentation 1).

        Yields a `_Captured` with `.lines` and `.line_eqn`; nothing inside becomes a
        kernel of its own. `plain_literals`: constants in compiled-code form (a loop nest)
        rather than as NumPy scalars (code that may end up in the Python driver).
        """
        saved = (self.lines, self.line_eqn, self._indent, self.in_kernel,
                 self.plain_literals, self.captured)
        out = _Captured([], [])
        self.lines, self.line_eqn, self._indent = out.lines, out.line_eqn, 1
        self.in_kernel, self.plain_literals, self.captured = True, plain_literals, out
        try:
            yield out
        finally:
            (self.lines, self.line_eqn, self._indent, self.in_kernel,
             self.plain_literals, self.captured) = saved

    def note(self, expr: str, aval) -> None:
        """Record the type of a name bound in the driver (kernels are typed from it)."""
        if expr.isidentifier():
            d = np.dtype(aval.dtype).str
            self.types[expr] = ("a", d, len(aval.shape)) if len(aval.shape) else ("s", d)

    @property
    def driver_level(self) -> bool:
        """True where statements land in a split program's Python driver."""
        return self.split and not self.in_kernel

    def kernel(self, lines: list[str], outputs: list, equations: list) -> None:
        """Write the driver's call of a kernel made of `lines` (see kernels.make_kernel)."""
        call = make_kernel(lines, outputs, equations, self.types)
        slot = f"__k{len(self.calls)}"
        self.calls.append(call)
        self.current = None
        self.line(f"# kernel {call.kernel.name}: {len(equations)} equation"
                  f"{'s' if len(equations) != 1 else ''}")
        for ln in call.before:
            self.line(ln.strip())
        for name, dt in call.scalar_outs:
            self.line(f"__o_{name} = np.empty(1, {dt})")
        text = f"{slot}({', '.join(call.args)})"
        if call.returns:
            text = f"{', '.join(call.returns)}, = {text}"
        self.line(text)
        for name, _ in call.scalar_outs:
            self.line(f"{name} = __o_{name}[0]")

    def comment(self, eqn: JaxprEqn) -> None:
        if not self.comments and self.captured is not None and self.plain_literals:
            # Inside a loop nest compiled without being shown: keep the equation, print it
            # only if an error message needs it (printing is ~10% of lowering).
            self.captured.eqns.append((eqn, self.namer))
            self.current = None
            return
        head, more = pp_eqn_head(eqn, self.namer)   # inner programs are not printed
        # Params that hold programs (custom_jvp_call's fun_jaxpr) print on several lines:
        # keep the first, or the rest would land in the source as code.
        lines = head.strip().splitlines()
        more = more or len(lines) > 1
        self.current = lines[0] if lines else ""
        if self.captured is not None:
            self.captured.eqns.append(self.current)
        self.line("# " + self.current + (" ..." if more else ""))

    @contextlib.contextmanager
    def loop(self, shape, parallel: bool = False):
        """Write a loop nest over `shape`; yields the index names (outermost first)."""
        # Dimensions of size 1 get the index 0 instead of a loop (less code to compile).
        idx = ["0" if n == 1 else self.fresh("i") for n in shape]
        depth = 0
        for i, n in zip(idx, shape):
            if n == 1:
                continue
            rng = "prange" if (parallel and depth == 0) else "range"
            self.line(f"for {i} in {rng}({n}):")
            self._indent += 1
            depth += 1
        try:
            yield idx
        finally:
            self._indent -= depth

    # -- names and values ------------------------------------------------------------
    def fresh(self, hint: str = "t") -> str:
        """A new local name."""
        self._count += 1
        return f"{hint}{self._count}"

    def var_name(self, v: Var) -> str:
        n = self.namer(v)
        return n + "_" if n in _RESERVED else n

    def dtype(self, dtype) -> str:
        """The source of a dtype, e.g. np.float64."""
        d = np.dtype(dtype)
        return "np.bool_" if d == np.bool_ else f"np.{d.name}"

    def literal(self, val: Any, dtype) -> str:
        """A typed scalar constant (so float32 programs stay float32)."""
        d = np.dtype(dtype)
        if not self.plain_literals:
            # Python numbers would follow Python's rules (1.0 / 0.0 raises); the driver's
            # scalars are NumPy scalars, whose arithmetic is the compiled code's.
            return f"np.{d.name}({_plain_literal(val, d)})" if d != np.bool_ else \
                f"np.bool_({bool(val)})"
        return _plain_literal(val, d)

    def empty(self, shape, dtype) -> str:
        """Allocation expression of an uninitialised C-contiguous array."""
        shape = tuple(int(d) for d in shape)
        if 1 <= len(shape) <= 4:
            # Cached helpers: np.empty's overload would be compiled again in every process.
            return f"_rt.empty{len(shape)}({', '.join(map(str, shape))}, {self.dtype(dtype)})"
        return f"np.empty({shape!r}, {self.dtype(dtype)})"

    def full(self, shape, value: str, dtype) -> str:
        """Allocation expression of a filled C-contiguous array."""
        shape = tuple(int(d) for d in shape)
        if 1 <= len(shape) <= 4:
            return f"_rt.fill({self.empty(shape, dtype)}, {value})"
        return f"np.full({shape!r}, {value}, {self.dtype(dtype)})"

    def reshape(self, x: str, shape) -> str:
        """Expression of a C-contiguous array `x` viewed with another shape."""
        shape = tuple(int(d) for d in shape)
        if 1 <= len(shape) <= 4:
            return f"_rt.reshape{len(shape)}({x}, {', '.join(map(str, shape))})"
        return f"{x}.reshape({shape!r})"

    def const(self, array) -> str:
        """The expression of a constant: rank 0 inline, arrays as extra arguments."""
        if type(array) is Array:     # a writeable view: Numba types read-only arrays apart
            seen = self.__dict__.setdefault("_array_consts", {})   # id -> (Array, view)
            hit = seen.get(id(array))
            if hit is None or hit[0] is not array:
                hit = seen[id(array)] = (array, writeable_view(array))
            array = hit[1]
        array = np.asarray(array)
        if array.ndim == 0:
            return self.literal(array[()], array.dtype)
        for name, a in self.extra_args:
            if a is array:
                return name
        name = f"const{len(self.extra_args)}"
        self.extra_args.append((name, np.ascontiguousarray(array)))
        self.types[name] = ("a", array.dtype.str, array.ndim)
        return name

    # -- jaxprs ---------------------------------------------------------------------------
    def emit_jaxpr(self, jaxpr: Jaxpr, args: list[str], elements: bool = False) -> list:
        """Lower an inner (constvar-free) jaxpr here; returns its output expressions.

        `elements`: small outputs come back as `unroll.Elements` (their element
        expressions) instead of arrays, for loop rules that store them element-wise.
        """
        if jaxpr.constvars:
            raise LoweringError("emit_jaxpr needs a jaxpr without constvars")
        if id(jaxpr) in self._emitted:
            # One program object called in several places (interned checkpointed layers):
            # names are given per variable, so each place needs variables of its own.
            jaxpr = fresh_variables(jaxpr)
        self._emitted[id(jaxpr)] = jaxpr
        jaxpr = prepare(jaxpr, in_loop=self.loop_depth > 0)
        return _JaxprLowering(self, jaxpr).run(args, elements)

    @contextlib.contextmanager
    def loop_body(self):
        """Statements written inside are a loop body (small values unroll there)."""
        self.loop_depth += 1
        try:
            yield
        finally:
            self.loop_depth -= 1


# ----------------------------------------------------------------------------------
# Inlining of call primitives (so that fusion crosses jit boundaries)

_CALL_NAMES = ("jit", "closed_call")
_LOOP_CALL_NAMES = (*_CALL_NAMES, "checkpoint")


def prepare(jaxpr: Jaxpr, in_loop: bool = False) -> Jaxpr:
    """The rewrites every program goes through before it is lowered: calls inlined, outer
    products as multiplies, transposes that are reduced away dropped, transposed dots
    folded, common subexpressions once.

    `in_loop`: a loop body, where `checkpoint` calls are inlined too. Elsewhere a
    checkpoint keeps its body apart, so that common subexpressions are not merged with
    the forward pass it recomputes; in one iteration of a loop there is nothing to keep
    apart, and inlined, its small values stay scalars (unroll.py).
    """
    names = _LOOP_CALL_NAMES if in_loop else _CALL_NAMES
    return simplify(fold_transposed_dots(sink_transposes(outer_products(
        inline_calls(jaxpr, names)))))


def fresh_variables(jaxpr: Jaxpr) -> Jaxpr:
    """A copy of `jaxpr` with new variables (inner programs keep theirs)."""
    m: dict[Var, Var] = {}

    def new(v):
        m[v] = Var(v.aval)
        return m[v]

    def sub(a):
        return m.get(a, a) if type(a) is Var else a
    constvars = tuple(new(v) for v in jaxpr.constvars)
    invars = tuple(new(v) for v in jaxpr.invars)
    eqns = tuple(JaxprEqn(e.primitive, tuple(sub(a) for a in e.inputs), e.params,
                          tuple(new(v) for v in e.out_binders)) for e in jaxpr.eqns)
    return Jaxpr(constvars, invars, eqns, tuple(sub(a) for a in jaxpr.outvars))


def inline_calls(jaxpr: Jaxpr, names: tuple = _CALL_NAMES) -> Jaxpr:
    """Replace `jit`/`closed_call` equations (those of `names`) by their bodies (with
    fresh variables)."""
    if not any(e.primitive.name in names for e in jaxpr.eqns):
        return jaxpr
    subst: dict[Var, Any] = {}

    def sub(a):
        return subst.get(a, a) if type(a) is Var else a

    eqns: list[JaxprEqn] = []
    _inline_into(jaxpr.eqns, sub, subst, eqns, names)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(eqns),
                 tuple(sub(a) for a in jaxpr.outvars))


def _inline_into(src_eqns, sub, subst, out: list, names: tuple) -> None:
    for e in src_eqns:
        if e.primitive.name in names:
            inner = e.params["jaxpr"]
            inner_sub: dict[Var, Any] = {}
            for v, a in zip(inner.invars, e.inputs, strict=True):
                inner_sub[v] = sub(a)

            def isub(a, m=inner_sub):
                return m.get(a, a) if type(a) is Var else a
            renamed = []
            for ie in inner.eqns:
                new_outs = tuple(Var(v.aval) for v in ie.out_binders)
                for v, nv in zip(ie.out_binders, new_outs):
                    inner_sub[v] = nv
                renamed.append(JaxprEqn(ie.primitive, tuple(isub(a) for a in ie.inputs),
                                        ie.params, new_outs))
            # Inner eqns are already in terms of outer atoms; recurse for nested calls.
            # The outputs of a nested call are renamed in `nested`, which the equations
            # after it and this call's outputs must read through.
            nested: dict[Var, Any] = {}

            def nsub(a, m=nested):
                return m.get(a, a) if type(a) is Var else a
            _inline_into(renamed, nsub, nested, out, names)
            for v, a in zip(e.out_binders, inner.outvars, strict=True):
                subst[v] = nsub(isub(a))
        else:
            out.append(JaxprEqn(e.primitive, tuple(sub(a) for a in e.inputs), e.params,
                                e.out_binders))


def _atom_key(a):
    return ("lit", a.val.item(), a.aval.dtype) if type(a) is Literal else a


def simplify(jaxpr: Jaxpr) -> Jaxpr:
    """Common subexpressions of fusible equations once; `x * 1.0` is `x` (exact in IEEE).

    Reverse-mode programs recompute sin/cos of the forward pass and multiply by
    broadcast ones; dropping those leaves less to compile and to run.
    """
    subst: dict[Var, Any] = {}
    ones: set[Var] = set()
    seen: dict = {}
    eqns = []

    def sub(a):
        return subst.get(a, a) if type(a) is Var else a

    def is_one(a) -> bool:
        return (a.val == 1) if type(a) is Literal else (a in ones)

    for e in jaxpr.eqns:
        ins = tuple(sub(a) for a in e.inputs)
        out = e.out_binders[0] if len(e.out_binders) == 1 else None
        name = e.primitive.name
        if out is not None and name == "broadcast_in_dim" and type(ins[0]) is Literal:
            if ins[0].val == 1:
                ones.add(out)
        # Real floats only: for complex, (inf + 0j) * (1 + 0j) is not exact.
        if (out is not None and name == "mul" and out.aval.dtype.kind == "f"
                and e.primitive.multiple_results is False):
            keep = [b for a, b in ((ins[0], ins[1]), (ins[1], ins[0]))
                    if is_one(a) and type(b) is Var and b.aval.same_type(out.aval)]
            if keep:
                subst[out] = keep[0]
                continue
        rule = lowering_rules.get(e.primitive)
        if out is not None and isinstance(rule, (str, ScalarRule, IndexRule, NullaryRule)):
            try:
                key = (e.primitive, tuple(_atom_key(a) for a in ins),
                       tuple(sorted(e.params.items())))
                hit = seen.get(key)
            except TypeError:
                key, hit = None, None
            if hit is not None:
                subst[out] = hit
                continue
            if key is not None:
                seen[key] = out
        eqns.append(e if ins == e.inputs else
                    JaxprEqn(e.primitive, ins, e.params, e.out_binders))
    if not subst:
        return jaxpr
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(eqns),
                 tuple(sub(a) for a in jaxpr.outvars))


def fold_transposed_dots(jaxpr: Jaxpr) -> Jaxpr:
    """Rewrite `transpose(dot(x, y))` of a matrix product as `dot(y, x)`.

    Reverse-mode programs transpose weight gradients; swapping the operands lets BLAS
    write the transposed result directly instead of a separate copy loop.
    """
    uses: dict[Var, int] = {}
    for e in jaxpr.eqns:
        for a in e.inputs:
            if type(a) is Var:
                uses[a] = uses.get(a, 0) + 1
    outs = {a for a in jaxpr.outvars if type(a) is Var}
    dots = {}
    for e in jaxpr.eqns:
        if e.primitive.name == "dot_general" and e.out_binders[0].aval.ndim == 2:
            (lc, rc), (lb, rb) = e.params["dimension_numbers"]
            one_free_each = (e.inputs[0].aval.ndim - len(lc) == 1
                             and e.inputs[1].aval.ndim - len(rc) == 1)
            if (not lb and one_free_each and uses.get(e.out_binders[0]) == 1
                    and e.out_binders[0] not in outs):
                dots[e.out_binders[0]] = e
    if not dots:
        return jaxpr
    new_eqns, dropped = [], set()
    for e in jaxpr.eqns:
        src = e.inputs[0] if e.inputs else None
        if (e.primitive.name == "transpose" and e.params["permutation"] == (1, 0)
                and type(src) is Var and src in dots):
            d = dots[src]
            (lc, rc), _ = d.params["dimension_numbers"]
            swapped = dict(d.params, dimension_numbers=((rc, lc), ((), ())))
            new_eqns.append(JaxprEqn(d.primitive, (d.inputs[1], d.inputs[0]), swapped,
                                     e.out_binders))
            dropped.add(id(d))
        else:
            new_eqns.append(e)
    moved = []
    for e in new_eqns:
        if id(e) not in dropped:
            moved.append(e)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, tuple(moved), jaxpr.outvars)


# ----------------------------------------------------------------------------------
# Planning and writing one jaxpr


class _Env(dict):
    """Var -> expression; tells the emitter the type of every name it binds."""

    def __init__(self, ctx: Emitter):
        super().__init__()
        self.ctx = ctx

    def __setitem__(self, v, expr):
        super().__setitem__(v, expr)
        self.ctx.note(expr, v.aval)


class _JaxprLowering:
    """Walks the equations of one jaxpr, grouping fusible ones into loop nests."""

    def __init__(self, ctx: Emitter, jaxpr: Jaxpr):
        self.ctx = ctx
        self.jaxpr = jaxpr
        self.env: dict[Var, str] = _Env(ctx)
        self.owner: dict[Var, _Group] = {}
        self.open: dict[int | None, _Group] = {}
        self.users: dict[Var, list[int]] = {}
        self.outset = {v for v in jaxpr.outvars if type(v) is Var}
        # Arrays that are one scalar broadcast ("splats"): kept as that scalar, and
        # materialized only if a statement rule or an output needs the array.
        self.splat: dict[Var, str] = {}
        # Small values in loop bodies, kept as their elements (unroll.py).
        self.small: dict[Var, list] = {}
        self.small_reads: dict[Var, dict] = {}
        # Values kept as one row of the outer loop (a buffer reused by every iteration).
        self.rowbufs: set[Var] = set()
        for e in jaxpr.eqns:
            for a in e.inputs:
                if type(a) is Var:
                    self.users.setdefault(a, []).append(id(e))

    def read(self, a) -> str:
        if type(a) is Literal:
            return self.ctx.literal(a.val, a.aval.dtype)
        if a not in self.env and a in self.small:
            self.env[a] = unroll.materialize(self, a)
        if a not in self.env and a in self.splat:
            name = self.ctx.var_name(a)
            self.ctx.line(f"{name} = {self.ctx.full(a.aval.shape, self.splat[a], a.aval.dtype)}")
            self.env[a] = name
        return self.env[a]

    def scalar_of(self, a) -> str | None:
        """The scalar expression of a literal, rank-0 value or splat (else None)."""
        if type(a) is Literal:
            return self.ctx.literal(a.val, a.aval.dtype)
        if a in self.splat:
            return self.splat[a]
        if a.aval.ndim == 0 and a in self.env:
            return self.env[a]
        return None

    def single_element(self, eqn, rule, kind) -> bool:
        """An index remapping that picks one element (`x[3]`, `s[0]`): a scalar read.

        Its result is kept as a scalar (a splat), so a reshape to rank 0 of it, or its
        broadcast into a loop, costs no array and no loop nest.
        """
        v = eqn.out_binders[0] if len(eqn.out_binders) == 1 else None
        if (kind != "index" or v is None or v.aval.size != 1 or v.aval.ndim == 0
                or rule.guard is not None):
            return False
        src = eqn.inputs[0]
        if type(src) is not Var or src.aval.ndim == 0 or src in self.splat:
            return False
        if src in self.owner:
            self.close(self.owner[src])
        at = rule.fn(eqn, ["0"] * v.aval.ndim)
        self.bind_scalar(eqn, f"{self.read(src)}[{', '.join(at)}]")
        return True

    def bind_scalar(self, eqn, expr: str) -> None:
        """Write `expr` as the scalar (splat) value of the equation's output."""
        ctx, v = self.ctx, eqn.out_binders[0]
        ctx.comment(eqn)
        name = ctx.var_name(v) + "_s"
        ctx.line(f"{name} = {expr}")
        ctx.types[name] = ("s", np.dtype(v.aval.dtype).str)
        ctx.current = None
        self.splat[v] = name

    def try_splat(self, eqn, rule, kind) -> bool:
        """Fold an equation whose array operands are all splats into a scalar statement."""
        if (eqn.primitive.name == "reshape" and eqn.out_binders[0].aval.ndim == 0
                and type(eqn.inputs[0]) is Var and eqn.inputs[0] in self.splat
                and eqn.inputs[0] not in self.env):
            self.env[eqn.out_binders[0]] = self.splat[eqn.inputs[0]]   # x.reshape(())
            return True
        if kind not in ("index", "elementwise") or not eqn.inputs or (
                kind == "index" and rule.guard is not None):
            return False
        if not any(type(a) is Var and a in self.splat for a in eqn.inputs) and not (
                kind == "index" and (type(eqn.inputs[0]) is Literal
                                     or eqn.inputs[0].aval.ndim == 0)):
            return False
        scalars = [self.scalar_of(a) for a in eqn.inputs]
        if any(x is None for x in scalars):
            return False
        if kind == "index":
            self.splat[eqn.out_binders[0]] = scalars[0]
            return True
        self.bind_scalar(eqn, _scalar_expr(self.ctx, rule, eqn, scalars))
        return True

    def run(self, args: list[str], elements: bool = False) -> list:
        for v, a in zip(self.jaxpr.invars, args, strict=True):
            self.env[v] = a
        for eqn in self.jaxpr.eqns:
            self.visit(eqn)
        for g in list(self.open.values()):
            self.close(g)
        if elements:
            return [unroll.Elements(self.small[a], a.aval.shape)
                    if type(a) is Var and a in self.small and a not in self.env
                    else self.read(a) for a in self.jaxpr.outvars]
        return [self.read(a) for a in self.jaxpr.outvars]

    def rule_of(self, eqn: JaxprEqn):
        rule = lowering_rules.get(eqn.primitive)
        if rule is None or _is_placeholder(rule):
            raise LoweringError(
                f"jit of {self.ctx.name}: the primitive '{eqn.primitive.name}' has no Numba "
                f"lowering rule, so this function cannot be compiled (equation: "
                f"{pp_eqn(eqn).splitlines()[0]}). Call the function without jit, or "
                f"register a rule in funcad.lowering.numba.rules.")
        return rule

    def visit(self, eqn: JaxprEqn) -> None:
        rule = self.rule_of(eqn)
        kind = _kind(rule)
        if self.fusible_reshape(eqn):
            rule, kind = _SQUEEZE_RESHAPE, "index"
        out_aval = eqn.out_binders[0].aval if eqn.out_binders else None
        if kind == "reduce":
            domain = eqn.inputs[0].aval.shape
            if not domain:
                kind = "scalar-copy"
        elif kind in ("elementwise", "index", "nullary"):
            domain = out_aval.shape
            if not domain:
                kind = "scalar-" + kind
        if (self.try_splat(eqn, rule, kind) or unroll.try_unroll(self, eqn, rule, kind)
                or self.single_element(eqn, rule, kind)):
            return
        if kind in ("elementwise", "index", "nullary", "reduce"):
            for a in eqn.inputs:    # a small value read by a loop nest: an array
                if type(a) is Var and a in self.small and a not in self.env:
                    self.read(a)
            if not self.transpose_on_store(eqn):
                self.add_to_group(eqn, rule, kind, tuple(domain))
            return
        # Statement rules and rank-0 scalar equations consume materialized values.
        for a in eqn.inputs:
            if type(a) is Var and a in self.owner:
                self.close(self.owner[a])
        ctx = self.ctx
        ctx.comment(eqn)
        args = [self.read(a) for a in eqn.inputs]
        if kind == "scalar-elementwise":
            out = ctx.var_name(eqn.out_binders[0])
            ctx.line(f"{out} = {_scalar_expr(ctx, rule, eqn, args)}")
            self.env[eqn.out_binders[0]] = out
        elif kind in ("scalar-index", "scalar-copy"):
            out = ctx.var_name(eqn.out_binders[0])
            ctx.line(f"{out} = {args[0]}")
            self.env[eqn.out_binders[0]] = out
        elif kind == "scalar-nullary":
            out = ctx.var_name(eqn.out_binders[0])
            ctx.line(f"{out} = {rule.fn(ctx, eqn, [])}")
            self.env[eqn.out_binders[0]] = out
        elif ctx.driver_level and getattr(rule, "driver_only", False):
            # Host callbacks: Python calls written straight into the driver.
            outs = _call_stmt_rule(ctx, rule, eqn, args)
            for v, o in zip(eqn.out_binders, outs, strict=True):
                self.env[v] = o
        elif (ctx.driver_level and getattr(rule, "driver_loop", None) is not None
              and (_calls_back(eqn) or _inner_size(eqn) > _driver_lines(rule))):
            # A loop whose body calls back to the host: a Python loop in the driver; so is
            # a loop of more equations than a native loop kernel may have lines (each
            # equation writes a line at least: no need to lower it twice to know).
            outs = _call_stmt_rule(ctx, rule.driver_loop, eqn, args)
            for v, o in zip(eqn.out_binders, outs, strict=True):
                self.env[v] = o
        elif ctx.driver_level and not getattr(rule, "emits_body_only", False):
            # Statements run in the driver unless their code loops: then they are a kernel.
            # (Rules that only emit an inner program in place run at the driver's level,
            # so that the loop nests inside become kernels of their own.)
            with ctx.capture(plain_literals=False) as cap:
                outs = _call_stmt_rule(ctx, rule, eqn, args)
            if (getattr(rule, "driver_loop", None) is not None
                    and _code_lines(cap.lines) > _driver_lines(rule)):
                # Too large a native loop for one kernel: it would go to Numba (the LLVM
                # kernel compiler takes no local arrays), whose compile time grows
                # superlinearly with a function's size (a rejection sampler's loop of
                # ~4,700 lines took 100-150 s, a 460-line one 5-15 s). The driver runs
                # the loop instead and its body's loop nests are ordinary kernels.
                ctx.current = None
                ctx.comment(eqn)
                outs = _call_stmt_rule(ctx, rule.driver_loop, eqn, args)
            elif _has_loop(cap.lines):
                ctx.kernel(cap.lines, [(o, v.aval.ndim, ctx.dtype(v.aval.dtype))
                                       for o, v in zip(outs, eqn.out_binders)],
                           [ctx.current or eqn.primitive.name, *cap.eqns])
            else:
                pad = "    " * (ctx._indent - 1)     # inside a driver-level loop: deeper
                ctx.lines.extend(pad + ln for ln in cap.lines)
                ctx.line_eqn.extend(cap.line_eqn)
            for v, o in zip(eqn.out_binders, outs, strict=True):
                self.env[v] = o
        else:
            outs = _call_stmt_rule(ctx, rule, eqn, args)
            for v, o in zip(eqn.out_binders, outs, strict=True):
                self.env[v] = o
        ctx.current = None

    def fusible_reshape(self, eqn) -> bool:
        """A reshape that only adds or drops size-1 dims of a value being fused."""
        if eqn.primitive.name != "reshape":
            return False
        src, out = eqn.inputs[0], eqn.out_binders[0].aval
        return (type(src) is Var and src.aval.ndim > 0 and out.ndim > 0
                and _squeeze(src.aval.shape) == _squeeze(out.shape)
                and (src in self.owner or (src in self.splat and src not in self.env)))

    def transpose_on_store(self, eqn) -> bool:
        """A transpose of a value being fused, its only use: stored transposed as well."""
        if eqn.primitive.name != "transpose" or type(eqn.inputs[0]) is not Var:
            return False
        a, out = eqn.inputs[0], eqn.out_binders[0]
        g = self.owner.get(a)
        if (g is None or a not in g.phase_of or a in g.reduce_outs or a in self.outset
                or a in g.stores or len(self.users.get(a, ())) != 1):
            return False
        inner = g.phases[g.phase_of[a]].inner
        if len(_squeeze(a.aval.shape)) != len(inner) + (g.outer is not None):
            return False      # computed once per outer iteration, not per element
        g.stores[a] = (out, eqn)
        g.final_only.add(out)
        self.owner[out] = g
        return True

    def big_value_pending(self, g: _Group) -> bool:
        """True when cutting `g` now would store a value of over _CUT_MAX elements that
        equations not yet fused still read."""
        inside = {id(e) for ph in g.phases for e, _, _ in ph.eqns}
        return any(v.aval.size > _CUT_MAX and any(u not in inside for u in self.users.get(v, ()))
                   for v in g.phase_of)

    # -- fusion ------------------------------------------------------------------------
    def add_to_group(self, eqn, rule, kind, domain) -> None:
        sq = _squeeze(domain)
        key = sq[0] if sq else None
        g = self.open.get(key)
        need = 0           # the earliest phase of g that may hold this equation
        for a in eqn.inputs:
            if type(a) is not Var or a not in self.owner:
                continue
            h = self.owner[a]
            if h is not g:
                self.close(h)
                continue
            read = _read_kind(eqn, rule, kind, a, sq)
            if a in g.final_only or read is None:
                self.close(g)
                g, need = None, 0
                continue
            k = g.phase_of[a]
            same = read == "same" and a not in g.reduce_outs
            need = max(need, k if same else k + 1)
        cap = _GROUP_CAP * (_DRIVER_LOOP_CAP_FACTOR if self.ctx.driver_loops else 1)
        if g is not None and g.size >= cap and self.ctx.split and (
                g.size >= _GROUP_HARD_CAP or not self.big_value_pending(g)):
            # A long loop body costs LLVM superlinear time: cut it (live values become
            # arrays), so that every kernel stays small and the pieces are shared. (A
            # program compiled as one function is small: its loop nests stay whole.)
            # Not where the cut would store a value larger than the caches (a batch of
            # per-example gradients that a reduction sums next), up to a hard cap.
            self.close(g)
            g, need = None, 0
        if g is None:
            g = self.open[key] = _Group(key)
        g.size += 4 if isinstance(rule, ScalarRule) else 1   # ScalarRules write more lines
        inner = sq[1:]
        k = next((k for k in range(need, len(g.phases)) if g.phases[k].inner == inner), None)
        if k is None:
            # A new phase as early as its operands allow (later equations may join it).
            k = need
            g.phases.insert(k, _Phase(inner))
            for v, j in g.phase_of.items():
                if j >= k:
                    g.phase_of[v] = j + 1
        g.phases[k].eqns.append((eqn, rule, kind))
        for v in eqn.out_binders:
            g.phase_of[v] = k
            self.owner[v] = g
            if kind == "reduce":
                g.reduce_outs.add(v)
                if key is None or _outer_axis(eqn.inputs[0].aval.shape) in eqn.params["axes"]:
                    g.final_only.add(v)

    def close(self, g: _Group) -> None:
        if self.open.get(g.outer) is g:
            del self.open[g.outer]
        for v in g.phase_of:
            self.owner.pop(v, None)
        for out, _ in g.stores.values():
            self.owner.pop(out, None)
        where = {id(e): k for k, ph in enumerate(g.phases) for e, _, _ in ph.eqns}
        materialize = set()
        for v, k in g.phase_of.items():
            users = self.users.get(v, ())
            if v in g.stores:       # its one use is the transpose stored with it
                users = ()
            outside = v in self.outset or any(u not in where for u in users)
            # Values of a phase without inner loop are scalars for the whole iteration.
            rowwise = g.outer is not None and (not g.phases[k].inner or v in g.reduce_outs)
            if outside or (not rowwise and any(where[u] != k for u in users if u in where)):
                materialize.add(v)
                if not outside and g.outer is not None and not self.ctx.options.get(
                        "parallel"):
                    # Read only by later phases at the same outer index: one row will do.
                    self.rowbufs.add(v)
        _write_group(self, g, materialize)


_SYM = "@"
_GROUP_CAP = 12     # equations per loop nest at most (a ScalarRule's count as 4)
# In the body of a loop the Python driver runs, every kernel call is paid each iteration:
# loop nests there take 4x the equations (jit(random.gamma)'s steady call 342 -> 43 us,
# and fewer kernels to compile: 3.4 -> 2.7 s CPU cold).
_DRIVER_LOOP_CAP_FACTOR = 4
_GROUP_HARD_CAP = 36   # ... unless the cut would store a value of over _CUT_MAX elements
_CUT_MAX = 1 << 18


def _outer_axis(shape) -> int | None:
    return next((d for d, n in enumerate(shape) if n != 1), None)


def _read_kind(eqn, rule, kind, a, sq) -> str | None:
    """How an equation over the squeezed domain `sq` reads its operand `a`: "same" (at
    its own loop index), "outer" (at the same outer index only) or None (elsewhere)."""
    if kind in ("elementwise", "reduce"):
        return "same"
    if kind != "index":
        return None
    names = [f"{_SYM}{k}" for k in range(len(sq))]
    src = rule.fn(eqn, _expand(eqn.out_binders[0].aval.shape, names))
    if _squeeze(a.aval.shape) == sq and list(src) == _expand(a.aval.shape, names):
        return "same"
    d = _outer_axis(a.aval.shape)
    if d is not None and names and src[d] == names[0]:
        return "outer"
    return None


def _squeeze_reshape_index(eqn, idx):
    return _expand(eqn.inputs[0].aval.shape, [i for i in idx if i != "0"])


_SQUEEZE_RESHAPE = IndexRule(_squeeze_reshape_index)


def _scalar_expr(ctx, rule, eqn, args) -> str:
    if isinstance(rule, str):
        return rule.format(*args, **eqn.params)
    return rule.fn(ctx, eqn, args)


def _call_stmt_rule(ctx, rule, eqn, args) -> list[str]:
    outs = rule(ctx, eqn, args)
    if len(outs) != len(eqn.out_binders):
        raise LoweringError(f"lowering rule of {eqn.primitive.name} returned {len(outs)} "
                            f"outputs, expected {len(eqn.out_binders)}")
    return list(outs)


def _domain(eqn, kind) -> tuple:
    return eqn.inputs[0].aval.shape if kind == "reduce" else eqn.out_binders[0].aval.shape


def _row_reduce(g: _Group, eqn) -> bool:
    """A reduction over every inner loop of its phase: a scalar accumulator per row."""
    shape, axes = eqn.inputs[0].aval.shape, eqn.params["axes"]
    d0 = _outer_axis(shape)
    return g.outer is not None and d0 not in axes and all(
        d in axes for d, n in enumerate(shape) if n != 1 and d != d0)


# A scan/while of a split program whose native loop would be a kernel of more lines than
# this (comments aside) runs as a Python loop in the driver instead (see visit). Such a
# kernel goes to Numba, which took 5-15 s on a 460-line loop (binomial's inversion loop)
# and minutes on 4,700 lines; the Lorenz RK4 loop and its gradient (90-193 lines) stay.
DRIVER_LOOP_LINES = 300


def _driver_lines(rule) -> int:
    """How many lines of native loop a loop rule may write before the driver runs it
    (a rule's own `driver_loop_lines`, else DRIVER_LOOP_LINES)."""
    return getattr(rule, "driver_loop_lines", DRIVER_LOOP_LINES)


def _code_lines(lines) -> int:
    return sum(1 for ln in lines if not ln.lstrip().startswith("#"))


def _calls_back(eqn) -> bool:
    """Whether an equation's inner programs (at any depth) call back to the host."""
    stack = list(_inner_jaxprs(eqn.params))
    while stack:
        j = stack.pop()
        for e in j.eqns:
            if getattr(lowering_rules.get(e.primitive), "driver_only", False):
                return True
            stack.extend(_inner_jaxprs(e.params))
    return False


def _inner_size(eqn) -> int:
    """The number of equations inside an equation's inner programs, at any depth."""
    n, stack = 0, list(_inner_jaxprs(eqn.params))
    while stack:
        j = stack.pop()
        n += len(j.eqns)
        for e in j.eqns:
            stack.extend(_inner_jaxprs(e.params))
    return n


def _inner_jaxprs(params):
    for v in params.values():
        for x in (v if isinstance(v, (tuple, list)) else (v,)):
            if isinstance(x, Jaxpr):
                yield x
            elif isinstance(getattr(x, "jaxpr", None), Jaxpr):
                yield x.jaxpr


def _has_loop(lines) -> bool:
    return any(ln.lstrip().startswith(("for ", "while ")) for ln in lines)


def _write_group(low: _JaxprLowering, g: _Group, materialize: set) -> None:
    ctx = low.ctx
    if not ctx.driver_level:
        _write_group_code(low, g, materialize)
        return
    with ctx.capture(plain_literals=True) as cap:
        _write_group_code(low, g, materialize)
    outs = [(low.env[v], v.aval.ndim, ctx.dtype(v.aval.dtype))
            for v in g.phase_of if v in low.env and v not in low.rowbufs]
    outs += [(low.env[out], out.aval.ndim, ctx.dtype(out.aval.dtype))
             for out, _ in g.stores.values()]
    ctx.kernel(cap.lines, outs, cap.eqns)


def _write_group_code(low: _JaxprLowering, g: _Group, materialize: set) -> None:
    ctx = low.ctx
    low.owner_at_write = g
    n = sum(len(ph.eqns) for ph in g.phases)
    ctx.current = None
    loops = " then ".join(str(ph.inner) for ph in g.phases)
    ctx.line(f"# fused loop over {g.outer}, inner loops {loops}: {n} equation"
             f"{'s' if n > 1 else ''}")
    rows = set()
    for ph in g.phases:
        for eqn, rule, kind in ph.eqns:
            v = eqn.out_binders[0]
            if kind == "reduce" and _row_reduce(g, eqn):
                rows.add(v)
            if v in materialize or (kind == "reduce" and v not in rows):
                name = ctx.var_name(v)
                if v in low.rowbufs:
                    alloc = ctx.empty(_row_shape(v.aval.shape), v.aval.dtype)
                elif kind != "reduce" or v in rows:
                    alloc = ctx.empty(v.aval.shape, v.aval.dtype)
                elif v.aval.ndim == 0:
                    alloc = rule.init(ctx, v.aval.dtype)
                else:
                    alloc = ctx.full(v.aval.shape, rule.init(ctx, v.aval.dtype), v.aval.dtype)
                ctx.line(f"{name} = {alloc}")
                low.env[v] = name
    for out, _ in g.stores.values():
        name = ctx.var_name(out)
        ctx.line(f"{name} = {ctx.empty(out.aval.shape, out.aval.dtype)}")
        low.env[out] = name
    parallel = bool(ctx.options.get("parallel")) and _parallel_ok(g)
    outer = () if g.outer is None else (g.outer,)
    with ctx.loop(outer, parallel) as oidx:
        row_local: dict[Var, str] = {}
        for ph in g.phases:
            # Only an innermost loop vectorises: vecmath's libm-free functions pay off
            # there, elsewhere a libm call is cheaper (see rules._vecmath).
            innermost = bool(ph.inner) or not any(p.inner for p in g.phases)
            saved, ctx.vector_loop = ctx.vector_loop, innermost and g.outer is not None
            try:
                _write_phase(low, ph, oidx, rows, row_local, materialize)
            finally:
                ctx.vector_loop = saved
    ctx.current = None


def _write_phase(low, ph: _Phase, oidx, rows, row_local, materialize) -> None:
    ctx = low.ctx
    for eqn, rule, kind in ph.eqns:
        v = eqn.out_binders[0]
        if v in rows:
            ctx.line(f"{ctx.var_name(v)}_ = {rule.init(ctx, v.aval.dtype)}")
    local = dict(row_local)
    with ctx.loop(ph.inner) as iidx:
        names = [*oidx, *iidx]

        def operand(a) -> str:
            if type(a) is Literal:
                return ctx.literal(a.val, a.aval.dtype)
            if a in local:
                return local[a]
            if a.aval.ndim == 0:
                return low.env[a]
            if a in low.splat and a not in low.env:
                return low.splat[a]
            # Load each input element once per iteration (fewer getitems to compile).
            name = ctx.var_name(a) + "_"
            at = _row_index(low, a, _expand(a.aval.shape, names))
            ctx.line(f"{name} = {low.env[a]}[{', '.join(at)}]")
            local[a] = name
            return name

        for eqn, rule, kind in ph.eqns:
            ctx.comment(eqn)
            v = eqn.out_binders[0]
            idx = _expand(_domain(eqn, kind), names)
            if kind == "reduce":
                if v in rows:
                    acc = ctx.var_name(v) + "_"
                else:
                    kept = [i for k, i in enumerate(idx) if k not in eqn.params["axes"]]
                    acc = low.env[v] + (f"[{', '.join(kept)}]" if kept else "")
                ctx.line(rule.update.format(acc=acc, v=operand(eqn.inputs[0])))
                continue
            name = ctx.var_name(v) + "_"
            if kind == "elementwise":
                expr = _scalar_expr(ctx, rule, eqn, [operand(a) for a in eqn.inputs])
            elif kind == "nullary":
                expr = rule.fn(ctx, eqn, idx)
            else:
                src = eqn.inputs[0]
                scalar = type(src) is Literal or src.aval.ndim == 0 or src in row_local or (
                    src in low.splat and src not in low.env)
                at = None if scalar else _row_index(low, src, list(rule.fn(eqn, idx)))
                cond = rule.guard(eqn, idx) if rule.guard is not None else None
                if cond is not None:
                    # A padded read: the element, or the padding value outside it.
                    read = operand(src) if scalar else f"{low.env[src]}[{', '.join(at)}]"
                    expr = f"({read} if {cond} else {operand(eqn.inputs[1])})"
                elif scalar or (len(_squeeze(src.aval.shape)) == len(names)
                               and at == _expand(src.aval.shape, names)):
                    # A broadcast scalar, a value computed once per outer iteration, or
                    # a read at the operand's own index (a reshape that drops 1-dims).
                    expr = operand(src)
                    if v not in materialize:
                        local[v] = expr
                        if not ph.inner:
                            row_local[v] = expr
                        _store_transposed(low, v, expr, names)
                        continue
                else:
                    expr = f"{low.env[src]}[{', '.join(at)}]"
            ctx.line(f"{name} = {expr}")
            local[v] = name
            if not ph.inner:
                row_local[v] = name
            if v in materialize:
                at = _row_index(low, v, _expand(v.aval.shape, names))
                ctx.line(f"{low.env[v]}[{', '.join(at)}] = {name}")
            _store_transposed(low, v, name, names)
    for eqn, rule, kind in ph.eqns:
        v = eqn.out_binders[0]
        if v in rows:
            row_local[v] = acc = ctx.var_name(v) + "_"
            if v in materialize:
                ctx.line(f"{low.env[v]}[{', '.join(_expand(v.aval.shape, oidx))}] = {acc}")


def _row_shape(shape) -> tuple:
    d = _outer_axis(shape)
    return tuple(1 if k == d else n for k, n in enumerate(shape))


def _row_index(low, a, at: list) -> list:
    """Index expressions into `a`'s array: at row 0 for a one-row buffer."""
    if a not in low.rowbufs:
        return at
    at = list(at)
    at[_outer_axis(a.aval.shape)] = "0"
    return at


def _store_transposed(low, v, value: str, names) -> None:
    """`out[perm(idx)] = value` for a value whose only use is a transpose (see
    `transpose_on_store`)."""
    g = low.owner_at_write
    if v not in g.stores:
        return
    out, eqn = g.stores[v]
    low.ctx.comment(eqn)
    at = _expand(v.aval.shape, names)
    perm = eqn.params["permutation"]
    low.ctx.line(f"{low.env[out]}[{', '.join(at[p] for p in perm)}] = {value}")


def _parallel_ok(g: _Group) -> bool:
    # prange runs over the outer loop: a reduction over it must be a scalar sum.
    if g.outer is None:
        return False
    reductions = [(e, r) for ph in g.phases for e, r, k in ph.eqns if k == "reduce"]
    total = any(e.out_binders[0].aval.ndim == 0 for e, _ in reductions)
    for eqn, rule in reductions:
        if _row_reduce(g, eqn):
            # Numba's prange reduction analysis fails ("unexpected cycle in lookup") on a
            # row max/min accumulator next to a reduction over the prange loop.
            if total and not rule.parallel_ok:
                return False
        elif eqn.out_binders[0].aval.ndim == 0:
            if not rule.parallel_ok:
                return False
        elif _outer_axis(eqn.inputs[0].aval.shape) in eqn.params["axes"]:
            return False
    return True


# ----------------------------------------------------------------------------------
# Whole programs


@dataclass
class LoweredSource:
    """The generated source of one program and what is needed to call it.

    With `calls` non-empty the source is a Python driver that calls kernels through the
    globals `__k0, __k1, ...` (one per call site, `calls[i]` says which kernel).
    """

    source: str                      # module text, function named by `fun_name`
    fun_name: str
    arg_names: list[str]
    in_avals: list
    out_avals: list
    extra_args: list                 # constant arrays appended to the call's arguments
    line_eqn: list                   # per line of `source`: the equation it lowers, or None
    header_lines: int
    split: bool = False              # a Python driver calling kernels
    calls: list = field(default_factory=list)   # KernelCall per call site


def lower_jaxpr(jaxpr: Jaxpr, name: str, options: dict, fun_name: str = "FUNCAD_PROGRAM",
                split: bool = False, comments: bool = True) -> LoweredSource:
    """Generate the source of a constvar-free program (function name is a placeholder).

    `split`: a Python driver calling one kernel per loop nest (see kernels.py), else one
    function for Numba.
    """
    ctx = Emitter(name, options, fun_name, split, comments)
    jaxpr = remat_cheap(prepare(jaxpr))
    out_avals = list(jaxpr.out_avals)
    jaxpr, out_perms = _peel_output_transposes(jaxpr)
    params = []
    args = []
    for v in jaxpr.invars:
        n = ctx.var_name(v)
        if v.aval.ndim == 0:
            params.append(n + "_0d")
            ctx.line(f"{n} = {n}_0d[()]")
            args.append(n)
        else:
            params.append(n)
            args.append(n)
    outs = _JaxprLowering(ctx, jaxpr).run(args)   # prepared above (no second CSE)
    aliased = _aliases_of_inputs(jaxpr)
    final = []
    for a, o, perm in zip(jaxpr.outvars, outs, out_perms):
        if type(a) is Var and a.aval.ndim > 0 and (a in aliased or o in final):
            o = f"_rt.copy({o})"
        if perm is not None:
            o = f"np.transpose({o}, {perm})"
        final.append(o)
    ctx.current = None
    ret = f"return ({', '.join(final)}{',' if len(final) == 1 else ''})"
    if split:
        _release_dead(ctx, ret)
    ctx.line(ret)
    if split:
        # The Python driver calls np.empty under names of its own (_DRIVER_HEADER): no
        # attribute lookups (40 ns of a 1 us call). Kernels are texts of their own.
        ctx.lines = [_DRIVER_EMPTY.sub(r"_empty(\1, _\2)", ln) for ln in ctx.lines]
    all_params = params + [n for n, _ in ctx.extra_args]
    flags = ", ".join(f"{k}={v}" for k, v in sorted(options.items()))
    if split:
        header = [
            f"# funcad generated driver for jit({name}) (Python, calls compiled kernels); "
            f"options: {flags}",
            "import math",
            "import numpy as np",
            "from funcad.lowering.numba import _pyruntime as _rt",
            _DRIVER_HEADER,
        ]
    else:
        header = [
            f"# funcad generated program for jit({name}); options: {flags}",
            "import math",
            "import numpy as np",
            "from numba import prange",
            "from funcad.lowering.numba import _runtime as _rt",
        ]
    header += ["", "", f"def {fun_name}({', '.join(all_params)}):"]
    source = "\n".join(header + ctx.lines) + "\n"
    if split and len(final) == 1 and out_avals[0].ndim > 0 and not ctx.extra_args:
        source += _single_entry(fun_name, params, ctx.lines[:-1], final[0])
    return LoweredSource(source, fun_name, all_params, list(jaxpr.in_avals),
                         out_avals, [a for _, a in ctx.extra_args],
                         [None] * len(header) + ctx.line_eqn, len(header), split,
                         ctx.calls)


_DRIVER_DTYPES = frozenset(np.dtype(n) for n in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "complex64", "complex128"))
_DRIVER_EMPTY = re.compile(r"_rt\.empty1\((\w+), np\.(" + "|".join(
    sorted(d.name for d in _DRIVER_DTYPES if d != np.bool_)) + r")\)")
_DRIVER_HEADER = ("from funcad._array import Array as _Array\n"
                  "from numpy import empty as _empty, " + ", ".join(
                      f"{'bool_' if d == np.bool_ else d.name} as _{d.name}"
                      for d in sorted(_DRIVER_DTYPES, key=lambda d: d.name)))


def _single_entry(fun_name: str, params: list, body: list, out: str) -> str:
    """jit's fast path for a driver of one array output: `<fun>_single(args)` runs the
    driver's body on the argument tuple and returns its output as a read-only Array, with
    no call, tuple or conversion in between (0.15 us of a 1 us call). A TypeError (a kernel
    refusing an argument's dtype or layout) hands the call to `_fallback_single`, which
    the compiler sets: the general path, which normalises the arguments."""
    lines = ["", "", f"def {fun_name}_single(args):", "    try:"]
    if params:
        lines.append(f"        {', '.join(params)}{',' if len(params) == 1 else ''} = args")
    lines += ["    " + ln for ln in body]
    lines += ["    except TypeError:", "        return _fallback_single(args)",
              f"    out = {out}.view(_Array)", "    out.setflags(False)", "    return out"]
    return "\n".join(lines) + "\n"


_WORD = re.compile(r"[A-Za-z_]\w*")


def _release_dead(ctx: Emitter, ret: str) -> None:
    """`del` each driver array after its last use, so temporaries do not live to the end."""
    lines, line_eqn = ctx.lines, ctx.line_eqn
    top = [k for k, ln in enumerate(lines) if _starts_statement(ln)]
    last: dict[str, int] = {}
    bound: set[str] = set()
    for j, k in enumerate(top):
        end = top[j + 1] if j + 1 < len(top) else len(lines)
        stmt = lines[k].strip()
        if stmt.startswith("#"):
            continue
        m = re.match(r"^([\w, ]+?)\s*,?\s*=(?!=)", stmt)
        if m:
            bound.update(n.strip() for n in m.group(1).split(",") if n.strip())
        for ln in lines[k:end]:
            code = ln.split("#", 1)[0]
            for w in _WORD.findall(code):
                last[w] = k
    keep = set(_WORD.findall(ret))
    after: dict[int, list[str]] = {}
    for n in bound:
        if n not in keep and n in last:
            after.setdefault(last[n], []).append(n)
    if not after:
        return
    new_lines, new_eqn = [], []
    for k, (ln, e) in enumerate(zip(lines, line_eqn)):
        new_lines.append(ln)
        new_eqn.append(e)
        if k in after:
            end = k + 1
            while end < len(lines) and not _starts_statement(lines[end]):
                end += 1
            # Deletions go after the statement's whole block.
            after.setdefault(end - 1, [])
            if end - 1 != k:
                after[end - 1].extend(after.pop(k))
                continue
            new_lines.append("    del " + ", ".join(sorted(after[k])))
            new_eqn.append(None)
    ctx.lines[:], ctx.line_eqn[:] = new_lines, new_eqn


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _starts_statement(line: str) -> bool:
    """A top-level statement of the driver (not a line of a block, nor its `else:`)."""
    return _indent(line) == 4 and not line.lstrip().startswith(("else", "elif"))


def _peel_output_transposes(jaxpr: Jaxpr) -> tuple[Jaxpr, list]:
    """A program output that is the transpose of a matrix computed here, and nothing else
    reads, is returned as a transposed view of that matrix (the permutation per output;
    None: as it is). Fused into the loop nest that computes it, the transpose would store
    with a stride in the inner loop: a third of jit(hessian)'s time on R^100."""
    perms: list = [None] * len(jaxpr.outvars)
    computed = {b for e in jaxpr.eqns for b in e.out_binders}
    uses: dict = {}
    for e in jaxpr.eqns:
        for a in e.inputs:
            if type(a) is Var:
                uses[a] = uses.get(a, 0) + 1
    for a in jaxpr.outvars:
        if type(a) is Var:
            uses[a] = uses.get(a, 0) + 1
    drop, outvars = set(), list(jaxpr.outvars)
    for e in jaxpr.eqns:
        if e.primitive.name != "transpose":
            continue
        out, src = e.out_binders[0], e.inputs[0]
        if out.aval.ndim != 2:     # (matrices: jacobians, hessians; batches keep their layout)
            continue
        k = [i for i, v in enumerate(outvars) if v is out]
        if (len(k) != 1 or uses.get(out) != 1 or type(src) is not Var or src not in computed
                or src in outvars or uses.get(src) != 1):
            continue
        perms[k[0]] = tuple(e.params["permutation"])
        outvars[k[0]] = src
        drop.add(id(e))
    if not drop:
        return jaxpr, perms
    return Jaxpr(jaxpr.constvars, jaxpr.invars,
                 [e for e in jaxpr.eqns if id(e) not in drop], outvars), perms


def _aliases_of_inputs(jaxpr: Jaxpr) -> set:
    """Variables that may share memory with an input (reshapes are views)."""
    aliased = set(jaxpr.invars)
    for e in jaxpr.eqns:
        if e.primitive.name == "reshape" and e.inputs[0] in aliased:
            aliased.add(e.out_binders[0])
    return aliased


__all__ = ["Emitter", "IndexRule", "LoweredSource", "LoweringError", "NullaryRule",
           "ReduceRule", "ScalarRule", "inline_calls", "lower_jaxpr"]
