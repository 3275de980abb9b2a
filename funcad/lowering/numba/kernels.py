"""Kernels: the loop nests of a program, cut out of its source as small canonical functions.

A large program is not compiled as one function (Numba's and LLVM's passes are
superlinear in a function's size). Instead each fused loop nest, and each statement whose
code loops, becomes a *kernel*: a function of the driver's values it reads, which writes
its results into arrays that the driver allocates. The driver (the code between kernels:
allocations, BLAS calls, reshapes, scalar arithmetic) runs in Python.

A kernel's text is made *canonical* so that structurally identical loop nests are one
kernel, compiled once and shared by every program of a family (the layers of a chain or
an MLP, one program at another batch size):
- the integer constants of loop bounds, index expressions and allocation sizes become
  parameters (sizes are runtime arguments);
- every name is renamed in order of first appearance (`p0, p1, ...` for parameters,
  `v0, v1, ...` for locals) and comments are dropped;
- the key of a kernel is a hash of that text (plus the compile flags, added by the caller).
"""

from __future__ import annotations

import builtins
import hashlib
import keyword
import re
from dataclasses import dataclass

import numpy as np

# Names a kernel body may use that are not values of the driver.
_GLOBALS = frozenset(dir(builtins)) | {"np", "math", "_rt", "prange", "numba"}
_ALLOC = re.compile(r"^    ([A-Za-z_]\w*) = (_rt\.(empty\d|fill|copy|full1)\(|np\.(empty|full)\()")
_LIFT_CALLS = ("range", "prange")


@dataclass
class Kernel:
    """One canonical kernel: its text, key and what a driver needs to call it."""

    canonical: str            # `def KERNEL(p0, ...):` with canonical names, no comments
    key: str                  # sha256 prefix of `canonical`
    display: str              # readable: the driver's names, sizes and equation comments
    equations: list           # equations it lowers: text, or (eqn, namer) printed on demand

    def equation_texts(self) -> list:
        """The printed equations it lowers (for error messages)."""
        from funcad._pretty import pp_eqn_head
        return [e if isinstance(e, str) else pp_eqn_head(*e)[0] for e in self.equations]

    @property
    def name(self) -> str:
        return f"fk_{self.key}"

    def source(self) -> str:
        """The canonical text with its real function name."""
        return self.canonical.replace("KERNEL", self.name, 1)


@dataclass
class KernelCall:
    """How the driver uses one kernel: hoisted allocations, the call, scalar results."""

    kernel: Kernel
    before: list              # driver lines before the call (allocations)
    args: list                # argument expressions of the call
    scalar_outs: list         # (driver name, dtype source) of rank-0 results
    returns: list             # driver names bound to the kernel's return values
    types: tuple | None       # argument types: ("a", dtype str, ndim) / ("s", dtype str)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def split_allocations(lines: list, stored_later) -> tuple[list, list]:
    """Move the top-level allocations before the first block out of a kernel body.

    An allocation moves when its target is not rebound later and it reads nothing the
    body computed before it (a reduction's `acc = 0.0` may stand between allocations).
    """
    hoisted, rest = [], []
    leading = True
    bound_before: set[str] = set()
    for ln in lines:
        s = ln.strip()
        if not leading or s.startswith("#"):
            rest.append(ln)
            continue
        if _indent_of(ln) != 4 or s.endswith(":"):
            leading = False
            rest.append(ln)
            continue
        m = _ALLOC.match(ln)
        if (m and m.group(1) not in stored_later(m.group(1), ln)
                and not bound_before.intersection(_NAME.findall(ln.split("=", 1)[1]))):
            hoisted.append(ln)
            continue
        b = _BINDS.match(ln)
        if b:
            bound_before.update(n.strip() for n in b.group(1).split(","))
        rest.append(ln)
    return hoisted, rest


_KEYWORDS = frozenset(keyword.kwlist)
_BINDS = re.compile(r"^\s*((?:[A-Za-z_]\w*\s*,\s*)*[A-Za-z_]\w*)\s*,?\s*(?:[-+*/]?=)(?!=)")
_FOR = re.compile(r"^\s*for\s+([A-Za-z_]\w*)\s+in\b")


def _bound_names(lines: list) -> set:
    """Names bound by the statements (assignment targets and loop variables)."""
    out: set[str] = set()
    for ln in lines:
        m = _FOR.match(ln) or _BINDS.match(ln)
        if m:
            out.update(n.strip() for n in m.group(1).split(","))
    return out


_NAME = re.compile(r"(?<![\w.\x01])[A-Za-z_]\w*")
_STRING = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
# `f(x, kind=...)`: generated code writes keywords without spaces and assignments with.
_KEYWORD_ARG = re.compile(r"([(,]\s*)([A-Za-z_]\w*=)(?!=)")
_INT = re.compile(r"(?<!e-)(?<!e\+)(?<![\w.])\d+(?![\w.])")
# Innermost subscripts, the argument lists of range(...) and _rt.f(...), and the bounds
# checks of padded reads: where integers are sizes and offsets.
_SIZED = re.compile(r"\[[^\[\]]*\]|(?<![\w.])p?range\([^()]*\)|_rt\.\w+\([^()]*\)"
                    # the bounds checks of a padded read (rules.py, _pad_guard)
                    r"|\([A-Za-z_]\w* [<>]= \d+\)|\(\([A-Za-z_]\w* - -?\d+\) % \d+ == 0\)")


def _canonicalize(code: str, bound: set) -> tuple[str, list, list]:
    """Rename and lift: returns (text, free names in order, lifted integers in order).

    Names bound in `code` become `v0, v1, ...`, the others (the driver's values)
    `p0, p1, ...`; integers inside subscripts, `range(...)` and `_rt.f(...)` become
    `q0, q1, ...`. Regular expressions do the scanning (this runs once per loop nest).
    """
    # String literals and keyword-argument names are not values: set them aside.
    strings: list[str] = []

    def keep_string(m):
        strings.append(m.group())
        return f"\x02{len(strings) - 1}\x02"
    code = _KEYWORD_ARG.sub(lambda m: m.group(1) + "\x01" + m.group(2),
                            _STRING.sub(keep_string, code))
    lifted: list[str] = []

    def lift_ints(m):
        def one(k):
            if k.group() == "0":
                return "0"
            lifted.append(k.group())
            return f"__q{len(lifted) - 1}"
        return _INT.sub(one, m.group())
    code = _SIZED.sub(lift_ints, code)
    mapping: dict[str, str] = {}
    free: list[str] = []
    n_local = 0
    for tok in dict.fromkeys(_NAME.findall(code)):
        if tok in _GLOBALS or tok in _KEYWORDS:
            continue
        if tok.startswith("__q"):
            mapping[tok] = "q" + tok[3:]
        elif tok in bound:
            mapping[tok] = f"v{n_local}"
            n_local += 1
        else:
            mapping[tok] = f"p{len(free)}"
            free.append(tok)
    text = _NAME.sub(lambda m: mapping.get(m.group(), m.group()), code).replace("\x01", "")
    if strings:
        text = re.sub(r"\x02(\d+)\x02", lambda m: strings[int(m.group(1))], text)
    return text, free, lifted


def make_kernel(lines: list, outputs: list, equations: list, types: dict) -> KernelCall:
    """Cut `lines` (a body at indentation 4) out as a kernel.

    `outputs`: (driver name, ndim, dtype source) of the values the driver reads after it;
    `types`: driver name -> argument type, for the kernel's static signature.
    Outputs allocated by the hoisted lines are written in place; rank-0 outputs computed
    inside come back through one-element arrays; other outputs are returned.
    """
    binds: dict[str, int] = {}
    for ln in lines:
        m = _FOR.match(ln) or _BINDS.match(ln)
        if m:
            for n in m.group(1).split(","):
                n = n.strip()
                binds[n] = binds.get(n, 0) + 1

    def stored_later(name, line):
        return {name} if binds.get(name, 0) > 1 else set()

    hoisted, body = split_allocations(lines, stored_later)
    hoisted_names = {_ALLOC.match(ln).group(1) for ln in hoisted}
    readable = [ln[4:] for ln in body]
    body = [ln for ln in readable if not ln.lstrip().startswith("#")]
    bound = _bound_names(body)
    tail = []
    scalar_outs, returns = [], []
    for name, ndim, dtype_src in outputs:
        if name in hoisted_names or name not in bound:
            continue
        if ndim == 0:
            scalar_outs.append((name, dtype_src))
            tail.append(f"__o_{name}[0] = {name}")
        else:
            returns.append(name)
    if returns:
        tail.append(f"return ({', '.join(returns)},)")
    code = "\n".join(body + tail)
    text, free, lifted = _canonicalize(code, bound)
    params = [f"p{k}" for k in range(len(free))] + [f"q{k}" for k in range(len(lifted))]
    canonical = (f"def KERNEL({', '.join(params)}):\n"
                 + "\n".join("    " + ln for ln in text.split("\n")) + "\n")
    key = hashlib.sha256(canonical.encode()).hexdigest()[:20]
    display = (f"def {{name}}({', '.join(free)}):\n"
               + "\n".join("    " + ln for ln in readable + tail) + "\n")
    kernel = Kernel(canonical, key, display, list(equations))
    args = free + lifted
    slots = {f"__o_{n}": ("a", np.dtype(dt[3:] if dt.startswith("np.") else dt).str, 1)
             for n, dt in scalar_outs}
    sig = [slots.get(n) or types.get(n) for n in free] + [("s", "<i8")] * len(lifted)
    return KernelCall(kernel, hoisted, args, scalar_outs, returns,
                      None if None in sig else tuple(sig))


__all__ = ["Kernel", "KernelCall", "make_kernel"]
