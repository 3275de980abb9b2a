"""checkpoint (remat): trade recomputation for memory in reverse mode.

`checkpoint_p` is a call primitive whose partial evaluation differs from an ordinary
call: the known (forward) part returns only its outputs and the values the policy says
to save; the unknown (tangent) part receives the known *inputs* and recomputes every
other residual when it runs, i.e. during the backward pass. Gradients are bitwise equal
to the un-checkpointed ones because the same operations run on the same values.

`scan_checkpointed` builds on it: "sqrt" nests two scans (blocks of about sqrt(n) steps,
each checkpointed: O(sqrt n) stored carries plus one block of residuals); "recursive"
bisects the loop log2(n) times with a checkpoint at every level (binomial checkpointing:
O(log n) stored carries, O(n log n) recomputation).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from funcad import _core
from funcad._core import partial_eval_jaxpr_rules, partial_eval_rules
from funcad._ir import Jaxpr, JaxprEqn, Literal, Var, eval_jaxpr, intern_jaxpr
from funcad._tree import tree_flatten, tree_unflatten
from funcad.interpreters.partial_eval import _prune, partial_eval_jaxpr, trace_to_jaxpr_closed
from funcad.primitives._util import new_primitive
from funcad.primitives.call import define_call_rules, memoized
from funcad.primitives.control import trace_jaxpr

checkpoint_p = new_primitive("checkpoint", multiple_results=True)
_core.typed_by_program.add(checkpoint_p)
define_call_rules(checkpoint_p)

_POLICIES = {None: "nothing", "nothing": "nothing", "nothing_saveable": "nothing",
             "dots": "dots", "dots_saveable": "dots", "checkpoint_dots": "dots",
             "everything": "everything", "everything_saveable": "everything"}
_DOT_LIKE = {"dot_general", "solve", "cholesky", "det", "slogdet"}


def _policy_name(policy: Any) -> Any:
    if callable(policy):
        return policy
    try:
        return _POLICIES[policy]
    except (KeyError, TypeError):
        raise ValueError(f"checkpoint: unknown policy {policy!r}; use None/'nothing' "
                         f"(recompute everything), 'dots' (save results of dot-like "
                         f"ops), 'everything', or a callable (primitive, params) -> "
                         f"bool") from None


def _saveable(policy, eqn: JaxprEqn) -> bool:
    if policy == "nothing":
        return False
    if policy == "everything":
        return True
    if policy == "dots":
        return eqn.primitive.name in _DOT_LIKE
    return bool(policy(eqn.primitive, eqn.params))


def _eval_with_saved(jaxpr: Jaxpr, args, saved: dict) -> list:
    """Evaluate a jaxpr, reading the outputs of equations from `saved` when present."""
    env = dict(zip(jaxpr.invars, args, strict=True))
    env.update(saved)

    def read(a):
        return a.val if type(a) is Literal else env[a]

    for eqn in jaxpr.eqns:
        if all(v in env for v in eqn.out_binders):
            continue
        outs = eqn.primitive.bind(*[read(a) for a in eqn.inputs], **eqn.params)
        outs = outs if eqn.primitive.multiple_results else [outs]
        env.update(zip(eqn.out_binders, outs, strict=True))
    return [read(a) for a in jaxpr.outvars]


def remat_split(jaxpr: Jaxpr, unknowns, policy):
    """Split for rematerialization.

    Returns (jaxpr_known, jaxpr_unknown, out_unknowns, num_saved):
      jaxpr_known:   known inputs -> known outputs + saved values
      jaxpr_unknown: known inputs + saved values + unknown inputs -> unknown outputs
    """
    jk0, ju0, out_uk, nres = partial_eval_jaxpr(jaxpr, unknowns)
    n_known_out = len(jk0.outvars) - nres
    saved = [v for e in jk0.eqns if _saveable(policy, e) for v in e.out_binders]
    known_outs = (*jk0.outvars[:n_known_out], *saved)
    jk = Jaxpr((), jk0.invars, tuple(_prune(list(jk0.eqns), known_outs)), known_outs)
    k_avals = jk0.in_avals
    s_avals = [v.aval for v in saved]
    u_avals = [a for a, u in zip(jaxpr.in_avals, unknowns) if u]

    def unknown(*a):
        kin, sv, uin = a[:len(k_avals)], a[len(k_avals):len(k_avals) + len(saved)], \
            a[len(k_avals) + len(saved):]
        res = _eval_with_saved(jk0, kin, dict(zip(saved, sv)))[n_known_out:]
        return eval_jaxpr(ju0, (), [*res, *uin])

    ju = trace_jaxpr(unknown, [*k_avals, *s_avals, *u_avals])
    return jk, ju, out_uk, len(saved)


def _checkpoint_partial_eval(trace, tracers, *, jaxpr, policy, **params):
    builder = trace.builder
    known = [builder.is_known(t) for t in tracers]
    unknowns = tuple(not k for k in known)
    jk, ju, out_uk, ns = memoized("remat", jaxpr, (unknowns, policy),
                                  lambda: remat_split(jaxpr, unknowns, policy))
    k_tracers = [t for t, k in zip(tracers, known) if k]
    outs = checkpoint_p.bind(*[builder.known_value(t) for t in k_tracers], jaxpr=jk,
                             policy=policy, **params)
    n_known = len(outs) - ns
    saved = [trace.pure(s) for s in outs[n_known:]]
    u_in = [t for t, k in zip(tracers, known) if not k]
    u_outs = trace.default_process_primitive(
        checkpoint_p, [*k_tracers, *saved, *u_in], dict(jaxpr=ju, policy=policy, **params))
    k_it, u_it = iter(outs[:n_known]), iter(u_outs)
    return [next(u_it) if u else next(k_it) for u in out_uk]


def _checkpoint_partial_eval_jaxpr(eqn: JaxprEqn, unks_in):
    policy = eqn.params["policy"]
    jk, ju, out_uk, ns = remat_split(eqn.params["jaxpr"], unks_in, policy)
    k_ins = [a for a, u in zip(eqn.inputs, unks_in) if not u]
    u_ins = [a for a, u in zip(eqn.inputs, unks_in) if u]
    saved = [Var(a) for a in jk.out_avals[len(jk.outvars) - ns:]]
    known_outs = [v for v, u in zip(eqn.out_binders, out_uk) if not u]
    unk_outs = [v for v, u in zip(eqn.out_binders, out_uk) if u]
    eqn_k = JaxprEqn(checkpoint_p, tuple(k_ins), {**eqn.params, "jaxpr": jk},
                     (*known_outs, *saved))
    eqn_u = JaxprEqn(checkpoint_p, (*k_ins, *saved, *u_ins), {**eqn.params, "jaxpr": ju},
                     tuple(unk_outs))
    res = list(saved) + [a for a in dict.fromkeys(k_ins) if type(a) is Var]
    return eqn_k, eqn_u, out_uk, res


partial_eval_rules[checkpoint_p] = _checkpoint_partial_eval
partial_eval_jaxpr_rules[checkpoint_p] = _checkpoint_partial_eval_jaxpr


def checkpoint(fun: Callable, policy: Any = None, static_argnums: tuple = ()) -> Callable:
    """Make reverse mode recompute `fun`'s intermediates instead of storing them.

    Args:
      fun: the function to checkpoint (any pytree inputs and outputs).
      policy: what to save: None or "nothing" (save only the inputs and recompute
        everything in the backward pass), "dots" (also save results of dot-like ops),
        "everything", or a callable `(primitive, params) -> bool`.
      static_argnums: positional arguments passed through as Python values.
    Returns:
      A function with the same values and gradients as `fun`.

    >>> import funcad as fa, funcad.numpy as fnp
    >>> f = fa.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> bool(fa.grad(f)(0.5) == fa.grad(lambda x: fnp.sin(fnp.sin(x)))(0.5))
    True
    """
    pol = _policy_name(policy)
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun, updated=())
    def wrapped(*args, **kwargs):
        dyn = [a for i, a in enumerate(args) if i not in static]
        leaves, in_tree = tree_flatten((dyn, kwargs))
        leaves = [x if hasattr(x, "shape") and not isinstance(x, np.generic)
                  else np.asarray(x) for x in leaves]
        box = {}

        def flat(*xs):
            d, kw = tree_unflatten(in_tree, xs)
            it = iter(d)
            full = [a if i in static else next(it) for i, a in enumerate(args)]
            out_leaves, box["tree"] = tree_flatten(fun(*full, **kw))
            return out_leaves

        from funcad._core import get_aval
        jaxpr, consts = trace_to_jaxpr_closed(flat, [get_aval(x).strip_weak()
                                                     for x in leaves])
        # The layers of a network call one checkpointed function many times: one program
        # for all of them, so that its jvp and remat split are computed once.
        jaxpr = intern_jaxpr(jaxpr)
        outs = checkpoint_p.bind(*consts, *leaves, jaxpr=jaxpr, policy=pol)
        return tree_unflatten(box["tree"], [o if hasattr(o, "shape") else np.asarray(o)
                                            for o in outs])

    return wrapped


remat = checkpoint


# ----------------------------------------------------------------------------------
# Checkpointed scans


def _flip(tree):
    import funcad.numpy as fnp
    leaves, t = tree_flatten(tree)
    return tree_unflatten(t, [fnp.flip(x, axis=0) for x in leaves])


def _slice(tree, start, stop):
    leaves, t = tree_flatten(tree)
    return tree_unflatten(t, [x[start:stop] for x in leaves])


def _reshape_lead(tree, shape):
    import funcad.numpy as fnp
    leaves, t = tree_flatten(tree)
    return tree_unflatten(t, [fnp.reshape(x, (*shape, *x.shape[1:])) for x in leaves])


def _merge_lead(tree):
    import funcad.numpy as fnp
    leaves, t = tree_flatten(tree)
    return tree_unflatten(t, [fnp.reshape(x, (x.shape[0] * x.shape[1], *x.shape[2:]))
                              for x in leaves])


def _concat(a, b):
    import funcad.numpy as fnp
    la, t = tree_flatten(a)
    lb, _ = tree_flatten(b)
    return tree_unflatten(t, [fnp.concatenate([x, y], axis=0) for x, y in zip(la, lb)])


def _length(xs, length):
    leaves = tree_flatten(xs)[0]
    if leaves:
        return leaves[0].shape[0]
    if length is None:
        raise ValueError("scan: give `length` when xs is None")
    return int(length)


def scan_checkpointed(f, init, xs, length, reverse, kind):
    """`lax.scan` with "sqrt" or "recursive" (binomial) checkpointing of the loop."""
    import funcad.numpy as fnp
    n = _length(xs, length)
    if xs is None:
        xs = fnp.zeros((n, 0))
        body = lambda c, x: f(c, None)  # noqa: E731
    else:
        xs = tree_map_asarray(xs)
        body = f
    if reverse:
        c, ys = scan_checkpointed(body, init, _flip(xs), None, False, kind)
        return c, _flip(ys)
    if kind == "sqrt":
        return _scan_sqrt(body, init, xs, n)
    return _scan_recursive(body, init, xs, n)


def tree_map_asarray(tree):
    leaves, t = tree_flatten(tree)
    return tree_unflatten(t, [x if hasattr(x, "shape") else np.asarray(x) for x in leaves])


def _scan_sqrt(f, init, xs, n):
    from funcad.lax import scan
    b = max(int(np.ceil(np.sqrt(n))), 1)
    nb, tail = divmod(n, b)

    @checkpoint
    def block(c, xb):
        return scan(f, c, xb)

    c, ys = scan(block, init, _reshape_lead(_slice(xs, 0, nb * b), (nb, b)))
    ys = _merge_lead(ys)
    if tail:
        c, ys_t = checkpoint(lambda c, x: scan(f, c, x))(c, _slice(xs, nb * b, n))
        ys = _concat(ys, ys_t)
    return c, ys


_BASE = 2


def _scan_recursive(f, init, xs, n):
    from funcad.lax import scan
    if n <= _BASE:
        return scan(f, init, xs)
    half, odd = divmod(n, 2)

    @checkpoint
    def half_loop(c, xh):
        return _scan_recursive(f, c, xh, half)

    c, ys = scan(half_loop, init, _reshape_lead(_slice(xs, 0, 2 * half), (2, half)))
    ys = _merge_lead(ys)
    if odd:
        c, ys_t = scan(f, c, _slice(xs, 2 * half, n))
        ys = _concat(ys, ys_t)
    return c, ys
