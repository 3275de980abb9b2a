"""The Autodiff Cookbook (JAX's tutorial notebook), as a program.

Port of docs/notebooks/autodiff_cookbook.md of github.com/jax-ml/jax (commit cec06d1,
Apache License 2.0; Copyright the JAX Authors) to funcad: its code cells, in order.
What changed:
  * imports: `jax` -> `funcad` (grad, jit, vmap, random, value_and_grad, jacfwd, jacrev,
    jvp, vjp, jax.numpy, jax.test_util.check_grads).
  * the cells run inside `main()`, where `print` also records the numbers it prints
    (floats; complex numbers as real and imaginary parts; pytrees leaf by leaf; booleans
    as 0/1); the cells whose value the notebook displays (the complex `grad(f)(z)` and
    `grad(f, holomorphic=True)(...)` cells) are printed. `main` returns the printed
    numbers in order.
  * the `%timeit` lines and the labels printed around them are gone; the Hessian-vector
    product example uses X, V of shape (6, 8) instead of (30, 40).
  * every code cell is ported, the last one too (the holomorphic gradient through
    `jnp.linalg.cholesky` of a complex Hermitian matrix, printed: 18 numbers).
"""

import builtins

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
                v = np.ravel(np.asarray(leaf))
                if np.iscomplexobj(v):
                    v = np.stack([v.real, v.imag], axis=-1).ravel()
                self.numbers.extend(float(x) for x in v)
        if self.verbose:
            builtins.print(*args)


def main(verbose=True):
    print = _Recorder(verbose)

    import funcad.numpy as jnp
    from funcad import grad, jit, vmap
    from funcad import random

    key = random.key(0)

    grad_tanh = grad(jnp.tanh)
    print(grad_tanh(2.0))

    print(grad(grad(jnp.tanh))(2.0))
    print(grad(grad(grad(jnp.tanh)))(2.0))

    def sigmoid(x):
        return 0.5 * (jnp.tanh(x / 2) + 1)

    # Outputs probability of a label being true.
    def predict(W, b, inputs):
        return sigmoid(jnp.dot(inputs, W) + b)

    # Build a toy dataset.
    inputs = jnp.array([[0.52, 1.12,  0.77],
                       [0.88, -1.08, 0.15],
                       [0.52, 0.06, -1.30],
                       [0.74, -2.49, 1.39]])
    targets = jnp.array([True, True, False, True])

    # Training loss is the negative log-likelihood of the training examples.
    def loss(W, b):
        preds = predict(W, b, inputs)
        label_probs = preds * targets + (1 - preds) * (1 - targets)
        return -jnp.sum(jnp.log(label_probs))

    # Initialize random model coefficients
    key, W_key, b_key = random.split(key, 3)
    W = random.normal(W_key, (3,))
    b = random.normal(b_key, ())

    # Differentiate `loss` with respect to the first positional argument:
    W_grad = grad(loss, argnums=0)(W, b)
    print('W_grad', W_grad)

    # Since argnums=0 is the default, this does the same thing:
    W_grad = grad(loss)(W, b)
    print('W_grad', W_grad)

    # But we can choose different values too, and drop the keyword:
    b_grad = grad(loss, 1)(W, b)
    print('b_grad', b_grad)

    # Including tuple values
    W_grad, b_grad = grad(loss, (0, 1))(W, b)
    print('W_grad', W_grad)
    print('b_grad', b_grad)

    def loss2(params_dict):
        preds = predict(params_dict['W'], params_dict['b'], inputs)
        label_probs = preds * targets + (1 - preds) * (1 - targets)
        return -jnp.sum(jnp.log(label_probs))

    print(grad(loss2)({'W': W, 'b': b}))

    from funcad import value_and_grad
    loss_value, Wb_grad = value_and_grad(loss, (0, 1))(W, b)
    print('loss value', loss_value)
    print('loss value', loss(W, b))

    # Set a step size for finite differences calculations
    eps = 1e-4

    # Check b_grad with scalar finite differences
    b_grad_numerical = (loss(W, b + eps / 2.) - loss(W, b - eps / 2.)) / eps
    print('b_grad_numerical', b_grad_numerical)
    print('b_grad_autodiff', grad(loss, 1)(W, b))

    # Check W_grad with finite differences in a random direction
    key, subkey = random.split(key)
    vec = random.normal(subkey, W.shape)
    unitvec = vec / jnp.sqrt(jnp.vdot(vec, vec))
    W_grad_numerical = (loss(W + eps / 2. * unitvec, b) - loss(W - eps / 2. * unitvec, b)) / eps
    print('W_dirderiv_numerical', W_grad_numerical)
    print('W_dirderiv_autodiff', jnp.vdot(grad(loss)(W, b), unitvec))

    from funcad.test_util import check_grads
    check_grads(loss, (W, b), order=2)  # check up to 2nd order derivatives

    def hvp(f, x, v):
        return grad(lambda x: jnp.vdot(grad(f)(x), v))(x)

    from funcad import jacfwd, jacrev

    # Isolate the function from the weight matrix to the predictions
    f = lambda W: predict(W, b, inputs)

    J = jacfwd(f)(W)
    print("jacfwd result, with shape", J.shape)
    print(J)

    J = jacrev(f)(W)
    print("jacrev result, with shape", J.shape)
    print(J)

    def predict_dict(params, inputs):
        return predict(params['W'], params['b'], inputs)

    J_dict = jacrev(predict_dict)({'W': W, 'b': b}, inputs)
    for k, v in J_dict.items():
        print("Jacobian from {} to logits is".format(k))
        print(v)

    def hessian(f):
        return jacfwd(jacrev(f))

    H = hessian(f)(W)
    print("hessian, with shape", H.shape)
    print(H)

    from funcad import jvp

    # Isolate the function from the weight matrix to the predictions
    f = lambda W: predict(W, b, inputs)

    key, subkey = random.split(key)
    v = random.normal(subkey, W.shape)

    # Push forward the vector `v` along `f` evaluated at `W`
    y, u = jvp(f, (W,), (v,))

    from funcad import vjp

    # Isolate the function from the weight matrix to the predictions
    f = lambda W: predict(W, b, inputs)

    y, vjp_fun = vjp(f, W)

    key, subkey = random.split(key)
    u = random.normal(subkey, y.shape)

    # Pull back the covector `u` along `f` evaluated at `W`
    v = vjp_fun(u)

    from funcad import vjp

    def vgrad(f, x):
      y, vjp_fn = vjp(f, x)
      return vjp_fn(jnp.ones(y.shape))[0]

    print(vgrad(lambda x: 3*x**2, jnp.ones((2, 2))))

    def hvp(f, x, v):
        return grad(lambda x: jnp.vdot(grad(f)(x), v))(x)

    from funcad import jvp, grad

    # forward-over-reverse
    def hvp(f, primals, tangents):
      return jvp(grad(f), primals, tangents)[1]

    def f(X):
      return jnp.sum(jnp.tanh(X)**2)

    key, subkey1, subkey2 = random.split(key, 3)
    X = random.normal(subkey1, (6, 8))
    V = random.normal(subkey2, (6, 8))

    ans1 = hvp(f, (X,), (V,))
    ans2 = jnp.tensordot(hessian(f)(X), V, 2)

    print(jnp.allclose(ans1, ans2, 1e-4, 1e-4))

    # reverse-over-forward
    def hvp_revfwd(f, primals, tangents):
      g = lambda primals: jvp(f, primals, tangents)[1]
      return grad(g)(primals)

    # reverse-over-reverse, only works for single arguments
    def hvp_revrev(f, primals, tangents):
      x, = primals
      v, = tangents
      return grad(lambda x: jnp.vdot(grad(f)(x), v))(x)




    # Isolate the function from the weight matrix to the predictions
    f = lambda W: predict(W, b, inputs)

    # Pull back the covectors `m_i` along `f`, evaluated at `W`, for all `i`.
    # First, use a list comprehension to loop over rows in the matrix M.
    def loop_mjp(f, x, M):
        y, vjp_fun = vjp(f, x)
        return jnp.vstack([jnp.asarray(vjp_fun(mi)) for mi in M])

    # Now, use vmap to build a computation that does a single fast matrix-matrix
    # multiply, rather than an outer loop over vector-matrix multiplies.
    def vmap_mjp(f, x, M):
        y, vjp_fun = vjp(f, x)
        outs, = vmap(vjp_fun)(M)
        return outs

    key = random.key(0)
    num_covecs = 128
    U = random.normal(key, (num_covecs,) + y.shape)

    loop_vs = loop_mjp(f, W, M=U)

    vmap_vs = vmap_mjp(f, W, M=U)

    assert jnp.allclose(loop_vs, vmap_vs), 'Vmap and non-vmapped Matrix-Jacobian Products should be identical'

    def loop_jmp(f, W, M):
        # jvp immediately returns the primal and tangent values as a tuple,
        # so we'll compute and select the tangents in a list comprehension
        return jnp.vstack([jvp(f, (W,), (mi,))[1] for mi in M])

    def vmap_jmp(f, W, M):
        _jvp = lambda s: jvp(f, (W,), (s,))[1]
        return vmap(_jvp)(M)

    num_vecs = 128
    S = random.normal(key, (num_vecs,) + W.shape)

    loop_vs = loop_jmp(f, W, M=S)
    vmap_vs = vmap_jmp(f, W, M=S)

    assert jnp.allclose(loop_vs, vmap_vs), 'Vmap and non-vmapped Jacobian-Matrix products should be identical'

    from funcad import jacrev as builtin_jacrev

    def our_jacrev(f):
        def jacfun(x):
            y, vjp_fun = vjp(f, x)
            # Use vmap to do a matrix-Jacobian product.
            # Here, the matrix is the Euclidean basis, so we get all
            # entries in the Jacobian at once.
            J, = vmap(vjp_fun, in_axes=0)(jnp.eye(len(y)))
            return J
        return jacfun

    assert jnp.allclose(builtin_jacrev(f)(W), our_jacrev(f)(W)), 'Incorrect reverse-mode Jacobian results!'

    from funcad import jacfwd as builtin_jacfwd

    def our_jacfwd(f):
        def jacfun(x):
            _jvp = lambda s: jvp(f, (x,), (s,))[1]
            Jt = vmap(_jvp, in_axes=1)(jnp.eye(len(x)))
            return jnp.transpose(Jt)
        return jacfun

    assert jnp.allclose(builtin_jacfwd(f)(W), our_jacfwd(f)(W)), 'Incorrect forward-mode Jacobian results!'

    def f(x):
        try:
            if x < 3:
                return 2 * x ** 3
            else:
                raise ValueError
        except ValueError:
            return jnp.pi * x

    y, f_vjp = vjp(f, 4.)
    print(jit(f_vjp)(1.))

    def f(z):
      x, y = jnp.real(z), jnp.imag(z)
      return u(x, y) + v(x, y) * 1j

    def g(x, y):
      return (u(x, y), v(x, y))

    def check(seed):
      key = random.key(seed)

      # random coeffs for u and v
      key, subkey = random.split(key)
      a, b, c, d = random.uniform(subkey, (4,))

      def fun(z):
        x, y = jnp.real(z), jnp.imag(z)
        return u(x, y) + v(x, y) * 1j

      def u(x, y):
        return a * x + b * y

      def v(x, y):
        return c * x + d * y

      # primal point
      key, subkey = random.split(key)
      x, y = random.uniform(subkey, (2,))
      z = x + y * 1j

      # tangent vector
      key, subkey = random.split(key)
      c, d = random.uniform(subkey, (2,))
      z_dot = c + d * 1j

      # check jvp
      _, ans = jvp(fun, (z,), (z_dot,))
      expected = (grad(u, 0)(x, y) * c +
                  grad(u, 1)(x, y) * d +
                  grad(v, 0)(x, y) * c * 1j+
                  grad(v, 1)(x, y) * d * 1j)
      print(jnp.allclose(ans, expected))

    check(0)
    check(1)
    check(2)

    def check(seed):
      key = random.key(seed)

      # random coeffs for u and v
      key, subkey = random.split(key)
      a, b, c, d = random.uniform(subkey, (4,))

      def fun(z):
        x, y = jnp.real(z), jnp.imag(z)
        return u(x, y) + v(x, y) * 1j

      def u(x, y):
        return a * x + b * y

      def v(x, y):
        return c * x + d * y

      # primal point
      key, subkey = random.split(key)
      x, y = random.uniform(subkey, (2,))
      z = x + y * 1j

      # cotangent vector
      key, subkey = random.split(key)
      c, d = random.uniform(subkey, (2,))
      z_bar = jnp.array(c + d * 1j)  # for dtype control

      # check vjp
      _, fun_vjp = vjp(fun, z)
      ans, = fun_vjp(z_bar)
      expected = (grad(u, 0)(x, y) * c +
                  grad(v, 0)(x, y) * (-d) +
                  grad(u, 1)(x, y) * c * (-1j) +
                  grad(v, 1)(x, y) * (-d) * (-1j))
      assert jnp.allclose(ans, expected, atol=1e-5, rtol=1e-5)

    check(0)
    check(1)
    check(2)

    def f(z):
      x, y = jnp.real(z), jnp.imag(z)
      return x**2 + y**2

    z = 3. + 4j
    print(grad(f)(z))

    def f(z):
      return jnp.sin(z)

    z = 3. + 4j
    print(grad(f, holomorphic=True)(z))

    def f(z):
      return jnp.conjugate(z)

    z = 3. + 4j
    print(grad(f, holomorphic=True)(z))

    A = jnp.array([[5.,    2.+3j,    5j],
                  [2.-3j,   7.,  1.+7j],
                  [-5j,  1.-7j,    12.]])

    def f(X):
        L = jnp.linalg.cholesky(X)
        return jnp.sum((L - jnp.sin(L))**2)

    print(grad(f, holomorphic=True)(A))

    return {"printed_numbers": print.numbers}


if __name__ == "__main__":
  main()
