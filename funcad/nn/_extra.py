"""More of jax.nn: tanh, identity, mish, squareplus, log1mexp, logmeanexp, sparse_plus,
sparse_sigmoid and dot_product_attention (JAX's 'xla' path), as funcad.numpy composites."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import funcad.numpy as fnp
from funcad._custom_derivatives import custom_jvp

__all__ = [
    "dot_product_attention", "identity", "log1mexp", "logmeanexp", "mish", "sparse_plus",
    "sparse_sigmoid", "squareplus", "tanh",
]


def tanh(x: Any) -> Any:
    """The hyperbolic tangent (jax.nn.tanh is jax.numpy.tanh)."""
    return fnp.tanh(x)


def identity(x: Any) -> Any:
    """The identity activation: x as an array."""
    return fnp.asarray(x)


def mish(x: Any) -> Any:
    """The mish activation x * tanh(softplus(x))."""
    from funcad.nn import softplus
    x = fnp.asarray(x)
    return x * fnp.tanh(softplus(x))


def squareplus(x: Any, b: Any = 4) -> Any:
    """The squareplus activation (x + sqrt(x**2 + b)) / 2."""
    x = fnp.asarray(x)
    return (x + fnp.sqrt(fnp.square(x) + b)) / 2


def _log1mexp_impl(x):
    return fnp.where(x < math.log(2.0), fnp.log(-fnp.expm1(-x)), fnp.log1p(-fnp.exp(-x)))


@custom_jvp
def _log1mexp(x):
    return _log1mexp_impl(x)


@_log1mexp.defjvp
def _log1mexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _log1mexp_impl(x), t / fnp.expm1(x)


def log1mexp(x: Any) -> Any:
    """log(1 - exp(-x)) computed stably (x > 0), with the derivative 1 / expm1(x)."""
    x = fnp.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = fnp.asarray(x, dtype=np.float64)
    return _log1mexp(x)


def logmeanexp(x: Any, axis: Any = None, where: Any = None, keepdims: bool = False) -> Any:
    """log(mean(exp(x), axis)) without overflow: logsumexp minus the log of the count."""
    from funcad.nn import logsumexp
    x = fnp.asarray(x)
    if not np.issubdtype(x.dtype, np.inexact):
        x = fnp.asarray(x, dtype=np.float64)
    if where is None:
        lse = logsumexp(x, axis=axis, keepdims=keepdims)
        count = fnp.sum(fnp.ones_like(x), axis=axis, keepdims=keepdims)
    else:
        where = fnp.broadcast_to(fnp.asarray(where, dtype=bool), x.shape)
        lse = logsumexp(fnp.where(where, x, -np.inf), axis=axis, keepdims=keepdims)
        count = fnp.sum(fnp.where(where, 1.0, 0.0), axis=axis, keepdims=keepdims)
    return lse - fnp.log(count)


def sparse_plus(x: Any) -> Any:
    """The sparse plus: 0 for x <= -1, (x + 1)**2 / 4 for |x| < 1, x for x >= 1."""
    x = fnp.asarray(x)
    return fnp.where(x <= -1.0, 0.0, fnp.where(x >= 1.0, x, (x + 1.0) ** 2 / 4))


def sparse_sigmoid(x: Any) -> Any:
    """The sparse sigmoid (derivative of sparse_plus), clip((x + 1) / 2, 0, 1)."""
    return 0.5 * fnp.clip(fnp.asarray(x) + 1.0, 0.0, 2.0)


def _ensure_4d(t):
    t = fnp.asarray(t)
    if t.ndim < 4:
        t = fnp.reshape(t, (1,) * (4 - t.ndim) + tuple(t.shape))
    return t


def dot_product_attention(query: Any, key: Any, value: Any, bias: Any = None, mask: Any = None,
                          *, scale: float | None = None, is_causal: bool = False,
                          query_seq_lengths: Any = None, key_value_seq_lengths: Any = None,
                          local_window_size: int | tuple[int, int] | None = None,
                          implementation: str | None = None) -> Any:
    """Scaled dot-product attention, softmax(q k^T * scale + bias, masked) v: JAX's xla path."""
    if implementation not in (None, "xla"):
        raise NotImplementedError(
            f"dot_product_attention: implementation={implementation!r} is not supported "
            "(funcad has the 'xla' path only)")
    out_shape = tuple(fnp.asarray(query).shape)
    q, k, v = _ensure_4d(query), _ensure_4d(key), _ensure_4d(value)
    bias = None if bias is None else _ensure_4d(bias)
    mask = None if mask is None else _ensure_4d(mask)
    B, S, K, H = k.shape
    if tuple(v.shape) != (B, S, K, H):
        raise ValueError(f"value shape should be {(B, S, K, H)}: but got {tuple(v.shape)}")
    if v.dtype != k.dtype or q.dtype != k.dtype:
        raise ValueError(f"query, key and value dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    if q.shape[0] != B or q.shape[3] != H:
        raise ValueError(f"query shape should be {(B, -1, -1, H)}: but got {tuple(q.shape)}")
    if mask is not None and mask.dtype != np.dtype(bool):
        raise ValueError(f"mask dtype should be bool, but got {mask.dtype}")
    for name, sl in (("query_seq_lengths", query_seq_lengths),
                     ("key_value_seq_lengths", key_value_seq_lengths)):
        if sl is not None:
            sl = fnp.asarray(sl)
            if tuple(sl.shape) != (B,) or not np.issubdtype(sl.dtype, np.integer):
                raise ValueError(f"{name} should be an integer array of shape {(B,)}: "
                                 f"got {sl.dtype} {tuple(sl.shape)}")
    T, N = q.shape[1], q.shape[2]
    if N % K != 0:
        raise ValueError("The number of query heads must be a multiple of key/value heads, "
                         f"but got {N} vs {K}")
    G = N // K
    if isinstance(local_window_size, int):
        local_window_size = (local_window_size, local_window_size)
    scale_val = (1.0 / math.sqrt(H)) if scale is None else scale

    def grouped(t):  # [tB, N or 1, T, S] -> [tB, K or 1, G or 1, T, S]
        tB, tN, tT, tS = t.shape
        if tN == 1:
            return fnp.reshape(t, (tB, 1, 1, tT, tS))
        if tN != N:
            raise ValueError(f"bias/mask head dimension should be 1 or {N}, but got {tN}")
        return fnp.reshape(t, (tB, K, G, tT, tS))

    qg = fnp.reshape(q, (B, T, K, G, H))
    logits = fnp.einsum("btkgh,bskh->bkgts", qg, k) * scale_val
    if bias is not None:
        logits = logits + grouped(bias)
    masks = []
    if mask is not None:
        masks.append(grouped(mask))
    qpos = np.arange(T)[:, None]
    kpos = np.arange(S)[None, :]
    if is_causal:
        masks.append(fnp.asarray(np.tril(np.ones((T, S), dtype=bool))))
    if local_window_size is not None:
        left, right = local_window_size
        masks.append(fnp.asarray((qpos <= kpos + left) & (qpos >= kpos - right)))
    if query_seq_lengths is not None or key_value_seq_lengths is not None:
        pm = fnp.ones((B, T, S), dtype=bool)
        if query_seq_lengths is not None:
            pm = pm & (fnp.asarray(np.arange(T))[None, :, None]
                       < fnp.asarray(query_seq_lengths)[:, None, None])
        if key_value_seq_lengths is not None:
            pm = pm & (fnp.asarray(np.arange(S))[None, None, :]
                       < fnp.asarray(key_value_seq_lengths)[:, None, None])
        masks.append(fnp.reshape(pm, (B, 1, 1, T, S)))
    if masks:
        combined = masks[0]
        for m in masks[1:]:
            combined = combined & m
        large_negative = -0.7 * float(min(np.finfo(logits.dtype).max, np.finfo(np.float32).max))
        logits = fnp.where(combined, logits, large_negative)
    from funcad.nn import softmax
    probs = softmax(logits, axis=-1)
    encoded = fnp.einsum("bkgts,bskh->btkgh", probs, v)
    encoded = fnp.reshape(encoded, (B, T, N, H))
    if query_seq_lengths is not None:
        qm = fnp.asarray(np.arange(T))[None, :] < fnp.asarray(query_seq_lengths)[:, None]
        encoded = encoded * fnp.reshape(qm, (B, T, 1, 1)).astype(encoded.dtype)
    return fnp.reshape(encoded, out_shape)
