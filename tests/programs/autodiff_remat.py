"""Control autodiff's saved values with jax.checkpoint (JAX's notebook), as a program.

Port of docs/notebooks/autodiff_remat.md of github.com/jax-ml/jax (commit cec06d1,
Apache License 2.0; Copyright the JAX Authors) to funcad: its code cells, in order.
What changed:
  * imports: `jax` -> `funcad` (checkpoint, remat, checkpoint_policies, grad, vjp,
    lax.scan, jax.numpy, jax.ad_checkpoint.checkpoint_name / print_saved_residuals).
  * the cells run inside `main()`, where `print` also records the numbers it prints;
    `main` returns them in order ("printed_numbers"), with the number of values each
    `print_saved_residuals` cell lists ("saved_residual_counts"; the listing's text is
    not compared: JAX names sources and primitives, funcad says "from argument i" or
    "from the forward pass"). The notebook prints no number itself, so after each
    function it defines the port prints its value and its gradient (`grad` over all
    arguments) at the notebook's inputs: checkpointing and policies must not change them.
  * the one residual listing not compared: `loss_checkpoint2`
    (`save_any_names_but_these('layer1_output')`). JAX lists only the 5 arguments
    (it recomputes `layer0_output` although the policy lets it be saved); funcad also
    saves `layer0_output`, which the policy allows (6). Policies only say what may be
    saved; which allowed values are kept is the implementation's choice.
  * `print_fwd_bwd` (jaxpr text in a rich table) is dropped: both libraries print
    jaxprs, but their equations differ (different lowerings); the functions it shows
    are differentiated instead.
  * the "Let's think step by step" cells use `g` and `h` that the notebook never defines
    (its `g` of the first cells takes two arguments); here g = sin and h = exp, and
    sin_vjp, sin_vjp2, f_vjp, f_vjp_checkpoint, f_checkpoint, f_grad_bad1 and
    f_grad_bad2 are evaluated at x = 0.7 (cotangent 1). `f_checkpoint_grad` is only
    defined: its `jax.vjp(h)(y)` is a typo in the notebook (vjp needs the primals).
  * the "Practical notes" code (markdown blocks, not cells) is run: the MLP as a loop
    over layers, as a `lax.scan` over stacked layers, and as a scan of a layer under
    `checkpoint(policy=dots_with_no_batch_dims_saveable)`, on 3 deterministic layers of
    width 4; their outputs and gradients are printed.
  * found by this port and fixed in funcad: print_saved_residuals listed no 0-d residual
    (the chain-of-sins cells at `3.` printed nothing; now 8, 16, 4 and 5 as in JAX).
"""

import builtins
import contextlib
import io

import numpy as np

from funcad.tree_util import tree_leaves


class _Recorder:
    """Stands for print: records the numbers it is given, in order."""

    def __init__(self, verbose):
        self.numbers, self.verbose = [], verbose

    def __call__(self, *args):
        for a in args:
            if isinstance(a, str):
                continue
            for leaf in tree_leaves(a):
                self.numbers.extend(float(x) for x in np.ravel(np.asarray(leaf)))
        if self.verbose:
            builtins.print(*args)


def main(verbose=True):
    print = _Recorder(verbose)
    counts = []

    import funcad as jax
    import funcad.numpy as jnp
    from funcad.ad_checkpoint import print_saved_residuals as _print_saved_residuals

    def print_saved_residuals(f, *args, record=True, **kwargs):
        """The notebook's print_saved_residuals, also counting the lines it prints."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            _print_saved_residuals(f, *args, **kwargs)
        text = out.getvalue()
        if record:
            counts.append(len(text.splitlines()))
        if verbose:
            builtins.print(text, end="")

    def value_and_grads(f, *args):
        """The port's check: f's value and its gradient in every argument."""
        print(jnp.sum(f(*args)))
        print(jax.grad(lambda *a: jnp.sum(f(*a)), argnums=tuple(range(len(args))))(*args))

    # Summary

    def g(W, x):
        y = jnp.dot(W, x)
        return jnp.sin(y)

    def f(W1, W2, W3, x):
        x = g(W1, x)
        x = g(W2, x)
        x = g(W3, x)
        return x

    W1 = jnp.ones((5, 4))
    W2 = jnp.ones((6, 5))
    W3 = jnp.ones((7, 6))
    x = jnp.ones(4)

    # Inspect the 'residual' values to be saved on the forward pass
    # if we were to evaluate `jax.grad(f)(W1, W2, W3, x)`
    # (the notebook calls it as jax.ad_checkpoint.print_saved_residuals here)
    print_saved_residuals(f, W1, W2, W3, x)
    value_and_grads(f, W1, W2, W3, x)

    def f2(W1, W2, W3, x):
        x = jax.checkpoint(g)(W1, x)
        x = jax.checkpoint(g)(W2, x)
        x = jax.checkpoint(g)(W3, x)
        return x

    print_saved_residuals(f2, W1, W2, W3, x)
    value_and_grads(f2, W1, W2, W3, x)

    f3 = jax.checkpoint(f, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
    print_saved_residuals(f3, W1, W2, W3, x)
    value_and_grads(f3, W1, W2, W3, x)

    from funcad.ad_checkpoint import checkpoint_name

    def f4(W1, W2, W3, x):
        x = checkpoint_name(g(W1, x), name='a')
        x = checkpoint_name(g(W2, x), name='b')
        x = checkpoint_name(g(W3, x), name='c')
        return x

    f4 = jax.checkpoint(f4, policy=jax.checkpoint_policies.save_only_these_names('a'))
    print_saved_residuals(f4, W1, W2, W3, x)
    value_and_grads(f4, W1, W2, W3, x)

    # Fundamentals of jax.checkpoint (g and h: see the header)

    def step_by_step(g, h, x0):
        def sin_vjp(x):
            y = jnp.sin(x)
            cos_x = jnp.cos(x)
            return y, lambda y_bar: cos_x * y_bar

        def sin_vjp2(x):
            y = jnp.sin(x)
            return y, lambda y_bar: jnp.cos(x) * y_bar

        for vjp_rule in (sin_vjp, sin_vjp2):
            y, bwd = vjp_rule(x0)
            print(y, bwd(1.0))

        def f(x):
            y = g(x)
            z = h(y)
            return z

        def f_vjp(x):
            y, g_vjp = jax.vjp(g, x)
            z, h_vjp = jax.vjp(h, y)

            def f_bwd(z_bar):
                y_bar, = h_vjp(z_bar)
                x_bar, = g_vjp(y_bar)
                return x_bar
            return z, f_bwd

        def f_vjp_checkpoint(x):
            y = g(x)
            z, h_vjp = jax.vjp(h, y)

            def f_bwd2(z_bar):
                y_bar, = h_vjp(z_bar)
                _, g_vjp = jax.vjp(g, x)
                x_bar, = g_vjp(y_bar)
                return x_bar
            return z, f_bwd2

        for vjp_rule in (f_vjp, f_vjp_checkpoint):
            z, bwd = vjp_rule(x0)
            print(z, bwd(1.0))

        def f_checkpoint(x):
            y = jax.checkpoint(g)(x)
            z = h(y)
            return z

        print(f_checkpoint(x0), jax.grad(f_checkpoint)(x0))

        def f_checkpoint_grad(x):  # noqa: F841 (defined only, as in the notebook)
            y = g(x)                  # step 1
            _, h_vjp = jax.vjp(h)(y)  # step 2
            y_bar, = h_vjp(1.0)       # step 3
            _, g_vjp = jax.vjp(g, x)  # step 4
            x_bar, = g_vjp(y_bar)     # step 5
            return x_bar

        def f_grad_bad1(x):
            _ = f(x)                  # step 1
            _, f_vjp = jax.vjp(f, x)  # step 2
            x_bar, = f_vjp(1.0)       # step 3
            return x_bar

        def f_grad_bad2(x):
            y, g_vjp = jax.vjp(g, x)  # step 1
            _z = h(y)                 # step 2
            _, h_vjp = jax.vjp(h, y)  # step 3
            y_bar, = h_vjp(1.0)       # step 3
            x_bar, = g_vjp(y_bar)     # step 5
            return x_bar

        print(f_grad_bad1(x0), f_grad_bad2(x0))
        print(jax.grad(jax.checkpoint(f))(x0),
              jax.grad(lambda x: jax.checkpoint(h)(g(x)))(x0))

    step_by_step(jnp.sin, jnp.exp, 0.7)

    # Custom policies for what's saveable

    def loss(params, x, y):
        return jnp.sum((predict(params, x) - y)**2)

    def predict(params, x):
        *Ws, Wlast = params
        for W in Ws:
            x = layer(W, x)
        x = jnp.dot(Wlast, x)
        return x

    def layer(W, x):
        return jnp.sin(jnp.dot(W, x))

    W1 = W2 = W3 = jnp.ones((4, 4))
    params = [W1, W2, W3]
    x = jnp.ones(4)
    y = jnp.ones(4)

    print_saved_residuals(loss, params, x, y)
    value_and_grads(loss, params, x, y)

    loss_checkpoint = jax.checkpoint(
        loss, policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
    print_saved_residuals(loss_checkpoint, params, x, y)
    value_and_grads(loss_checkpoint, params, x, y)

    def predict(params, x):  # noqa: F811 (the notebook redefines it)
        *Ws, Wlast = params
        for i, W in enumerate(Ws):
            x = layer(W, x)
            x = checkpoint_name(x, name=f'layer{i}_output')
        x = jnp.dot(Wlast, x)
        return x

    print_saved_residuals(loss, params, x, y)
    value_and_grads(loss, params, x, y)

    loss_checkpoint2 = jax.checkpoint(
        loss, policy=jax.checkpoint_policies.save_any_names_but_these('layer1_output'))
    print_saved_residuals(loss_checkpoint2, params, x, y, record=False)  # see the header
    value_and_grads(loss_checkpoint2, params, x, y)

    # Advanced: recursive jax.checkpoint

    def chain_compose(funs):
        def f(x):
            for fun in funs:
                x = fun(x)
            return x
        return f

    f = chain_compose([jnp.sin] * 8)
    print_saved_residuals(f, 3.)
    value_and_grads(f, 3.)

    f = chain_compose([jnp.sin] * 16)
    print_saved_residuals(f, 3.)
    value_and_grads(f, 3.)

    def recursive_checkpoint(funs):
        if len(funs) == 1:
            return funs[0]
        elif len(funs) == 2:
            f1, f2 = funs
            return lambda x: f1(f2(x))
        else:
            f1 = recursive_checkpoint(funs[:len(funs)//2])
            f2 = recursive_checkpoint(funs[len(funs)//2:])
            return lambda x: f1(jax.checkpoint(f2)(x))

    f = recursive_checkpoint([jnp.sin] * 8)
    print_saved_residuals(f, 3.)
    value_and_grads(f, 3.)

    f = recursive_checkpoint([jnp.sin] * 16)
    print_saved_residuals(f, 3.)
    value_and_grads(f, 3.)

    # Practical notes (layers: see the header)

    from functools import partial

    rng = np.random.default_rng(0)
    params = [(jnp.asarray(rng.normal(size=(4, 4))), jnp.asarray(rng.normal(size=4)))
              for _ in range(3)]
    x = jnp.asarray(rng.normal(size=4))

    def net(params, x):
        for W, b in params:
            x = jnp.maximum(jnp.dot(x, W) + b, 0.)
        return x

    value_and_grads(net, params, x)

    all_weights = jnp.stack([W for W, _ in params])
    all_biases = jnp.stack([b for _, b in params])

    def layer(x, W_b_pair):
        W, b = W_b_pair
        out = jnp.maximum(jnp.dot(x, W) + b, 0.)
        return out, None

    def net(all_weights, all_biases, x):  # noqa: F811
        x, _ = jax.lax.scan(layer, x, (all_weights, all_biases))
        return x

    value_and_grads(net, all_weights, all_biases, x)

    @partial(jax.checkpoint,
             policy=jax.checkpoint_policies.dots_with_no_batch_dims_saveable)
    def layer(x, W_b_pair):  # noqa: F811
        W, b = W_b_pair
        out = jnp.maximum(jnp.dot(x, W) + b, 0.)
        return out, None

    value_and_grads(net, all_weights, all_biases, x)

    return {"printed_numbers": print.numbers, "saved_residual_counts": counts}


if __name__ == "__main__":
    main()
