"""Contractions: dot, matmul, vdot, inner, outer, tensordot, einsum, trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from funcad._core import ShapeMismatchError
from funcad.numpy._base import _asarray as asarray
from funcad.numpy._base import broadcast_shapes, broadcast_to, ndim, promote, shape
from funcad.numpy._reductions import sum as _sum
from funcad.primitives import structural as st
from funcad.primitives.linalg import dot_general


def _check_contract(op, a_shape, b_shape, a_ax, b_ax):
    for i, j in zip(a_ax, b_ax):
        if a_shape[i] != b_shape[j]:
            raise ShapeMismatchError(f"{op}: shapes {a_shape} and {b_shape} not aligned: "
                             f"{a_shape[i]} (dim {i}) != {b_shape[j]} (dim {j})")


def dot(a: Any, b: Any) -> Any:
    """Dot product with NumPy's rules for each rank.

    >>> import funcad.numpy as fnp
    >>> fnp.dot(fnp.ones((2, 3)), fnp.ones(3))
    Array([3., 3.], dtype=float64)
    """
    a, b = promote(a, b)   # (a Python number is weak: float32 @ 2.0 is float32)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        from funcad.numpy._ufuncs import multiply
        return multiply(a, b)
    a, b = asarray(a), asarray(b)
    b_ax = 0 if nb == 1 else nb - 2
    _check_contract("dot", shape(a), shape(b), (na - 1,), (b_ax,))
    return dot_general(a, b, (((na - 1,), (b_ax,)), ((), ())))


def matmul(a: Any, b: Any) -> Any:
    """Matrix product with broadcasting of leading (batch) dimensions.

    >>> import funcad.numpy as fnp
    >>> (fnp.ones((4, 2, 3)) @ fnp.ones((3, 5))).shape
    (4, 2, 5)
    """
    a, b = promote(asarray(a), asarray(b))
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (scalars "
                         "are not allowed; use * instead)")
    if na == 1 and nb == 1:
        _check_contract("matmul", shape(a), shape(b), (0,), (0,))
        return dot_general(a, b, (((0,), (0,)), ((), ())))
    a2 = st.reshape(a, (1, *shape(a))) if na == 1 else a
    b2 = st.reshape(b, (*shape(b), 1)) if nb == 1 else b
    sa, sb = shape(a2), shape(b2)
    if sa[-1] != sb[-2]:
        raise ShapeMismatchError(f"matmul: shapes {shape(a)} and {shape(b)} not aligned: "
                         f"{sa[-1]} (last dim of first) != {sb[-2]} (second-to-last of "
                         f"second)")
    batch = broadcast_shapes(sa[:-2], sb[:-2], op="matmul")
    nbatch = len(batch)
    if nbatch == 0:
        out = dot_general(a2, b2, (((1,), (0,)), ((), ())))
    elif len(sb) == 2:
        # (..., m, k) @ (k, n): a plain contraction, no batch dims needed.
        out = dot_general(a2, b2, (((len(sa) - 1,), (0,)), ((), ())))
        out = broadcast_to(out, (*batch, sa[-2], sb[-1]))
    else:
        a3 = broadcast_to(a2, (*batch, *sa[-2:]))
        b3 = broadcast_to(b2, (*batch, *sb[-2:]))
        bd = tuple(range(nbatch))
        out = dot_general(a3, b3, (((nbatch + 1,), (nbatch,)), (bd, bd)))
    if na == 1:
        out = st.reshape(out, (*shape(out)[:-2], shape(out)[-1]))
    if nb == 1:
        out = st.reshape(out, shape(out)[:-1])
    return out


def vdot(a: Any, b: Any) -> Any:
    """Dot product of the flattened inputs, conjugating the first one (as numpy.vdot).

    >>> import funcad.numpy as fnp
    >>> complex(fnp.vdot(fnp.array([1j]), fnp.array([1j])))
    (1+0j)
    """
    from funcad.numpy._shapes import ravel
    from funcad.numpy._ufuncs import conj
    return dot(conj(ravel(a)), ravel(b))


def inner(a: Any, b: Any) -> Any:
    """Contract the last axes of a and b."""
    a, b = promote(a, b)
    na, nb = ndim(a), ndim(b)
    if na == 0 or nb == 0:
        from funcad.numpy._ufuncs import multiply
        return multiply(a, b)
    a, b = asarray(a), asarray(b)
    _check_contract("inner", shape(a), shape(b), (na - 1,), (nb - 1,))
    return dot_general(a, b, (((na - 1,), (nb - 1,)), ((), ())))


def outer(a: Any, b: Any) -> Any:
    """Outer product of the flattened inputs."""
    from funcad.numpy._shapes import ravel
    from funcad.numpy._ufuncs import multiply
    a, b = (ravel(x) for x in promote(a, b))
    return multiply(st.reshape(a, (shape(a)[0], 1)), st.reshape(b, (1, shape(b)[0])))


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """Sum products over the given axes (an int: the last/first `axes` axes)."""
    a, b = promote(asarray(a), asarray(b))
    na, nb = ndim(a), ndim(b)
    if isinstance(axes, (int, np.integer)):
        k = int(axes)
        a_ax, b_ax = tuple(range(na - k, na)), tuple(range(k))
    else:
        a_ax, b_ax = axes
        a_ax = (a_ax,) if isinstance(a_ax, (int, np.integer)) else tuple(a_ax)
        b_ax = (b_ax,) if isinstance(b_ax, (int, np.integer)) else tuple(b_ax)
        a_ax = tuple(x % na for x in a_ax)
        b_ax = tuple(x % nb for x in b_ax)
    _check_contract("tensordot", shape(a), shape(b), a_ax, b_ax)
    return dot_general(a, b, ((a_ax, b_ax), ((), ())))


def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Any:
    """Sum along a diagonal."""
    from funcad.numpy._shapes import diagonal
    return _sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


# -- einsum ----------------------------------------------------------------------------------


def _parse_einsum(subscripts: str, nops: int, shapes) -> tuple[list[str], str]:
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        lhs, out = subscripts.split("->")
    else:
        lhs, out = subscripts, None
    ins = lhs.split(",")
    if len(ins) != nops:
        raise ValueError(f"einsum: {len(ins)} operand subscripts but {nops} operands")
    # Ellipsis: replace with unused capital letters.
    free_letters = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in subscripts]
    ell_len = 0
    for s, shp in zip(ins, shapes):
        if "..." in s:
            ell_len = max(ell_len, len(shp) - (len(s) - 3))
    ell = "".join(free_letters[:ell_len])
    new_ins = []
    for s, shp in zip(ins, shapes):
        if "..." in s:
            k = len(shp) - (len(s) - 3)
            s = s.replace("...", ell[ell_len - k:])
        if len(s) != len(shp):
            raise ValueError(f"einsum: subscripts '{s}' do not match an operand of shape "
                             f"{shp}")
        new_ins.append(s)
    if out is None:
        counts: dict[str, int] = {}
        for s in new_ins:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return new_ins, out


def _diagonalize(x, labels: str):
    """Take diagonals for repeated labels within one operand."""
    from funcad.numpy._shapes import diagonal
    while True:
        seen = {}
        rep = None
        for i, c in enumerate(labels):
            if c in seen:
                rep = (seen[c], i)
                break
            seen[c] = i
        if rep is None:
            return x, labels
        i, j = rep
        x = diagonal(x, 0, i, j)  # diag axis goes last
        c = labels[i]
        labels = "".join(ch for k, ch in enumerate(labels) if k not in (i, j)) + c


def einsum(subscripts: str, *operands: Any, optimize: Any = None) -> Any:
    """Einstein summation over labelled axes (pairwise contractions, left to right).

    >>> import funcad.numpy as fnp
    >>> fnp.einsum('ij,jk->ik', fnp.ones((2, 3)), fnp.ones((3, 4))).shape
    (2, 4)
    """
    ops = promote(*[asarray(o) for o in operands])
    ins, out = _parse_einsum(subscripts, len(ops), [shape(o) for o in ops])
    sizes: dict[str, int] = {}
    for s, o in zip(ins, ops):
        for c, n in zip(s, shape(o)):
            m = sizes.setdefault(c, n)
            if m != n and 1 not in (m, n):
                raise ShapeMismatchError(f"einsum: label '{c}' has sizes {m} and {n}")
            sizes[c] = max(m, n)
    # Size-1 axes broadcast against the other operands' sizes of the same label (as NumPy).
    ops = [broadcast_to(o, tuple(sizes[c] for c in s)) if len(set(s)) == len(s) else o
           for o, s in zip(ops, ins)]
    terms = []
    for o, s in zip(ops, ins):
        o, s = _diagonalize(o, s)
        terms.append((o, s))

    def needed_later(k, exclude):
        need = set(out)
        for j, (_, s) in enumerate(terms):
            if j >= k and j not in exclude:
                need.update(s)
        return need

    # sum out labels used by only one operand and not in the output
    x, xs = terms[0]
    for k in range(1, len(terms) + 1):
        keep = needed_later(k, set())
        drop = [i for i, c in enumerate(xs) if c not in keep]
        if drop:
            x = _sum(x, axis=tuple(drop))
            xs = "".join(c for i, c in enumerate(xs) if i not in drop)
        if k == len(terms):
            break
        y, ys = terms[k]
        keep_y = needed_later(k + 1, set()) | set(xs)
        drop_y = [i for i, c in enumerate(ys) if c not in keep_y]
        if drop_y:
            y = _sum(y, axis=tuple(drop_y))
            ys = "".join(c for i, c in enumerate(ys) if i not in drop_y)
        later = needed_later(k + 1, set())
        common = [c for c in xs if c in ys]
        batch = [c for c in common if c in later]
        contract = [c for c in common if c not in later]
        dn = ((tuple(xs.index(c) for c in contract), tuple(ys.index(c) for c in contract)),
              (tuple(xs.index(c) for c in batch), tuple(ys.index(c) for c in batch)))
        x = dot_general(x, y, dn)
        xs = ("".join(batch) + "".join(c for c in xs if c not in common)
              + "".join(c for c in ys if c not in common))
    # final: sum remaining labels not in out, then permute
    drop = [i for i, c in enumerate(xs) if c not in out]
    if drop:
        x = _sum(x, axis=tuple(drop))
        xs = "".join(c for i, c in enumerate(xs) if i not in drop)
    if sorted(xs) != sorted(out):
        missing = set(out) - set(xs)
        raise ValueError(f"einsum: output labels {''.join(sorted(missing))} do not appear in "
                         f"the inputs")
    perm = [xs.index(c) for c in out]
    return st.transpose(x, perm)


__all__ = [
    "Sequence",
    "dot",
    "einsum",
    "inner",
    "matmul",
    "outer",
    "tensordot",
    "trace",
    "vdot",
]
