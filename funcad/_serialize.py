"""Pickling programs: a jaxpr is data, so it can be shipped to another process.

`pickle.dumps(jaxpr)` works once funcad is imported; `dumps`/`loads` add a header (a
magic string, the format version, funcad's version) and are what funcad.distributed
ships to its workers, which compile the program through the kernel cache instead of
tracing the user's function again.

What is pickled, and how:

* `Primitive`s by name: unpickling looks the name up in the registry of funcad._core
  (`all_primitives`), so a program refers to the receiving process's rules.
* `Var`s by identity within one pickle (pickle's memo): a variable bound by one equation
  and read by others is one object again after loading. Two separate pickles never share
  variables, which is all a jaxpr needs (variables are local to their program).
* `Jaxpr`s carry `FORMAT_VERSION`; loading a jaxpr written by another format version
  raises `JaxprFormatError` instead of building a wrong program.
* Params must be data: numbers, strings, dtypes, arrays, tuples/lists/dicts of them,
  avals and inner jaxprs. A Python callable in a param (a custom rule that was not traced
  yet: the lazy rule of a custom function called inside its own rule) cannot travel:
  `pickle.dumps` raises `JaxprPickleError` naming the primitive and the param.
  `dumps(jaxpr, for_eval=True)` replaces such rules by a stub, for a program that the
  receiver only evaluates or compiles (what distributed workers do): the stub raises a
  clear error if the receiver tries to differentiate or batch through it.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import threading
from typing import Any

import numpy as np

from funcad._core import FuncadError, Primitive, ShapedArray, all_primitives
from funcad._custom_derivatives import _LazyRule
from funcad._ir import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var

#: Version of the pickled form of jaxprs. Bump it when Jaxpr, JaxprEqn, Var, Literal or
#: ShapedArray change what they hold.
FORMAT_VERSION = 1
_MAGIC = "funcad-program"


_mode = threading.local()   # for_eval: set while dumps(..., for_eval=True) pickles


class JaxprPickleError(FuncadError, pickle.PicklingError):
    """A jaxpr holds a param that cannot be pickled (e.g. a Python callable)."""


class JaxprFormatError(FuncadError, pickle.UnpicklingError):
    """A pickled program was written by another format version (or is not a program)."""


# ---------------------------------------------------------------------------------------
# Reducers (registered with copyreg below, so plain pickle.dumps uses them)


def _load_primitive(name: str) -> Primitive:
    p = all_primitives.get(name)
    if p is None:
        import funcad  # noqa: F401  (registers every primitive)
        p = all_primitives.get(name)
    if p is None:
        raise JaxprFormatError(
            f"the pickled program uses the primitive {name!r}, which this funcad "
            f"(version {_funcad_version()}) does not define; load it with the funcad "
            f"version that wrote it")
    return p


def _reduce_primitive(p: Primitive):
    return _load_primitive, (p.name,)


def _load_aval(shape, dtype, weak_type):
    return ShapedArray(tuple(shape), np.dtype(dtype), weak_type)


def _reduce_aval(a: ShapedArray):
    return _load_aval, (a.shape, a.dtype.str, a.weak_type)


def _new_var(aval):
    return Var(aval)


def _reduce_var(v: Var):
    # Pickle memoizes the Var: every later reference in the same pickle is this object.
    return _new_var, (v.aval,)


def _load_literal(val, aval):
    return Literal(val, aval)


def _reduce_literal(lit: Literal):
    return _load_literal, (lit.val, lit.aval)


def _load_eqn(prim, inputs, params, out_binders):
    return JaxprEqn(prim, tuple(inputs), params, tuple(out_binders))


_PLAIN = (type(None), bool, int, float, complex, str, bytes, np.dtype, np.generic,
          np.ndarray, Jaxpr, ClosedJaxpr, ShapedArray, Primitive, Var, Literal)


def _check_param(prim: str, name: str, val: Any) -> None:
    """Refuse a param that is not data, naming the primitive and the param."""
    if isinstance(val, _PLAIN):
        return
    if isinstance(val, (tuple, list, frozenset, set)):
        for v in val:
            _check_param(prim, name, v)
        return
    if isinstance(val, dict):
        for v in val.values():
            _check_param(prim, name, v)
        return
    if type(val) is _RuleStub or (isinstance(val, _LazyRule)
                                   and getattr(_mode, "for_eval", False)):
        return   # _stub_lazy pickles it
    if isinstance(val, _LazyRule) or callable(val):
        what = (f"the {val.what} rule of {val.owner.__name__}, a Python function not traced "
                f"yet (a custom function called inside its own rule)"
                if isinstance(val, _LazyRule) else f"the Python callable {val!r:.80}")
        raise JaxprPickleError(
            f"cannot pickle the program: the param {name!r} of a {prim!r} equation is "
            f"{what}. Only data (arrays, numbers, inner jaxprs) can be shipped. To ship "
            f"a program that is only evaluated or compiled on the other side, use "
            f"funcad._serialize.dumps(jaxpr, for_eval=True).")
    try:
        pickle.dumps(val, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        raise JaxprPickleError(
            f"cannot pickle the program: the param {name!r} of a {prim!r} equation holds "
            f"{type(val).__name__} {val!r:.80}, which pickle refuses ({e})") from None


def _reduce_eqn(e: JaxprEqn):
    for k, v in e.params.items():
        _check_param(e.primitive.name, k, v)
    return _load_eqn, (e.primitive, e.inputs, dict(e.params), e.out_binders)


def _load_jaxpr(version, constvars, invars, eqns, outvars, batched_from=None):
    if version != FORMAT_VERSION:
        raise JaxprFormatError(
            f"the pickled jaxpr has format version {version}, but this funcad "
            f"({_funcad_version()}) reads version {FORMAT_VERSION}; pickle the program "
            f"again with this funcad (trace the function again)")
    return Jaxpr(tuple(constvars), tuple(invars), tuple(eqns), tuple(outvars), batched_from)


def _reduce_jaxpr(j: Jaxpr):
    return _load_jaxpr, (FORMAT_VERSION, j.constvars, j.invars, j.eqns, j.outvars,
                         j.batched_from)


def _load_closed(jaxpr, consts):
    return ClosedJaxpr(jaxpr, tuple(consts))


def _reduce_closed(c: ClosedJaxpr):
    return _load_closed, (c.jaxpr, c.consts)


class _StubOwner:
    __slots__ = ("__name__", "_rule_depth")

    def __init__(self, name: str):
        self.__name__, self._rule_depth = name, 0


class _RuleStub(_LazyRule):
    """Stands for a custom rule that was not shipped (see `dumps(..., for_eval=True)`).

    A `_LazyRule` whose forcing raises: the receiver can evaluate and compile the program
    (which never uses the rule) but not differentiate or batch through it.
    """

    __slots__ = ()

    def __init__(self, owner_name: str, what: str):
        self.owner, self.thunk, self.traced, self.what = _StubOwner(owner_name), None, None, what

    def force(self):
        raise FuncadError(
            f"this program was shipped for evaluation only: the {self.what} rule of "
            f"{self.owner.__name__} was a Python function not traced before shipping, so "
            f"the program cannot be differentiated or batched here. Transform it before "
            f"shipping it.")

    def __repr__(self) -> str:
        return f"<{self.what} rule of {self.owner.__name__}, not shipped>"

    def __reduce__(self):
        return _RuleStub, (self.owner.__name__, self.what)


def _refuse_lazy(rule):
    raise JaxprPickleError(
        f"cannot pickle the program: it holds the {rule.what} rule of "
        f"{rule.owner.__name__}, a Python function not traced yet (a custom function "
        f"called inside its own rule). Only data can be shipped; use "
        f"funcad._serialize.dumps(jaxpr, for_eval=True) for a program that is only "
        f"evaluated or compiled on the other side.")


def _stub_lazy(rule):
    return _RuleStub, (rule.owner.__name__, rule.what)


_REDUCERS = {Primitive: _reduce_primitive, ShapedArray: _reduce_aval, Var: _reduce_var,
             Literal: _reduce_literal, JaxprEqn: _reduce_eqn, Jaxpr: _reduce_jaxpr,
             ClosedJaxpr: _reduce_closed}


def _install() -> None:
    for cls, red in _REDUCERS.items():
        copyreg.pickle(cls, red)
    copyreg.pickle(_LazyRule, _refuse_lazy)


# ---------------------------------------------------------------------------------------
# Shipping: a header, then the program


def _funcad_version() -> str:
    import funcad
    return funcad.__version__


def dumps(obj: Any, *, for_eval: bool = False) -> bytes:
    """Pickle a program (a Jaxpr, ClosedJaxpr, or any data holding them) with a header.

    Args:
      obj: what to ship.
      for_eval: replace custom rules that are still Python functions by stubs (the
        receiver only evaluates or compiles the program) instead of raising.
    Returns:
      bytes for `loads`.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> j = fa.make_jaxpr(lambda x: fnp.sin(x) * 2.0)(1.0)
    >>> print(loads(dumps(j)))
    { lambda a:f64[]. let
        b:f64[] = sin a
        c:f64[] = mul b 2.0
      in (c,) }
    """
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    if for_eval:
        table = copyreg.dispatch_table.copy()
        table[_LazyRule] = _stub_lazy
        p.dispatch_table = table
    prev = getattr(_mode, "for_eval", False)
    _mode.for_eval = for_eval
    try:
        p.dump((_MAGIC, FORMAT_VERSION, _funcad_version(), obj))
    finally:
        _mode.for_eval = prev
    return buf.getvalue()


def loads(data: bytes) -> Any:
    """Load what `dumps` wrote; raises JaxprFormatError for another format version."""
    head = pickle.loads(data)
    if not (isinstance(head, tuple) and len(head) == 4 and head[0] == _MAGIC):
        raise JaxprFormatError("not a funcad program (written by funcad._serialize.dumps)")
    _, version, _, obj = head
    if version != FORMAT_VERSION:
        raise JaxprFormatError(f"program format version {version}; this funcad reads "
                               f"version {FORMAT_VERSION}")
    return obj


_install()

__all__ = ["FORMAT_VERSION", "JaxprFormatError", "JaxprPickleError", "dumps", "loads"]
