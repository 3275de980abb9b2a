"""Translate a small restricted Python kernel (the code our generator emits) to LLVM IR and JIT it.

Public entry point: ``compile_kernel(source, fun_name, arg_types, fastmath=False, cache_dir=None)``.
It returns a builtin callable ``k(*args)``; ``k.__self__`` is a :class:`KernelInfo` (IR, name, types).
Anything outside the subset raises :class:`Unsupported` at compile time (the caller falls back
to Numba).  Semantics follow Numba nopython mode (``error_model='numpy'``): the typing rules below
were read off Numba 0.68 (``nopython_signatures`` of every operator/function over all 11 dtypes).

Typing summary (Numba's, not NumPy's):
  * int literal -> int64, float literal -> float64, ``True`` -> bool.
  * ``+ - * // % **``: two ints -> int64 (uint64 if both unsigned); bool counts as a signed int;
    float32 with float32/bool/int8/int16/uint8 -> float32 (``f32 ** any int`` -> float32);
    otherwise a float operand gives float64.  ``/`` on ints -> float64.
  * ``& | ^``: bool&bool -> bool, else the int rule; ``<< >>``: int64 (uint64 if the left is unsigned).
    Shift counts outside [0, 64) give NumPy's results (0, or -1 for ``>>`` of a negative).
  * ``//`` and ``%``: Python floor semantics; int division by zero -> 0 (``INT_MIN // -1`` wraps);
    float ``//``/``%`` follow CPython/NumPy ``divmod`` (sign of divisor, ``x // 0 = x / 0``).
  * ternary / ``min`` / ``max`` unify like ``np.promote_types``; ``max(a, b)`` is ``b if b > a else a``.
  * ``np.<ufunc>`` of ints -> float32 for bool/int8/int16/uint8/uint16, float64 for wider ints;
    binary ufuncs with a float operand -> the widest float operand (``np.arctan2(i64, f32)`` -> f32).
  * ``math.<fn>`` of float32 -> float32, of ints -> float64; ``math.floor/ceil/trunc``, ``round`` -> int64.
  * mixing uint64 with a signed int in arithmetic/comparison raises Unsupported (Numba reinterprets).
  * float -> int casts: truncation; NaN / out of range -> INT_MIN of int32/int64 then wrapped to the
    target (x86 cvttsd2si, what NumPy's C casts give); ``np.sign(-0.0)`` is -0.0 (Numba; NumPy: 0.0).
  * array stores cast the value to the array's dtype (like Numba / NumPy setitem).
  * a name keeps one type; reassigning it a wider signed int widens the name (Numba's phi
    unification, e.g. ``j = idx[i]`` (int32) then ``j += n``); any other change raises Unsupported.
  * negative runtime indices wrap (``A[n - 1 - i]``) unless the index is provably >= 0.
  * ``if``/ternary on a literal condition compile only the taken branch (Numba prunes them too).

Unsupported (raises): complex, for/while-else, return values, def/lambda, tuples as values, slices,
attribute access other than ``np.``/``math.`` constants and functions, ``.view(np.<dtype>)``
(a bit cast between same-width dtypes, as NumPy's scalar ``view``) and reads of ``_rt.NAME[i]``
(tables registered with ``register_constant_array``), keyword arguments,
``int ** int`` with a non-literal or negative exponent, ``np.power`` / ``np.fmod`` on ints and
``np.sign`` on unsigned ints (Numba's results differ from NumPy's there), uint64 mixed with signed
ints, names read before their first assignment, partial indexing, arrays used as values, functions
not listed in ``np_call`` / ``math_call``.
Supported statements: ``for NAME in range/prange(...)`` (1-3 args), ``while cond:``,
``break``/``continue``, ``NAME = e``, ``a, b = x, y``, ``A[i, ...] = e``, augmented assignment (all
binary operators) on names and elements, ``if/elif/else``, ``pass``, docstrings, a final bare
``return``.

Calling convention: the kernel is a CPython ``METH_FASTCALL`` builtin whose body is LLVM code: it
checks each array argument (ndarray, ndim, dtype, native byte order, C-contiguous, aligned,
writeable if written), reads data pointer and shape straight from the ``PyArrayObject`` struct
(offsets verified at start-up), unboxes scalars with ``PyFloat_AsDouble``/``PyLong_AsLongLong``
and calls the kernel, with the GIL released (like Numba's ``nogil=True``) when an array argument
has >= 2**15 elements.
Python-side call overhead, 3 arrays + 2 ints, zero-trip loop (2 shared cores, znver4, Python 3.11):
    this (FASTCALL builtin, checks in LLVM):      0.03-0.08 us  (timeit: 60-80 ns incl. the loop;
                                                  +~55 ns when the GIL is released)
    Numba dispatcher, same source:                0.26-0.46 us
    ctypes CFUNCTYPE + arr.ctypes.data:           3.6-7.6 us
    ctypes + arr.__array_interface__['data'][0]:  5.7-7.2 us
so no int64 argument block is needed: the wrapper reads ``PyArrayObject`` fields directly.

Compile pipeline: AST -> LLVM IR text (allocas for names, mem2reg/SROA does the rest; array
pointers ``noalias``) -> ``parse_assembly`` -> new pass manager O2 with loop + SLP vectorisation ->
``TargetMachine.emit_object`` -> MCJIT ``add_object_file``.  The same object bytes go to the disk
cache (objcache.py), so a cached kernel skips everything but the load.

Measured with benchmarks/bench_llvm_kernels.py on this machine (2 cores shared with other jobs,
load average 4-5 during the runs, so expect about half these times on an idle machine; the
Numba column ran under the same load):
    process: JIT init (target machine + engine) 21-45 ms; first tiny kernel after it 15-35 ms
             (Numba: first tiny kernel including its init 0.7-1.0 s)
    compile per kernel (live chains of loads/arithmetic/tanh/exp/max/ternaries), median:
             5 statements 30-60 ms, 60 statements 55-110 ms, 300 statements 250-525 ms
             (Numba, same sources: 100-200 ms, 300-820 ms, 1.7-3.9 s)
             phases at 5 statements: IR text ~1-3 ms, parse ~1, O2 ~15-35, emit_object ~15-30,
             load ~1; at 300, O2 and codegen dominate because the vectorised loop body is
             emitted twice (vector + remainder loop): without loop vectorisation compiling is
             ~3x faster but that kernel runs 1.8x slower, so vectorisation stays on.
    disk-cache load in a fresh process (after import + init 0.2-0.5 s, mostly funcad's import):
             1 kernel 1.6-1.7 ms; 100 kernels 0.22-0.50 ms each; 1000 kernels 0.18-0.34 ms each
             (177-341 ms in all); checksum + add_object_file + finalize per kernel.
    run time, 1e6 float64 elements (best of 15): elementwise chain 0.48-0.61 ms vs Numba
             0.44-0.61 ms; tanh/copysign example 22-33 ms vs 18-31 ms (libm tanh either way);
             row-sum reduction 0.80-0.84 ms vs 0.79-0.81 ms: the same within noise.

Known differences from Numba (error paths only): ``range`` with a runtime step of 0 runs no
iteration (Numba raises ValueError); ``0.0 ** negative_int`` and ``x ** -k`` whose
power underflows to 0.0 give inf here where Numba raises ZeroDivisionError; shift counts outside
[0, 64) follow NumPy (Numba's are undefined); float -> int casts of NaN / out-of-range values give
INT_MIN (x86 cvttsd2si, what NumPy's C casts give) where Numba's fptosi is undefined.
"""
from __future__ import annotations

import ast
import ctypes
import ctypes.util
import struct
import threading
from dataclasses import dataclass

import numpy as np

from . import objcache


class Unsupported(Exception):
    """Raised at compile time for constructs outside the supported subset."""


@dataclass(frozen=True)
class ArrayArg:
    dtype: object
    ndim: int


@dataclass(frozen=True)
class ScalarArg:
    dtype: object


kernel_stats = {"compiled": 0, "loaded": 0, "memory_hits": 0}

# Read-only 1-d tables a kernel may index as ``_rt.NAME[i]`` (compiled in as LLVM constants;
# the same names exist in funcad's runtime modules for Numba and for plain Python).
CONSTANT_ARRAYS: dict = {}


def register_constant_array(name, array):
    """Make ``_rt.<name>[i]`` readable by kernels: ``array`` (1-d) is compiled in as a constant."""
    a = np.array(array)
    a.flags.writeable = False
    CONSTANT_ARRAYS[name] = a


def _constants_digest(source):
    """What a kernel's object code depends on besides its source: the tables it reads."""
    import hashlib
    h = hashlib.sha256()
    for name in sorted(CONSTANT_ARRAYS):
        if f"_rt.{name}" in source:
            h.update(name.encode() + CONSTANT_ARRAYS[name].tobytes())
    return h.hexdigest()[:16]

# --------------------------------------------------------------------------------------------
# types

_INTS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64,
         "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}
_FLOATS = ("float32", "float64")
_ALL = ("bool",) + tuple(_INTS) + _FLOATS
_SMALL_F32 = {"bool", "int8", "int16", "uint8", "float32"}      # x op float32 -> float32
_UFUNC_F32 = {"bool", "int8", "int16", "uint8", "uint16"}       # np.ufunc(x) -> float32


def _norm_dtype(dt) -> str:
    try:
        d = np.dtype(dt)
    except TypeError as e:
        raise Unsupported(f"dtype {dt!r}") from e
    name = d.name
    if name not in _ALL:
        raise Unsupported(f"dtype {name}")
    return name


def is_float(t):
    return t in _FLOATS


def is_int(t):
    return t in _INTS


def is_uint(t):
    return t.startswith("uint")


def lty(t):
    if t == "bool":
        return "i1"
    if t in _INTS:
        return "i%d" % _INTS[t]
    return "float" if t == "float32" else "double"


def mty(t):
    return "i8" if t == "bool" else lty(t)


def _int_rule(a, b, what):
    ua, ub = is_uint(a), is_uint(b)
    if ua and ub:
        return "uint64"
    if (a == "uint64" and not ub) or (b == "uint64" and not ua):
        raise Unsupported(f"{what} mixing uint64 and a signed integer")
    return "int64"


def arith_type(a, b, what="arithmetic"):
    if is_float(a) or is_float(b):
        if a == "float64" or b == "float64":
            return "float64"
        return "float32" if (a in _SMALL_F32 and b in _SMALL_F32) else "float64"
    return _int_rule(a, b, what)


def ufunc_float(t):
    if is_float(t):
        return t
    return "float32" if t in _UFUNC_F32 else "float64"


def ufunc2_float(a, b):
    fl = [t for t in (a, b) if is_float(t)]
    if fl:
        return "float64" if "float64" in fl else "float32"
    return "float64" if "float64" in (ufunc_float(a), ufunc_float(b)) else "float32"


def math1_float(t):
    return t if is_float(t) else "float64"


def unify(a, b):
    if a == b:
        return a
    r = np.promote_types(a, b).name
    if r not in _ALL:
        raise Unsupported(f"unifying {a} and {b}")
    return r


def _fconst(t, x):
    x = float(x)
    if t == "float32":
        x = float(np.float32(x))
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", x))[0]


class V:
    __slots__ = ("t", "r")

    def __init__(self, t, r):
        self.t = t
        self.r = r


# functions ---------------------------------------------------------------------------------
_INTRINSIC1 = {"sqrt": "sqrt", "exp": "exp", "log": "log", "sin": "sin", "cos": "cos",
               "floor": "floor", "ceil": "ceil", "rint": "rint", "trunc": "trunc",
               "fabs": "fabs", "exp2": "exp2", "log2": "log2", "log10": "log10"}
_LIBM1 = {"tan": "tan", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "asin": "asin",
          "acos": "acos", "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
          "expm1": "expm1", "log1p": "log1p", "erf": "erf", "erfc": "erfc", "lgamma": "lgamma",
          "gamma": "tgamma", "cbrt": "cbrt", "arcsinh": "asinh", "arccosh": "acosh",
          "arctanh": "atanh", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh"}
_NP_UNARY_FLOAT = {"sqrt", "exp", "log", "sin", "cos", "rint", "exp2", "log2", "log10", "tan",
                   "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "expm1", "log1p", "cbrt",
                   "arcsinh", "arccosh", "arctanh"}
_MATH_UNARY_FLOAT = {"sqrt", "exp", "log", "sin", "cos", "exp2", "log2", "log10", "tan", "asin",
                     "acos", "atan", "sinh", "cosh", "tanh", "expm1", "log1p", "erf", "erfc",
                     "lgamma", "gamma", "fabs", "asinh", "acosh", "atanh", "cbrt"}
_CASTS = {"float64": "float64", "float32": "float32", "int64": "int64", "int32": "int32",
          "int16": "int16", "int8": "int8", "uint64": "uint64", "uint32": "uint32",
          "uint16": "uint16", "uint8": "uint8", "bool_": "bool", "bool": "bool", "intp": "int64",
          "double": "float64", "single": "float32", "float_": "float64", "uintp": "uint64"}
_CONSTS = {"nan": float("nan"), "inf": float("inf"), "pi": np.pi, "e": np.e, "tau": 2 * np.pi,
           "NaN": float("nan"), "NINF": float("-inf"), "PINF": float("inf")}

_CMP_I = {ast.Lt: "slt", ast.LtE: "sle", ast.Gt: "sgt", ast.GtE: "sge", ast.Eq: "eq", ast.NotEq: "ne"}
_CMP_U = {ast.Lt: "ult", ast.LtE: "ule", ast.Gt: "ugt", ast.GtE: "uge", ast.Eq: "eq", ast.NotEq: "ne"}
_CMP_F = {ast.Lt: "olt", ast.LtE: "ole", ast.Gt: "ogt", ast.GtE: "oge", ast.Eq: "oeq", ast.NotEq: "une"}
_FM = "reassoc contract arcp nsz afn "
# names the subset gives a meaning to: rebinding them would change what the source means
_RESERVED = frozenset({"np", "numpy", "math", "numba", "nb", "range", "prange", "abs", "min", "max",
                       "round", "float", "int", "bool"})


# --------------------------------------------------------------------------------------------
# code generation

class _Retry(Exception):
    """A name needs a wider type than its first assignment: generate again."""


class _Gen:
    def __init__(self, fdef, arg_types, fastmath, name, widen=None):
        self.widen = widen if widen is not None else {}
        self.fm = _FM if fastmath else ""
        self.name = name
        self.body = []
        self.allocas = []
        self.decls = {}
        self.n = 0
        self.block = "entry"
        self.vars = {}        # name -> (type, alloca)
        self.arrays = {}      # name -> (dtype, ndim, ptr, [dims])
        self.nonneg_loopvars = set()
        self.loop_stop = {}   # nonneg loop var -> ast.dump of its (invariant) range stop
        self.loops = []       # (continue label, break label) of the enclosing loops
        self.fdef = fdef
        self.arg_types = arg_types
        self.written = set()
        self.assigned_elsewhere = set()
        for node in ast.walk(fdef):
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                tgts = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in tgts:
                    for t in (t.elts if isinstance(t, ast.Tuple) else [t]):
                        if isinstance(t, ast.Name):
                            self.assigned_elsewhere.add(t.id)
                        elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                            self.written.add(t.value.id)

    # -- helpers
    def tmp(self):
        self.n += 1
        return "%%t%d" % self.n

    def lbl(self, what):
        self.n += 1
        return "L%d.%s" % (self.n, what)

    def emit(self, s):
        self.body.append("  " + s)

    def start(self, label):
        self.body.append(label + ":")
        self.block = label

    def op(self, s):
        r = self.tmp()
        self.emit(f"{r} = {s}")
        return r

    def declare(self, name, sig):
        self.decls[name] = sig

    def call_f(self, fname, t, args):
        """call a float function (intrinsic 'llvm.x' or libm 'x') of type t on V args already of type t."""
        ty = lty(t)
        if fname.startswith("llvm."):
            full = "%s.%s" % (fname, "f32" if t == "float32" else "f64")
        else:
            full = fname + ("f" if t == "float32" else "")
        # libm functions only set errno, which nothing reads: memory(none) (as Numba declares
        # them) lets the loop vectorizer widen loops around the calls
        attrs = "" if fname.startswith("llvm.") else " nounwind willreturn memory(none)"
        self.declare(full, f"declare {ty} @{full}({', '.join([ty] * len(args))}){attrs}")
        a = ", ".join(f"{ty} {v.r}" for v in args)
        return V(t, self.op(f"call {self.fm}{ty} @{full}({a})"))

    def const(self, t, x):
        if t == "bool":
            return V(t, "true" if x else "false")
        if is_float(t):
            return V(t, _fconst(t, x))
        return V(t, str(int(x)))

    # -- casts
    def cast(self, v, to):
        fr = v.t
        if fr == to:
            return v
        if to == "bool":
            if is_float(fr):
                return V(to, self.op(f"fcmp {self.fm}une {lty(fr)} {v.r}, 0.0"))
            return V(to, self.op(f"icmp ne {lty(fr)} {v.r}, 0"))
        if fr == "bool":
            if is_float(to):
                return V(to, self.op(f"uitofp i1 {v.r} to {lty(to)}"))
            return V(to, self.op(f"zext i1 {v.r} to {lty(to)}"))
        if is_int(fr) and is_int(to):
            bf, bt = _INTS[fr], _INTS[to]
            if bf == bt:
                return V(to, v.r)
            if bf > bt:
                return V(to, self.op(f"trunc {lty(fr)} {v.r} to {lty(to)}"))
            ext = "zext" if is_uint(fr) else "sext"
            return V(to, self.op(f"{ext} {lty(fr)} {v.r} to {lty(to)}"))
        if is_int(fr) and is_float(to):
            c = "uitofp" if is_uint(fr) else "sitofp"
            return V(to, self.op(f"{c} {lty(fr)} {v.r} to {lty(to)}"))
        if is_float(fr) and is_float(to):
            c = "fpext" if to == "float64" else "fptrunc"
            return V(to, self.op(f"{c} {lty(fr)} {v.r} to {lty(to)}"))
        # float -> int: mirror the x86 C casts NumPy uses (cvttsd2si: out of range -> INT_MIN)
        # (fptosi alone is poison out of range: LLVM would fold constants to anything)
        bt = _INTS[to]
        if to == "uint64":
            # gcc's (unsigned long long)double: x < 2**63 ? cvt(x) : cvt(x - 2**63) ^ 2**63
            lo = self.sat_fptosi(v, 64)
            sh = self.op(f"fsub {lty(fr)} {v.r}, {_fconst(fr, 2.0 ** 63)}")
            hi = self.sat_fptosi(V(fr, sh), 64)
            hi = self.op(f"xor i64 {hi}, -9223372036854775808")
            c = self.op(f"fcmp ult {lty(fr)} {v.r}, {_fconst(fr, 2.0 ** 63)}")
            return V(to, self.op(f"select i1 {c}, i64 {lo}, i64 {hi}"))
        wide = 64 if (bt == 64 or to == "uint32") else 32
        r = self.sat_fptosi(v, wide)
        if bt < wide:
            r = self.op(f"trunc i{wide} {r} to i{bt}")
        return V(to, r)

    def sat_fptosi(self, v, wide):
        """fptosi with x86 cvttsd2si semantics: NaN / out of range -> INT_MIN."""
        ty = lty(v.t)
        r = self.op(f"fptosi {ty} {v.r} to i{wide}")
        ge = self.op(f"fcmp oge {ty} {v.r}, {_fconst(v.t, -2.0 ** (wide - 1))}")
        lt = self.op(f"fcmp olt {ty} {v.r}, {_fconst(v.t, 2.0 ** (wide - 1))}")
        ok = self.op(f"and i1 {ge}, {lt}")
        return self.op(f"select i1 {ok}, i{wide} {r}, i{wide} {-(2 ** (wide - 1))}")

    def truth(self, v):
        return self.cast(v, "bool")

    # -- variables
    def alloca(self, t, name):
        p = "%%v.%s.%d" % (name, len(self.allocas))
        self.allocas.append(f"  {p} = alloca {lty(t)}")
        zero = self.const(t, 0).r
        self.allocas.append(f"  store {lty(t)} {zero}, ptr {p}")
        return p

    def setvar(self, name, v):
        if name in _RESERVED:
            raise Unsupported(f"assignment to the reserved name {name!r}")
        if name in self.arrays:
            raise Unsupported(f"assignment to array argument {name!r}")
        if name in self.vars:
            t, p = self.vars[name]
            if t != v.t:
                w = self.widened(t, v.t)
                if w is None:
                    raise Unsupported(f"name {name!r} reassigned with type {v.t} (was {t})")
                if w != t:
                    self.widen[name] = w
                    raise _Retry()
                v = self.cast(v, t)
        else:
            t = self.widen.get(name, v.t)
            v = self.cast(v, t)
            p = self.alloca(t, name)
            self.vars[name] = (t, p)
        self.emit(f"store {lty(v.t)} {v.r}, ptr {p}")

    @staticmethod
    def widened(t, u):
        """The type of a name assigned both ``t`` and ``u`` values, or None (Unsupported).

        Only signed integers widen (like Numba's unification at a phi, e.g. an int32 load
        then ``j += n``); Numba's integer arithmetic is int64 anyway, so the values agree.
        """
        if is_int(t) and is_int(u) and not is_uint(t) and not is_uint(u):
            return t if _INTS[t] >= _INTS[u] else u
        return None

    # -- function
    def build(self):
        fdef = self.fdef
        a = fdef.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.kw_defaults or a.posonlyargs:
            raise Unsupported("only plain positional parameters")
        if fdef.decorator_list:
            raise Unsupported("decorators")
        names = [x.arg for x in a.args]
        for nm in names:
            if nm in _RESERVED:
                raise Unsupported(f"parameter named {nm!r}")
        if len(names) != len(self.arg_types):
            raise Unsupported(f"{len(names)} parameters but {len(self.arg_types)} arg_types")
        params = []
        for nm, at in zip(names, self.arg_types):
            if isinstance(at, ArrayArg):
                dt = _norm_dtype(at.dtype)
                nd = int(at.ndim)
                ptr = "%%p.%s" % nm
                dims = ["%%p.%s.d%d" % (nm, k) for k in range(nd)]
                params.append(f"ptr noalias {ptr}")
                params.extend(f"i64 {d}" for d in dims)
                self.arrays[nm] = (dt, nd, ptr, dims)
            elif isinstance(at, ScalarArg):
                dt = _norm_dtype(at.dtype)
                params.append(f"{lty(dt)} %p.{nm}")
                self.setvar(nm, V(dt, f"%p.{nm}"))
            else:
                raise Unsupported(f"argument type {at!r}")
        body = list(fdef.body)
        if body and isinstance(body[-1], ast.Return):
            r = body.pop()
            if r.value is not None and not (isinstance(r.value, ast.Constant) and r.value.value is None):
                raise Unsupported("return with a value")
        self.stmts(body)
        self.emit("ret void")
        head = [f"define internal void @{self.name}_impl({', '.join(params)}) nounwind {{", "entry:"]
        # the entry block holds allocas + parameter stores; the body continues in it
        start = self.body
        return "\n".join(head + self.allocas + start + ["}"])

    # -- statements
    def stmts(self, body):
        for s in body:
            self.stmt(s)

    def stmt(self, s):
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                raise Unsupported("chained assignment")
            self.assign(s.targets[0], s.value)
        elif isinstance(s, ast.AugAssign):
            self.augassign(s)
        elif isinstance(s, ast.For):
            self.for_(s)
        elif isinstance(s, ast.If):
            self.if_(s)
        elif isinstance(s, ast.While):
            self.while_(s)
        elif isinstance(s, (ast.Break, ast.Continue)):
            self.jump(s)
        elif isinstance(s, ast.Pass):
            pass
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            pass
        elif isinstance(s, ast.AnnAssign):
            raise Unsupported("annotated assignment")
        else:
            raise Unsupported(f"statement {type(s).__name__}: {ast.unparse(s)[:60]}")

    def assign(self, tgt, value):
        if isinstance(tgt, ast.Tuple):
            # a, b = x, y: all values first, then the bindings (Python's order)
            if not (isinstance(value, ast.Tuple) and len(value.elts) == len(tgt.elts)):
                raise Unsupported("tuple assignment from something other than a tuple of the same length")
            if any(isinstance(e, ast.Starred) for e in tgt.elts + value.elts):
                raise Unsupported("starred assignment")
            vals = []
            for t, v in zip(tgt.elts, value.elts):
                if isinstance(t, ast.Subscript):
                    raise Unsupported("tuple assignment to array elements")
                vals.append(self.expr(v))
            for t, v in zip(tgt.elts, vals):
                if not isinstance(t, ast.Name):
                    raise Unsupported(f"assignment target {type(t).__name__}")
                self.setvar(t.id, v)
            return
        if isinstance(tgt, ast.Name):
            self.setvar(tgt.id, self.expr(value))
        elif isinstance(tgt, ast.Subscript):
            ptr, dt = self.element_ptr(tgt, store=True)
            v = self.cast(self.expr(value), dt)
            self.store(ptr, dt, v)
        else:
            raise Unsupported(f"assignment target {type(tgt).__name__}")

    def store(self, ptr, dt, v):
        if dt == "bool":
            r = self.op(f"zext i1 {v.r} to i8")
            self.emit(f"store i8 {r}, ptr {ptr}")
        else:
            self.emit(f"store {lty(dt)} {v.r}, ptr {ptr}")

    def load(self, ptr, dt):
        if dt == "bool":
            r = self.op(f"load i8, ptr {ptr}")
            return V("bool", self.op(f"icmp ne i8 {r}, 0"))
        return V(dt, self.op(f"load {lty(dt)}, ptr {ptr}"))

    def augassign(self, s):
        tgt = s.target
        if isinstance(tgt, ast.Name):
            if tgt.id not in self.vars:
                raise Unsupported(f"augmented assignment to undefined name {tgt.id!r}")
            t, p = self.vars[tgt.id]
            cur = V(t, self.op(f"load {lty(t)}, ptr {p}"))
            r = self.binop(s.op, cur, self.expr(s.value))
            self.setvar(tgt.id, r)
        elif isinstance(tgt, ast.Subscript):
            ptr, dt = self.element_ptr(tgt, store=True)
            cur = self.load(ptr, dt)
            r = self.binop(s.op, cur, self.expr(s.value))
            self.store(ptr, dt, self.cast(r, dt))
        else:
            raise Unsupported(f"augmented assignment target {type(tgt).__name__}")

    def for_(self, s):
        if s.orelse:
            raise Unsupported("for-else")
        if not isinstance(s.target, ast.Name):
            raise Unsupported("for target must be a name")
        it = s.iter
        if not (isinstance(it, ast.Call) and self.fname(it.func) in ("range", "prange")):
            raise Unsupported("for over something other than range/prange")
        if it.keywords or not 1 <= len(it.args) <= 3:
            raise Unsupported("range arguments")
        args = list(it.args)
        step, step_node = 1, None
        if len(args) == 3:
            st = self.literal_int(args[2])
            if st == 0:
                raise Unsupported("range step 0")
            if st is None:
                step_node = args[2]      # runtime step (the generator lifts -1 to -q3)
            else:
                step = st
            args = args[:2]
        if len(args) == 1:
            start_node, stop_node = None, args[0]
        else:
            start_node, stop_node = args
        start = self.index_int(self.expr(start_node)) if start_node is not None else V("int64", "0")
        stop = self.index_int(self.expr(stop_node))
        if step_node is not None:
            stepv = self.index_int(self.expr(step_node))
            spos = self.op(f"icmp sgt i64 {stepv.r}, 0")
            sneg = self.op(f"icmp slt i64 {stepv.r}, 0")
        name = s.target.id
        if name in _RESERVED or name in self.arrays:
            raise Unsupported(f"loop variable {name!r} is reserved or an array")
        if name in self.vars and self.vars[name][0] != "int64":
            raise Unsupported(f"loop variable {name!r} has type {self.vars[name][0]}")
        if name not in self.vars:
            self.vars[name] = ("int64", self.alloca("int64", name))
        ctr = self.alloca("int64", "ctr")
        self.emit(f"store i64 {start.r}, ptr {ctr}")
        head, bodyl, exitl = self.lbl("head"), self.lbl("body"), self.lbl("exit")
        latchl = self.lbl("latch")
        self.emit(f"br label %{head}")
        self.start(head)
        c = self.op(f"load i64, ptr {ctr}")
        if step_node is None:
            cond = self.op(f"icmp {'slt' if step > 0 else 'sgt'} i64 {c}, {stop.r}")
        else:
            # (step > 0 and i < stop) or (step < 0 and i > stop); a zero step (ValueError in
            # Python and Numba) runs no iteration
            lt = self.op(f"icmp slt i64 {c}, {stop.r}")
            gt = self.op(f"icmp sgt i64 {c}, {stop.r}")
            up = self.op(f"and i1 {lt}, {spos}")
            down = self.op(f"and i1 {gt}, {sneg}")
            cond = self.op(f"or i1 {up}, {down}")
        self.emit(f"br i1 {cond}, label %{bodyl}, label %{exitl}")
        self.start(bodyl)
        self.emit(f"store i64 {c}, ptr {self.vars[name][1]}")
        nonneg = (step_node is None and step > 0 and (start_node is None or self.nonneg(start_node))
                  and name not in self.assigned_elsewhere)
        added = nonneg and name not in self.nonneg_loopvars
        if added:
            self.nonneg_loopvars.add(name)
            if self.invariant(stop_node):
                self.loop_stop[name] = ast.dump(stop_node)
        self.loops.append((latchl, exitl))
        self.stmts(s.body)
        self.loops.pop()
        if added:
            self.nonneg_loopvars.discard(name)
            self.loop_stop.pop(name, None)
        self.emit(f"br label %{latchl}")
        self.start(latchl)
        nxt = self.op(f"add {'nsw ' if step == 1 and step_node is None else ''}i64 {c}, "
                      f"{step if step_node is None else stepv.r}")
        self.emit(f"store i64 {nxt}, ptr {ctr}")
        self.emit(f"br label %{head}")
        self.start(exitl)

    def while_(self, s):
        if s.orelse:
            raise Unsupported("while-else")
        head, bodyl, exitl = self.lbl("whead"), self.lbl("wbody"), self.lbl("wexit")
        self.emit(f"br label %{head}")
        self.start(head)
        c = self.truth(self.expr(s.test))
        self.emit(f"br i1 {c.r}, label %{bodyl}, label %{exitl}")
        self.start(bodyl)
        self.loops.append((head, exitl))
        self.stmts(s.body)
        self.loops.pop()
        self.emit(f"br label %{head}")
        self.start(exitl)

    def jump(self, s):
        if not self.loops:
            raise Unsupported(f"{type(s).__name__.lower()} outside a loop")
        cont, brk = self.loops[-1]
        self.emit(f"br label %{brk if isinstance(s, ast.Break) else cont}")
        self.start(self.lbl("dead"))      # code after break/continue: unreachable block

    def if_(self, s):
        if isinstance(s.test, ast.Constant) and isinstance(s.test.value, (bool, int, float)):
            # Numba prunes branches on literal conditions before typing: so do we
            self.stmts(s.body if s.test.value else s.orelse)
            return
        c = self.truth(self.expr(s.test))
        tl, el, xl = self.lbl("then"), self.lbl("else"), self.lbl("endif")
        self.emit(f"br i1 {c.r}, label %{tl}, label %{el}")
        self.start(tl)
        self.stmts(s.body)
        self.emit(f"br label %{xl}")
        self.start(el)
        self.stmts(s.orelse)
        self.emit(f"br label %{xl}")
        self.start(xl)

    # -- indexing
    def literal_int(self, node):
        """The value of an int literal (``3``, ``-3``), else None."""
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant) and type(node.operand.value) is int):
            return -node.operand.value
        return None

    def invariant(self, node):
        """True if ``node`` is made of literals and names never assigned in the body."""
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                if n.id in self.assigned_elsewhere or n.id in self.arrays:
                    return False
            elif not isinstance(n, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop,
                                    ast.Load)):
                return False
        return True

    def nonneg(self, node):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)
                and isinstance(node.right, ast.Name) and node.right.id in self.loop_stop):
            # STOP - i >= 1 and STOP - 1 - i >= 0 for i in range(start >= 0, STOP)
            stop, left = self.loop_stop[node.right.id], node.left
            if ast.dump(left) == stop:
                return True
            if (isinstance(left, ast.BinOp) and isinstance(left.op, ast.Sub)
                    and ast.dump(left.left) == stop and self.literal_int(left.right) in (0, 1)):
                return True
        if isinstance(node, ast.Constant):
            return type(node.value) is int and node.value >= 0
        if isinstance(node, ast.Name):
            return node.id in self.nonneg_loopvars
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            return self.nonneg(node.left) and self.nonneg(node.right)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.FloorDiv, ast.Mod)):
            r = self.literal_int(node.right)
            return self.nonneg(node.left) and r is not None and r > 0
        return False

    def index_int(self, v):
        if not is_int(v.t):
            raise Unsupported(f"index/range value of type {v.t}")
        if v.t == "uint64":
            raise Unsupported("uint64 index/range value")
        return self.cast(v, "int64")

    def constant_array(self, node):
        """(dtype, ndim, pointer, dims) of ``_rt.NAME``, a registered constant array."""
        name = node.attr
        arr = CONSTANT_ARRAYS.get(name)
        if arr is None:
            raise Unsupported(f"_rt.{name} (not a registered constant array)")
        dt = _norm_dtype(arr.dtype)
        if arr.ndim != 1 or dt == "bool":
            raise Unsupported(f"constant array _rt.{name} of ndim {arr.ndim}, dtype {dt}")
        ty = mty(dt)
        vals = ", ".join(f"{ty} {_fconst(dt, v) if is_float(dt) else int(v)}" for v in arr)
        glob = f"@funcad_rt_{name}"
        self.declare(glob, f"{glob} = private unnamed_addr constant [{arr.size} x {ty}] [{vals}]")
        return dt, 1, glob, [str(arr.size)]

    def element_ptr(self, sub, store=False):
        v = sub.value
        if (not store and isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name)
                and v.value.id == "_rt"):
            dt, nd, ptr, dims = self.constant_array(v)
        elif not isinstance(v, ast.Name) or v.id not in self.arrays:
            raise Unsupported(f"subscript of {ast.unparse(v)[:40]} (not an array argument)")
        else:
            dt, nd, ptr, dims = self.arrays[v.id]
        idx = sub.slice
        items = list(idx.elts) if isinstance(idx, ast.Tuple) else [idx]
        if any(isinstance(i, (ast.Slice, ast.Starred)) for i in items):
            raise Unsupported("slicing")
        if len(items) != nd:
            raise Unsupported(f"array {ast.unparse(v)!r} of ndim {nd} indexed with {len(items)} indices")
        if nd == 0:
            return ptr, dt
        flat = None
        for k, node in enumerate(items):
            v = self.index_int(self.expr(node))
            r = v.r
            if not self.nonneg(node):
                neg = self.op(f"icmp slt i64 {r}, 0")
                w = self.op(f"add i64 {r}, {dims[k]}")
                r = self.op(f"select i1 {neg}, i64 {w}, i64 {r}")
            if flat is None:
                flat = r
            else:
                m = self.op(f"mul nsw i64 {flat}, {dims[k]}")
                flat = self.op(f"add nsw i64 {m}, {r}")
        return self.op(f"getelementptr inbounds {mty(dt)}, ptr {ptr}, i64 {flat}"), dt

    # -- expressions
    def fname(self, f):
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            mod = {"np": "np", "numpy": "np", "math": "math", "numba": "numba", "nb": "numba"}.get(f.value.id)
            if mod == "numba" and f.attr == "prange":
                return "prange"
            if mod:
                return f"{mod}.{f.attr}"
        raise Unsupported(f"callee {ast.dump(f)[:60]}")

    def expr(self, e):
        m = getattr(self, "e_" + type(e).__name__, None)
        if m is None:
            raise Unsupported(f"expression {type(e).__name__}")
        return m(e)

    def e_Constant(self, e):
        x = e.value
        if type(x) is bool:
            return self.const("bool", x)
        if type(x) is int:
            if not -(2 ** 63) <= x < 2 ** 63:
                raise Unsupported("int literal out of int64 range")
            return self.const("int64", x)
        if type(x) is float:
            return self.const("float64", x)
        raise Unsupported(f"constant of type {type(x).__name__}")

    def e_Name(self, e):
        if e.id in self.vars:
            t, p = self.vars[e.id]
            return V(t, self.op(f"load {lty(t)}, ptr {p}"))
        if e.id in self.arrays:
            raise Unsupported(f"array {e.id!r} used as a value")
        raise Unsupported(f"name {e.id!r} read before assignment (or unknown)")

    def e_Attribute(self, e):
        if isinstance(e.value, ast.Name) and e.value.id in ("np", "numpy", "math") and e.attr in _CONSTS:
            if e.value.id == "math" and e.attr not in ("nan", "inf", "pi", "e", "tau"):
                raise Unsupported(f"math.{e.attr}")
            return self.const("float64", _CONSTS[e.attr])
        raise Unsupported(f"attribute {ast.unparse(e)}")

    def e_Subscript(self, e):
        ptr, dt = self.element_ptr(e)
        return self.load(ptr, dt)

    def e_UnaryOp(self, e):
        v = self.expr(e.operand)
        t = v.t
        if isinstance(e.op, ast.Not):
            b = self.truth(v)
            return V("bool", self.op(f"xor i1 {b.r}, true"))
        if isinstance(e.op, ast.Invert):
            if t == "bool":
                return V("bool", self.op(f"xor i1 {v.r}, true"))
            if is_float(t):
                raise Unsupported("~ on a float")
            # Numba computes ~ and - in the operand's own width, then widens
            rt = "uint64" if is_uint(t) else "int64"
            return self.cast(V(t, self.op(f"xor {lty(t)} {v.r}, -1")), rt)
        rt = t if is_float(t) else ("uint64" if is_uint(t) else "int64")
        if isinstance(e.op, ast.UAdd):
            return self.cast(v, rt)
        if is_float(rt):
            return V(rt, self.op(f"fneg {self.fm}{lty(rt)} {v.r}"))
        if t == "bool":
            v = self.cast(v, "int64")
            t = "int64"
        return self.cast(V(t, self.op(f"sub {lty(t)} 0, {v.r}")), rt)

    def e_BinOp(self, e):
        a = self.expr(e.left)
        if isinstance(e.op, ast.Pow):
            return self.power(a, e.right)
        return self.binop(e.op, a, self.expr(e.right))

    def binop(self, opn, a, b):
        if isinstance(opn, ast.Pow):
            raise Unsupported("augmented **")
        if isinstance(opn, (ast.BitAnd, ast.BitOr, ast.BitXor)):
            if is_float(a.t) or is_float(b.t):
                raise Unsupported("bitwise op on a float")
            rt = "bool" if (a.t == "bool" and b.t == "bool") else _int_rule(a.t, b.t, "bitwise op")
            a, b = self.cast(a, rt), self.cast(b, rt)
            ins = {ast.BitAnd: "and", ast.BitOr: "or", ast.BitXor: "xor"}[type(opn)]
            return V(rt, self.op(f"{ins} {lty(rt)} {a.r}, {b.r}"))
        if isinstance(opn, (ast.LShift, ast.RShift)):
            if is_float(a.t) or is_float(b.t):
                raise Unsupported("shift of a float")
            rt = "uint64" if is_uint(a.t) else "int64"
            a, b = self.cast(a, rt), self.cast(b, rt)
            ok = self.op(f"icmp ult i64 {b.r}, 64")
            if isinstance(opn, ast.LShift):
                r = self.op(f"shl i64 {a.r}, {b.r}")
                return V(rt, self.op(f"select i1 {ok}, i64 {r}, i64 0"))
            if rt == "int64":
                cnt = self.op(f"select i1 {ok}, i64 {b.r}, i64 63")
                return V(rt, self.op(f"ashr i64 {a.r}, {cnt}"))
            r = self.op(f"lshr i64 {a.r}, {b.r}")
            return V(rt, self.op(f"select i1 {ok}, i64 {r}, i64 0"))
        if isinstance(opn, ast.Div):
            rt = "float64" if not (is_float(a.t) or is_float(b.t)) else arith_type(a.t, b.t)
        elif isinstance(opn, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)):
            rt = arith_type(a.t, b.t)
        else:
            raise Unsupported(f"operator {type(opn).__name__}")
        a, b = self.cast(a, rt), self.cast(b, rt)
        ty = lty(rt)
        if is_float(rt):
            fm = self.fm
            simple = {ast.Add: "fadd", ast.Sub: "fsub", ast.Mult: "fmul", ast.Div: "fdiv"}
            if type(opn) in simple:
                return V(rt, self.op(f"{simple[type(opn)]} {fm}{ty} {a.r}, {b.r}"))
            return self.float_divmod(a, b, isinstance(opn, ast.FloorDiv))
        simple = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul"}
        if type(opn) in simple:
            return V(rt, self.op(f"{simple[type(opn)]} i64 {a.r}, {b.r}"))
        return self.int_divmod(a, b, isinstance(opn, ast.FloorDiv))

    def int_divmod(self, a, b, floordiv):
        rt = a.t
        z = self.op(f"icmp eq i64 {b.r}, 0")
        if rt == "uint64":
            bs = self.op(f"select i1 {z}, i64 1, i64 {b.r}")
            r = self.op(f"{'udiv' if floordiv else 'urem'} i64 {a.r}, {bs}")
            return V(rt, self.op(f"select i1 {z}, i64 0, i64 {r}"))
        m1 = self.op(f"icmp eq i64 {b.r}, -1")
        bad = self.op(f"or i1 {z}, {m1}")
        bs = self.op(f"select i1 {bad}, i64 1, i64 {b.r}")
        q = self.op(f"sdiv i64 {a.r}, {bs}")
        r = self.op(f"srem i64 {a.r}, {bs}")
        rnz = self.op(f"icmp ne i64 {r}, 0")
        x = self.op(f"xor i64 {r}, {bs}")
        neg = self.op(f"icmp slt i64 {x}, 0")
        adj = self.op(f"and i1 {rnz}, {neg}")
        if floordiv:
            adjz = self.op(f"zext i1 {adj} to i64")
            q1 = self.op(f"sub i64 {q}, {adjz}")
            na = self.op(f"sub i64 0, {a.r}")
            res = self.op(f"select i1 {m1}, i64 {na}, i64 {q1}")
        else:
            rb = self.op(f"add i64 {r}, {bs}")
            r1 = self.op(f"select i1 {adj}, i64 {rb}, i64 {r}")
            res = self.op(f"select i1 {m1}, i64 0, i64 {r1}")
        return V(rt, self.op(f"select i1 {z}, i64 0, i64 {res}"))

    def float_divmod(self, a, b, floordiv):
        t = a.t
        ty, fm = lty(t), self.fm
        zero, one = _fconst(t, 0.0), _fconst(t, 1.0)
        mod = self.op(f"frem {fm}{ty} {a.r}, {b.r}")
        bz = self.op(f"fcmp oeq {ty} {b.r}, {zero}")
        if floordiv:
            qz = self.op(f"fdiv {fm}{ty} {a.r}, {b.r}")
        diff = self.op(f"fsub {fm}{ty} {a.r}, {mod}")
        div = self.op(f"fdiv {fm}{ty} {diff}, {b.r}")
        modnz = self.op(f"fcmp une {ty} {mod}, {zero}")
        bneg = self.op(f"fcmp olt {ty} {b.r}, {zero}")
        mneg = self.op(f"fcmp olt {ty} {mod}, {zero}")
        differ = self.op(f"xor i1 {bneg}, {mneg}")
        adj = self.op(f"and i1 {modnz}, {differ}")
        if not floordiv:
            mb = self.op(f"fadd {fm}{ty} {mod}, {b.r}")
            mod1 = self.op(f"select i1 {adj}, {ty} {mb}, {ty} {mod}")
            z = self.call_f("llvm.copysign", t, [V(t, zero), b])
            mod2 = self.op(f"select i1 {modnz}, {ty} {mod1}, {ty} {z.r}")
            return V(t, self.op(f"select i1 {bz}, {ty} {mod}, {ty} {mod2}"))
        dm = self.op(f"fsub {fm}{ty} {div}, {one}")
        div1 = self.op(f"select i1 {adj}, {ty} {dm}, {ty} {div}")
        divnz = self.op(f"fcmp une {ty} {div1}, {zero}")
        fl = self.call_f("llvm.floor", t, [V(t, div1)])
        d = self.op(f"fsub {fm}{ty} {div1}, {fl.r}")
        gt = self.op(f"fcmp ogt {ty} {d}, {_fconst(t, 0.5)}")
        fl1 = self.op(f"fadd {fm}{ty} {fl.r}, {one}")
        fl2 = self.op(f"select i1 {gt}, {ty} {fl1}, {ty} {fl.r}")
        q0 = self.op(f"fdiv {fm}{ty} {a.r}, {b.r}")
        zq = self.call_f("llvm.copysign", t, [V(t, zero), V(t, q0)])
        q = self.op(f"select i1 {divnz}, {ty} {fl2}, {ty} {zq.r}")
        return V(t, self.op(f"select i1 {bz}, {ty} {qz}, {ty} {q}"))

    def power(self, a, right):
        lit = self.literal_int(right)
        if (lit is None and isinstance(right, ast.Call) and len(right.args) == 1 and not right.keywords
                and isinstance(right.func, ast.Attribute) and isinstance(right.func.value, ast.Name)
                and right.func.value.id in ("np", "numpy") and right.func.attr in _CASTS
                and is_int(_CASTS[right.func.attr])):
            # x ** np.int64(3): Numba's runtime int_power, which for exponents >= 0 multiplies
            # exactly like the unrolled literal case
            k = self.literal_int(right.args[0])
            if k is not None and 0 <= k <= np.iinfo(_CASTS[right.func.attr]).max:
                lit = k
        if a.t == "bool":
            raise Unsupported("** on a bool")
        if lit is not None:
            b_t = "int64"
        else:
            b = self.expr(right)
            b_t = b.t
            if b_t == "bool":
                raise Unsupported("** with a bool exponent")
        if is_float(b_t):
            rt = arith_type(a.t, b_t)
            a, b = self.cast(a, rt), self.cast(b, rt)
            return self.call_f("llvm.pow", rt, [a, b])
        # integer exponent
        rt = "float32" if a.t == "float32" else arith_type(a.t, b_t)
        if lit is None:
            if not is_float(rt):
                raise Unsupported("int ** int with a non-literal exponent")
            return self.powi_runtime(self.cast(a, rt), self.cast(b, "int64"))
        if not is_float(rt) and lit < 0:
            raise Unsupported("int ** negative int")
        if abs(lit) > 0x10000:
            raise Unsupported("huge literal exponent")
        a = self.cast(a, rt)
        ty = lty(rt)
        mul = "fmul " + self.fm if is_float(rt) else "mul "
        res = self.const(rt, 1).r
        val = a.r
        ex = abs(lit)
        while ex:
            if ex & 1:
                res = self.op(f"{mul}{ty} {res}, {val}")
            ex >>= 1
            if ex:
                val = self.op(f"{mul}{ty} {val}, {val}")
        if lit < 0:
            res = self.op(f"fdiv {self.fm}{ty} {_fconst(rt, 1.0)}, {res}")
        return V(rt, res)

    def powi_runtime(self, a, b):
        """float ** int (runtime exponent): Numba's int_power (square-and-multiply)."""
        t = a.t
        ty = lty(t)
        fname = f"__funcad_powi_{t}"
        if fname not in self.decls:
            one = _fconst(t, 1.0)
            self.decls[fname] = f"""define internal {ty} @{fname}({ty} %a, i64 %b) alwaysinline nounwind {{
entry:
  %neg = icmp slt i64 %b, 0
  %nb = sub i64 0, %b
  %e = select i1 %neg, i64 %nb, i64 %b
  %big = icmp ugt i64 %e, 65536
  br i1 %big, label %slow, label %loop
slow:
  %bf = sitofp i64 %b to double
  %ad = {'fpext float %a to double' if t == 'float32' else 'fadd double %a, 0.0'}
  %pd = call double @llvm.pow.f64(double %ad, double %bf)
  %p = {'fptrunc double %pd to float' if t == 'float32' else 'fadd double %pd, 0.0'}
  ret {ty} %p
loop:
  %r = phi {ty} [{one}, %entry], [%r2, %cont]
  %x = phi {ty} [%a, %entry], [%x2, %cont]
  %k = phi i64 [%e, %entry], [%k2, %cont]
  %done = icmp eq i64 %k, 0
  br i1 %done, label %fin, label %body
body:
  %odd = and i64 %k, 1
  %isodd = icmp ne i64 %odd, 0
  %rm = fmul {ty} %r, %x
  %r2 = select i1 %isodd, {ty} %rm, {ty} %r
  %k2 = lshr i64 %k, 1
  %x2 = fmul {ty} %x, %x
  br label %cont
cont:
  br label %loop
fin:
  %inv = fdiv {ty} {one}, %r
  %res = select i1 %neg, {ty} %inv, {ty} %r
  ret {ty} %res
}}"""
            self.declare("llvm.pow.f64", "declare double @llvm.pow.f64(double, double)")
        return V(t, self.op(f"call {ty} @{fname}({ty} {a.r}, i64 {b.r})"))

    def compare(self, opn, a, b):
        if a.t == "bool" and b.t == "bool":
            dom = "int64"
        elif is_float(a.t) or is_float(b.t):
            dom = arith_type(a.t, b.t)
        else:
            dom = _int_rule(a.t, b.t, "comparison")
        a, b = self.cast(a, dom), self.cast(b, dom)
        if is_float(dom):
            return V("bool", self.op(f"fcmp {self.fm}{_CMP_F[type(opn)]} {lty(dom)} {a.r}, {b.r}"))
        tab = _CMP_U if dom == "uint64" else _CMP_I
        return V("bool", self.op(f"icmp {tab[type(opn)]} i64 {a.r}, {b.r}"))

    def e_Compare(self, e):
        for o in e.ops:
            if type(o) not in _CMP_I:
                raise Unsupported(f"comparison {type(o).__name__}")
        left = self.expr(e.left)
        if len(e.ops) == 1:
            return self.compare(e.ops[0], left, self.expr(e.comparators[0]))
        end = self.lbl("cmpend")
        incoming = []
        for k, (o, c) in enumerate(zip(e.ops, e.comparators)):
            right = self.expr(c)
            r = self.compare(o, left, right)
            if k == len(e.ops) - 1:
                incoming.append((r.r, self.block))
                self.emit(f"br label %{end}")
            else:
                nxt = self.lbl("cmpnext")
                incoming.append(("false", self.block))
                self.emit(f"br i1 {r.r}, label %{nxt}, label %{end}")
                self.start(nxt)
            left = right
        self.start(end)
        phis = ", ".join(f"[{v}, %{blk}]" for v, blk in incoming)
        return V("bool", self.op(f"phi i1 {phis}"))

    def e_BoolOp(self, e):
        is_and = isinstance(e.op, ast.And)
        end = self.lbl("boolend")
        incoming = []
        for k, node in enumerate(e.values):
            v = self.expr(node)
            if v.t != "bool":
                raise Unsupported("and/or on non-bool operands")
            if k == len(e.values) - 1:
                incoming.append((v.r, self.block))
                self.emit(f"br label %{end}")
            else:
                nxt = self.lbl("boolnext")
                incoming.append(("false" if is_and else "true", self.block))
                if is_and:
                    self.emit(f"br i1 {v.r}, label %{nxt}, label %{end}")
                else:
                    self.emit(f"br i1 {v.r}, label %{end}, label %{nxt}")
                self.start(nxt)
        self.start(end)
        phis = ", ".join(f"[{v}, %{blk}]" for v, blk in incoming)
        return V("bool", self.op(f"phi i1 {phis}"))

    def e_IfExp(self, e):
        if isinstance(e.test, ast.Constant) and isinstance(e.test.value, (bool, int, float)):
            return self.expr(e.body if e.test.value else e.orelse)     # Numba prunes these too
        c = self.truth(self.expr(e.test))
        tl, el, xl = self.lbl("tern_t"), self.lbl("tern_f"), self.lbl("tern_end")
        self.emit(f"br i1 {c.r}, label %{tl}, label %{el}")
        # generate both branches into separate buffers, then unify types
        self.start(tl)
        a = self.expr(e.body)
        a_body_mark = len(self.body)
        a_blk = self.block
        self.start(el)
        b = self.expr(e.orelse)
        rt = unify(a.t, b.t)
        b = self.cast(b, rt)
        b_blk = self.block
        self.emit(f"br label %{xl}")
        # insert the cast of a at the end of a's branch
        saved = self.body
        self.body = []
        a = self.cast(a, rt)
        self.emit(f"br label %{xl}")
        saved[a_body_mark:a_body_mark] = self.body
        self.body = saved
        self.start(xl)
        return V(rt, self.op(f"phi {lty(rt)} [{a.r}, %{a_blk}], [{b.r}, %{b_blk}]"))

    # -- calls
    def e_Call(self, e):
        if e.keywords:
            raise Unsupported("keyword arguments")
        if isinstance(e.func, ast.Attribute) and e.func.attr == "view":
            return self.view(e)
        fn = self.fname(e.func)
        if any(isinstance(a, ast.Starred) for a in e.args):
            raise Unsupported("*args")
        mod, _, base = fn.rpartition(".")
        nargs = len(e.args)

        def need(n):
            if nargs != n:
                raise Unsupported(f"{fn} with {nargs} arguments")

        # casts
        if (mod == "np" and base in _CASTS) or (mod == "" and base in ("float", "int", "bool")):
            need(1)
            to = _CASTS[base] if mod == "np" else {"float": "float64", "int": "int64", "bool": "bool"}[base]
            lit = self.literal_int(e.args[0])
            if lit is not None and is_int(to):
                info = np.iinfo(to)
                if not info.min <= lit <= info.max:
                    raise Unsupported(f"literal {lit} out of range for {to}")
                return V(to, str(lit - 2 ** 64 if lit >= 2 ** 63 else lit))
            return self.cast(self.expr(e.args[0]), to)
        if mod == "" and base in ("min", "max"):
            if nargs < 2:
                raise Unsupported(f"{fn} with {nargs} arguments")
            vals = [self.expr(a) for a in e.args]
            rt = vals[0].t
            for v in vals[1:]:
                rt = unify(rt, v.t)
            acc = self.cast(vals[0], rt)
            for v in vals[1:]:
                v = self.cast(v, rt)
                c = self.compare(ast.Gt() if base == "max" else ast.Lt(), v, acc)
                acc = V(rt, self.op(f"select i1 {c.r}, {lty(rt)} {v.r}, {lty(rt)} {acc.r}"))
            return acc
        if mod == "" and base == "abs" or fn in ("np.abs", "np.absolute"):
            need(1)
            v = self.expr(e.args[0])
            if v.t == "bool":
                return v if mod == "np" else self.cast(v, "int8")
            return self.absval(v)
        if mod == "" and base == "round":
            need(1)
            v = self.expr(e.args[0])
            if is_float(v.t):
                v = self.call_f("llvm.rint", v.t, [v])
            return self.cast(v, "int64")
        if mod not in ("np", "math"):
            raise Unsupported(f"call to {fn}")
        args = [self.expr(a) for a in e.args]
        if base in ("isnan", "isinf", "isfinite"):
            need(1)
            v = args[0]
            if not is_float(v.t):
                return self.const("bool", base == "isfinite")
            if base == "isnan":
                return V("bool", self.op(f"fcmp uno {lty(v.t)} {v.r}, {v.r}"))
            a = self.call_f("llvm.fabs", v.t, [v])
            inf = _fconst(v.t, float("inf"))
            pred = "oeq" if base == "isinf" else "one"
            return V("bool", self.op(f"fcmp {pred} {lty(v.t)} {a.r}, {inf}"))
        if mod == "np":
            return self.np_call(base, args, need)
        return self.math_call(base, args, need)

    def view(self, e):
        """``np.float64(x).view(np.int64)``: the same bits as another dtype of the same width
        (Numba accepts ``.view`` on a scalar made by a dtype call, NumPy on any scalar)."""
        if len(e.args) != 1:
            raise Unsupported(".view with %d arguments" % len(e.args))
        to = self.fname(e.args[0])
        mod, _, base = to.rpartition(".")
        if mod != "np" or base not in _CASTS or _CASTS[base] == "bool":
            raise Unsupported(f".view({to})")
        to = _CASTS[base]
        v = self.expr(e.func.value)
        if v.t == to:
            return v
        if v.t == "bool":
            raise Unsupported(".view of bool")
        width = {"float32": 32, "float64": 64}
        if (width.get(v.t) or _INTS[v.t]) != (width.get(to) or _INTS[to]):
            raise Unsupported(f".view from {v.t} to {to}")
        if lty(v.t) == lty(to):          # int64 <-> uint64: the same LLVM value
            return V(to, v.r)
        return V(to, self.op(f"bitcast {lty(v.t)} {v.r} to {lty(to)}"))

    def absval(self, v):
        if is_float(v.t):
            return self.call_f("llvm.fabs", v.t, [v])
        if is_uint(v.t):
            return v
        ty = lty(v.t)
        neg = self.op(f"icmp slt {ty} {v.r}, 0")
        n = self.op(f"sub {ty} 0, {v.r}")
        return V(v.t, self.op(f"select i1 {neg}, {ty} {n}, {ty} {v.r}"))

    def np_call(self, base, args, need):
        if base in ("floor", "ceil", "trunc", "fix") and base != "fix":
            need(1)
            v = args[0]
            if not is_float(v.t):
                return v
            return self.call_f("llvm." + base, v.t, [v])
        if base in ("round", "around", "round_"):
            need(1)
            v = args[0]
            if is_float(v.t):
                return self.call_f("llvm.rint", v.t, [v])
            if v.t in ("bool", "uint64"):
                raise Unsupported(f"np.round of {v.t}")
            return self.cast(v, "int64")
        if base == "sign":
            need(1)
            v = args[0]
            if v.t == "bool":
                v = self.cast(v, "int8")
            if is_uint(v.t):
                raise Unsupported("np.sign on unsigned ints (Numba compares them as signed)")
            ty = lty(v.t)
            if is_float(v.t):
                one, mone, zero = _fconst(v.t, 1.0), _fconst(v.t, -1.0), _fconst(v.t, 0.0)
                gt = self.op(f"fcmp ogt {ty} {v.r}, {zero}")
                lt = self.op(f"fcmp olt {ty} {v.r}, {zero}")
                # Numba: x > 0 -> 1, x < 0 -> -1, else x (keeps -0.0 and NaN; NumPy gives +0.0)
                r = self.op(f"select i1 {lt}, {ty} {mone}, {ty} {v.r}")
                return V(v.t, self.op(f"select i1 {gt}, {ty} {one}, {ty} {r}"))
            pred_gt, pred_lt = ("ugt", "ult") if is_uint(v.t) else ("sgt", "slt")
            gt = self.op(f"icmp {pred_gt} {ty} {v.r}, 0")
            lt = self.op(f"icmp {pred_lt} {ty} {v.r}, 0")
            g = self.op(f"zext i1 {gt} to {ty}")
            s = self.op(f"zext i1 {lt} to {ty}")
            return V(v.t, self.op(f"sub {ty} {g}, {s}"))
        if base in _NP_UNARY_FLOAT:
            need(1)
            t = ufunc_float(args[0].t)
            v = self.cast(args[0], t)
            if base in _INTRINSIC1:
                return self.call_f("llvm." + _INTRINSIC1[base], t, [v])
            return self.call_f(_LIBM1[base], t, [v])
        if base in ("arctan2", "copysign", "nextafter", "hypot"):
            need(2)
            t = ufunc2_float(args[0].t, args[1].t)
            a, b = self.cast(args[0], t), self.cast(args[1], t)
            fname = {"arctan2": "atan2", "copysign": "llvm.copysign", "nextafter": "nextafter",
                     "hypot": "hypot"}[base]
            return self.call_f(fname, t, [a, b])
        if base in ("fmod", "power"):
            need(2)
            a, b = args
            fl = [x.t for x in (a, b) if is_float(x.t)]
            if fl:
                t = "float64" if "float64" in fl else "float32"
            else:
                t = unify(a.t, b.t)
                if a.t == b.t == "bool":
                    t = "int8"
            if is_float(t):
                a, b = self.cast(a, t), self.cast(b, t)
                if base == "fmod":
                    return V(t, self.op(f"frem {self.fm}{lty(t)} {a.r}, {b.r}"))
                return self.call_f("llvm.pow", t, [a, b])
            if base == "power":
                raise Unsupported("np.power on integers")
            raise Unsupported("np.fmod on integers (Numba uses an unsigned remainder)")
        raise Unsupported(f"np.{base}")

    def math_call(self, base, args, need):
        if base in ("floor", "ceil", "trunc"):
            need(1)
            v = args[0]
            if is_float(v.t):
                v = self.call_f("llvm." + base, v.t, [v])
                return self.cast(v, "int64")
            return self.cast(v, "uint64" if is_uint(v.t) else "int64")
        if base in _MATH_UNARY_FLOAT:
            need(1)
            t = math1_float(args[0].t)
            v = self.cast(args[0], t)
            if base in _INTRINSIC1:
                return self.call_f("llvm." + _INTRINSIC1[base], t, [v])
            return self.call_f(_LIBM1[base], t, [v])
        if base in ("atan2", "pow", "copysign", "hypot", "nextafter"):
            need(2)
            a, b = args
            if not (is_float(a.t) or is_float(b.t)):
                if base in ("copysign", "nextafter"):
                    raise Unsupported(f"math.{base} on integers")
                t = "float64"
            else:
                t = arith_type(a.t, b.t)
            a, b = self.cast(a, t), self.cast(b, t)
            fname = {"atan2": "atan2", "pow": "llvm.pow", "copysign": "llvm.copysign",
                     "hypot": "hypot", "nextafter": "nextafter"}[base]
            return self.call_f(fname, t, [a, b])
        raise Unsupported(f"math.{base}")


# --------------------------------------------------------------------------------------------
# wrapper: METH_FASTCALL entry point that validates and unboxes the arguments

_NPY_C_CONTIGUOUS, _NPY_ALIGNED, _NPY_WRITEABLE = 0x1, 0x100, 0x400
_NOGIL_MIN_SIZE = 1 << 15


def _type_nums(dt):
    target = np.dtype(dt)
    nums = set()
    for c in np.typecodes["All"]:
        try:
            d = np.dtype(c)
        except TypeError:
            continue
        if d.kind == target.kind and d.itemsize == target.itemsize:
            nums.add(d.num)
    return sorted(nums)


def _wrapper_ir(name, arg_names, arg_types):
    out, strings = [], []
    n = [0]

    def t():
        n[0] += 1
        return "%%w%d" % n[0]

    def err(msg):
        k = len(strings)
        data = msg.encode() + b"\x00"
        strings.append(f"@{name}.msg{k} = private unnamed_addr constant [{len(data)} x i8] c\""
                       + "".join("\\%02X" % b for b in data) + "\"")
        lbl = f"err{k}"
        return lbl, (f"{lbl}:\n  call void @PyErr_SetString(ptr @funcad_TypeError, ptr @{name}.msg{k})\n"
                     "  ret ptr null")

    errs = []
    call_args = []
    sizes = []
    out.append(f"define ptr @{name}(ptr %self, ptr %args, i64 %nargs) {{")
    out.append("entry:")
    lbl, body = err(f"{name}() takes exactly {len(arg_types)} positional arguments")
    errs.append(body)
    ok = t()
    out.append(f"  {ok} = icmp eq i64 %nargs, {len(arg_types)}")
    out.append(f"  br i1 {ok}, label %arg0, label %{lbl}")
    for k, (nm, at) in enumerate(zip(arg_names, arg_types)):
        out.append(f"arg{k}:")
        slot = t()
        out.append(f"  {slot} = getelementptr ptr, ptr %args, i64 {k}")
        o = t()
        out.append(f"  {o} = load ptr, ptr {slot}")
        nxt = f"arg{k + 1}"
        if isinstance(at, _WArg):
            dt = _norm_dtype(at.dtype)
            nd = int(at.ndim)
            flags = _NPY_C_CONTIGUOUS | _NPY_ALIGNED | (_NPY_WRITEABLE if at.written else 0)
            lbl, body = err(f"argument {k} ({nm}) must be a {'writeable ' if at.written else ''}"
                            f"C-contiguous aligned native {dt} ndarray with ndim={nd}")
            errs.append(body)
            tp = t()
            out.append(f"  {tp} = getelementptr i8, ptr {o}, i64 8")
            ty = t()
            out.append(f"  {ty} = load ptr, ptr {tp}")
            ex = t()
            out.append(f"  {ex} = icmp eq ptr {ty}, @funcad_ndarray")
            out.append(f"  br i1 {ex}, label %arg{k}.ok, label %arg{k}.sub")
            out.append(f"arg{k}.sub:")
            s = t()
            out.append(f"  {s} = call i32 @PyType_IsSubtype(ptr {ty}, ptr @funcad_ndarray)")
            sb = t()
            out.append(f"  {sb} = icmp ne i32 {s}, 0")
            out.append(f"  br i1 {sb}, label %arg{k}.ok, label %{lbl}")
            out.append(f"arg{k}.ok:")
            conds = []
            p = t()
            out.append(f"  {p} = getelementptr i8, ptr {o}, i64 {_OFF['nd']}")
            v = t()
            out.append(f"  {v} = load i32, ptr {p}")
            c = t()
            out.append(f"  {c} = icmp eq i32 {v}, {nd}")
            conds.append(c)
            p = t()
            out.append(f"  {p} = getelementptr i8, ptr {o}, i64 {_OFF['flags']}")
            v = t()
            out.append(f"  {v} = load i32, ptr {p}")
            m = t()
            out.append(f"  {m} = and i32 {v}, {flags}")
            c = t()
            out.append(f"  {c} = icmp eq i32 {m}, {flags}")
            conds.append(c)
            p = t()
            out.append(f"  {p} = getelementptr i8, ptr {o}, i64 {_OFF['descr']}")
            d = t()
            out.append(f"  {d} = load ptr, ptr {p}")
            p = t()
            out.append(f"  {p} = getelementptr i8, ptr {d}, i64 {_OFF['type_num']}")
            tn = t()
            out.append(f"  {tn} = load i32, ptr {p}")
            anyc = None
            for num in _type_nums(dt):
                c = t()
                out.append(f"  {c} = icmp eq i32 {tn}, {num}")
                if anyc is None:
                    anyc = c
                else:
                    c2 = t()
                    out.append(f"  {c2} = or i1 {anyc}, {c}")
                    anyc = c2
            conds.append(anyc)
            if np.dtype(dt).itemsize > 1:
                p = t()
                out.append(f"  {p} = getelementptr i8, ptr {d}, i64 {_OFF['byteorder']}")
                bo = t()
                out.append(f"  {bo} = load i8, ptr {p}")
                c = t()
                out.append(f"  {c} = icmp ne i8 {bo}, {ord(_NONNATIVE)}")
                conds.append(c)
            acc = conds[0]
            for c in conds[1:]:
                a2 = t()
                out.append(f"  {a2} = and i1 {acc}, {c}")
                acc = a2
            out.append(f"  br i1 {acc}, label %arg{k}.go, label %{lbl}")
            out.append(f"arg{k}.go:")
            p = t()
            out.append(f"  {p} = getelementptr i8, ptr {o}, i64 {_OFF['data']}")
            data = t()
            out.append(f"  {data} = load ptr, ptr {p}")
            call_args.append(f"ptr {data}")
            p = t()
            out.append(f"  {p} = getelementptr i8, ptr {o}, i64 {_OFF['dimensions']}")
            dims = t()
            out.append(f"  {dims} = load ptr, ptr {p}")
            size = "1"
            for j in range(nd):
                p = t()
                out.append(f"  {p} = getelementptr i64, ptr {dims}, i64 {j}")
                dv = t()
                out.append(f"  {dv} = load i64, ptr {p}")
                call_args.append(f"i64 {dv}")
                sz = t()
                out.append(f"  {sz} = mul i64 {size}, {dv}")
                size = sz
            sizes.append(size)
            out.append(f"  br label %{nxt}")
        else:
            dt = _norm_dtype(at.dtype)
            if is_float(dt):
                v = t()
                out.append(f"  {v} = call double @PyFloat_AsDouble(ptr {o})")
                bad = t()
                out.append(f"  {bad} = fcmp oeq double {v}, -1.0")
                conv = v
                if dt == "float32":
                    conv = t()
                    out.append(f"  {conv} = fptrunc double {v} to float")
            elif dt == "bool":
                v = t()
                out.append(f"  {v} = call i32 @PyObject_IsTrue(ptr {o})")
                bad = t()
                out.append(f"  {bad} = icmp slt i32 {v}, 0")
                conv = t()
                out.append(f"  {conv} = icmp ne i32 {v}, 0")
            else:
                fn = "PyLong_AsUnsignedLongLongMask" if is_uint(dt) else "PyLong_AsLongLong"
                v = t()
                out.append(f"  {v} = call i64 @{fn}(ptr {o})")
                bad = t()
                out.append(f"  {bad} = icmp eq i64 {v}, -1")
                conv = v
                if _INTS[dt] < 64:
                    conv = t()
                    out.append(f"  {conv} = trunc i64 {v} to {lty(dt)}")
            out.append(f"  br i1 {bad}, label %arg{k}.chk, label %{nxt}")
            out.append(f"arg{k}.chk:")
            pe = t()
            out.append(f"  {pe} = call ptr @PyErr_Occurred()")
            isn = t()
            out.append(f"  {isn} = icmp eq ptr {pe}, null")
            out.append(f"  br i1 {isn}, label %{nxt}, label %fail")
            call_args.append(f"{lty(dt)} {conv}")
    out.append(f"arg{len(arg_types)}:")
    # Release the GIL while the loops run (Numba's kernels are nogil=True) when an array has
    # >= 2**15 elements: for small calls the release costs more than it gives, and handing the
    # GIL to a busy thread (a background compile) could stall a driver of small kernels.
    if sizes:
        big = "false"
        for sz in sizes:
            c = t()
            out.append(f"  {c} = icmp sge i64 {sz}, {_NOGIL_MIN_SIZE}")
            b2 = t()
            out.append(f"  {b2} = or i1 {big}, {c}")
            big = b2
        out.append(f"  br i1 {big}, label %nogil, label %withgil")
        out.append("nogil:")
        out.append("  %gil = call ptr @PyEval_SaveThread()")
        out.append(f"  call void @{name}_impl({', '.join(call_args)})")
        out.append("  call void @PyEval_RestoreThread(ptr %gil)")
        out.append("  br label %done")
        out.append("withgil:")
    out.append(f"  call void @{name}_impl({', '.join(call_args)})")
    out.append("  br label %done")
    out.append("done:")
    out.append("  call void @Py_IncRef(ptr @funcad_None)")
    out.append("  ret ptr @funcad_None")
    out.append("fail:")
    out.append("  ret ptr null")
    out.extend(errs)
    out.append("}")
    return "\n".join(strings + out)


_WRAPPER_DECLS = """
@funcad_None = external global i8
@funcad_TypeError = external global i8
@funcad_ndarray = external global i8
declare void @Py_IncRef(ptr)
declare void @PyErr_SetString(ptr, ptr)
declare ptr @PyErr_Occurred()
declare double @PyFloat_AsDouble(ptr)
declare i64 @PyLong_AsLongLong(ptr)
declare i64 @PyLong_AsUnsignedLongLongMask(ptr)
declare i32 @PyObject_IsTrue(ptr)
declare i32 @PyType_IsSubtype(ptr, ptr)
declare ptr @PyEval_SaveThread()
declare void @PyEval_RestoreThread(ptr)
"""


@dataclass(frozen=True)
class _WArg:
    dtype: object
    ndim: int
    written: bool


# --------------------------------------------------------------------------------------------
# the JIT: one target machine + execution engine per process, created lazily

_lock = threading.RLock()
_jit = None
_OFF = {}
_NONNATIVE = ">"
_memo = {}          # key -> callable
_keepalive = []     # PyMethodDef structs and names must outlive the callables


class _PyMethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x80


class KernelInfo:
    """``k.__self__`` of a compiled kernel."""

    def __init__(self, name, symbol, arg_types, llvm_ir, from_cache):
        self.name = name
        self.symbol = symbol
        self.arg_types = arg_types
        self.llvm_ir = llvm_ir
        self.from_cache = from_cache

    def __repr__(self):
        return f"<funcad LLVM kernel {self.name} ({self.symbol})>"


def _verify_numpy_layout():
    """Find/verify PyArrayObject / PyArray_Descr field offsets used by the wrapper."""
    global _NONNATIVE
    a = np.zeros((3, 5), dtype=np.float64)

    def rd(addr, ctype):
        return ctype.from_address(addr).value

    base = id(a)
    off = {"data": 16, "nd": 24, "dimensions": 32, "descr": 56, "flags": 64,
           "type_num": 28, "byteorder": 26}
    ok = (rd(base + off["data"], ctypes.c_void_p) == a.ctypes.data
          and rd(base + off["nd"], ctypes.c_int) == 2
          and rd(base + off["descr"], ctypes.c_void_p) == id(a.dtype)
          and rd(base + off["flags"], ctypes.c_int) == a.flags.num)
    dptr = rd(base + off["dimensions"], ctypes.c_void_p)
    ok = ok and rd(dptr, ctypes.c_int64) == 3 and rd(dptr + 8, ctypes.c_int64) == 5
    for dt in ("float64", "int32", ">f8", "uint16"):
        d = np.dtype(dt)
        ok = ok and rd(id(d) + off["type_num"], ctypes.c_int) == d.num
        ok = ok and rd(id(d) + off["byteorder"], ctypes.c_char) == d.byteorder.encode()
    _NONNATIVE = ">" if np.little_endian else "<"
    if not ok:
        raise Unsupported("unrecognised NumPy object layout")
    _OFF.update(off)


class _Jit:
    def __init__(self):
        import llvmlite
        import llvmlite.binding as ll
        self.ll = ll
        ll.initialize_native_target()
        ll.initialize_native_asmprinter()
        _verify_numpy_layout()
        for sym in ("tanh", "erf", "lgamma", "nextafter", "expm1"):
            if not ll.address_of_symbol(sym):
                lib = ctypes.util.find_library("m")
                if lib:
                    ll.load_library_permanently(lib)
                break
        api = ctypes.pythonapi
        for sym in ("Py_IncRef", "PyErr_SetString", "PyErr_Occurred", "PyFloat_AsDouble",
                    "PyLong_AsLongLong", "PyLong_AsUnsignedLongLongMask", "PyObject_IsTrue",
                    "PyType_IsSubtype", "PyEval_SaveThread", "PyEval_RestoreThread"):
            ll.add_symbol(sym, ctypes.cast(getattr(api, sym), ctypes.c_void_p).value)
        ll.add_symbol("funcad_None", id(None))
        ll.add_symbol("funcad_TypeError", id(TypeError))
        ll.add_symbol("funcad_ndarray", id(np.ndarray))
        target = ll.Target.from_default_triple()
        self.cpu = ll.get_host_cpu_name()
        self.features = ll.get_host_cpu_features().flatten()
        self.tm = target.create_target_machine(cpu=self.cpu, features=self.features, opt=2,
                                               reloc="default", codemodel="jitdefault", jit=True)
        self.triple = target.triple
        self.datalayout = str(self.tm.target_data)
        self.ee = ll.create_mcjit_compiler(ll.parse_assembly(""), self.tm)
        # the compiler's own text: a fixed code generator never loads objects of an older one
        import hashlib
        with open(__file__, "rb") as f:
            compiler_hash = hashlib.sha256(f.read()).hexdigest()[:16]
        self.fingerprint = (llvmlite.__version__, ll.llvm_version_info, self.triple, self.cpu,
                            self.features, np.__version__.split(".")[0], tuple(sorted(_OFF.items())),
                            compiler_hash)
        new = api.PyCFunction_NewEx
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
        self.new_cfunc = new

    def optimise(self, ir_text):
        ll = self.ll
        try:
            mod = ll.parse_assembly(ir_text)
            mod.verify()
        except RuntimeError as e:     # a code generator bug: let the caller fall back to Numba
            raise Unsupported(f"internal error, invalid LLVM IR: {str(e)[:300]}") from e
        pto = ll.create_pipeline_tuning_options(speed_level=2)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = ll.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)
        return mod

    def optimise_and_emit(self, ir_text):
        return self.tm.emit_object(self.optimise(ir_text))

    def load(self, obj, symbol, info):
        ll = self.ll
        self.ee.add_object_file(ll.ObjectFileRef.from_data(obj))
        self.ee.finalize_object()
        addr = self.ee.get_function_address(symbol)
        if not addr:
            raise RuntimeError(f"symbol {symbol} missing from object")
        nm = info.name.encode()
        md = _PyMethodDef(nm, addr, _METH_FASTCALL, None)
        _keepalive.append((md, nm))
        return self.new_cfunc(ctypes.addressof(md), info, None)


def _get_jit():
    global _jit
    if _jit is None:
        with _lock:
            if _jit is None:
                try:
                    _jit = _Jit()
                except Unsupported:
                    raise
                except Exception as e:     # no llvmlite, no native target...: fall back
                    raise Unsupported(f"LLVM JIT unavailable: {type(e).__name__}: {e}") from e
    return _jit


def _find_fdef(source, fun_name):
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise Unsupported(f"syntax error: {e}") from e
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == fun_name:
            return node
        if isinstance(node, ast.AsyncFunctionDef) and node.name == fun_name:
            raise Unsupported("async def")
    raise Unsupported(f"no function {fun_name!r} in source")


def _canon_types(arg_types):
    out = []
    for at in arg_types:
        if isinstance(at, ArrayArg):
            out.append(("A", _norm_dtype(at.dtype), int(at.ndim)))
        elif isinstance(at, ScalarArg):
            out.append(("S", _norm_dtype(at.dtype)))
        else:
            raise Unsupported(f"argument type {at!r}")
    return tuple(out)


def generate_ir(source, fun_name, arg_types, fastmath=False, symbol=None):
    """The LLVM IR text (before optimisation) for a kernel; raises Unsupported."""
    jit = _get_jit()
    symbol = symbol or ("funcad_" + fun_name)
    fdef = _find_fdef(source, fun_name)
    widen = {}
    for _ in range(8):
        gen = _Gen(fdef, list(arg_types), fastmath, symbol, widen)
        try:
            impl = gen.build()
            break
        except _Retry:
            continue
    else:
        raise Unsupported("variable types do not settle")
    warg = []
    names = [a.arg for a in fdef.args.args]
    for nm, at in zip(names, arg_types):
        if isinstance(at, ArrayArg):
            warg.append(_WArg(at.dtype, int(at.ndim), nm in gen.written))
        else:
            warg.append(at)
    wrapper = _wrapper_ir(symbol, names, warg)
    parts = [f'target triple = "{jit.triple}"', f'target datalayout = "{jit.datalayout}"',
             _WRAPPER_DECLS]
    parts.extend(sorted(gen.decls.values()))
    parts.append(impl)
    parts.append(wrapper)
    return "\n".join(parts) + "\n"


def optimised_ir(source, fun_name, arg_types, fastmath=False):
    """The LLVM IR of a kernel after the O2 pipeline (to check what it vectorised)."""
    jit = _get_jit()
    return str(jit.optimise(generate_ir(source, fun_name, arg_types, fastmath)))


def compile_kernel(source, fun_name, arg_types, fastmath=False, cache_dir=None):
    """Compile ``fun_name`` from ``source`` for ``arg_types``; returns a callable ``k(*args)``.

    Raises :class:`Unsupported` for anything outside the subset.  ``cache_dir``: folder for the
    object-code disk cache (None: no disk cache).  Compiled kernels are memoised per process.
    """
    types_key = _canon_types(arg_types)
    jit = _get_jit()
    tables = _constants_digest(source) if "_rt." in source else ""
    key = objcache.cache_key(source + tables, fun_name, types_key, bool(fastmath), jit.fingerprint)
    with _lock:
        k = _memo.get(key)
        if k is not None:
            kernel_stats["memory_hits"] += 1
            return k
        symbol = "funcad_k_" + key[:24]
        obj = objcache.load(cache_dir, key) if cache_dir is not None else None
        if obj is not None:
            info = KernelInfo(fun_name, symbol, types_key, None, True)
            try:
                k = jit.load(obj, symbol, info)
                kernel_stats["loaded"] += 1
            except Exception:
                k = None
        if k is None:
            ir_text = generate_ir(source, fun_name, arg_types, fastmath, symbol)
            obj = jit.optimise_and_emit(ir_text)
            info = KernelInfo(fun_name, symbol, types_key, ir_text, False)
            k = jit.load(obj, symbol, info)
            kernel_stats["compiled"] += 1
            if cache_dir is not None:
                objcache.store(cache_dir, key, obj)
        _memo[key] = k
        return k
