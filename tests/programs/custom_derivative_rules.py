"""Custom derivative rules for Python code (JAX's tutorial notebook), first part.

Port of docs/notebooks/Custom_derivative_rules_for_Python_code.md of github.com/jax-ml/jax
(commit cec06d1, Apache License 2.0; Copyright the JAX Authors) to funcad: its code cells
in order, from the start up to "You can use Python control flow with jax.custom_jvp"
(`grad(f)(-1.)`, the cell before "Use jax.custom_vjp"). What changed:
  * imports: `jax` -> `funcad` (custom_jvp, custom_vjp, jvp, vjp, grad, jit, vmap,
    make_jaxpr, lax.while_loop, jax.numpy).
  * the cells run inside `main()`, where `print` also records the numbers it prints (as
    floats) and `plt` records what it would plot (every 50th point); the cells whose
    value the notebook displays (`log1pexp(3.)`, `grad(grad(f))(3.)`) are printed; the
    displayed jaxpr is not compared. `main` returns the printed numbers in order.
  * not compared: the texts the side-effect cells print ("called f!", "called f_jvp!").
    JAX prints 10; funcad 14: under vmap and jit it traces a custom_jvp function (and,
    under vmap, its rule) to a jaxpr, where JAX runs them on each transform's values.
  * left out: `print(grad(f)(0.))` for the naive f(x) = x / (1 + sqrt(x)): JAX prints
    nan (0 * inf in the chain rule), funcad 1.0 by design: its derivative rules of sqrt,
    log, division and pow multiply with a strong zero (`mul_sz`, docs/ARCHITECTURE.md) to
    close the "double where" trap. (funcad's jvp still gives nan there.)
  * the custom_jvp whose function and rule branch in Python on `x > 0` runs as in JAX:
    eager derivatives run the rule on the values.
"""

import builtins

import numpy as np


class _Recorder:
  """Stands for print and matplotlib's plt: records numbers and texts in order."""

  def __init__(self, verbose):
    self.numbers, self.texts, self.verbose = [], [], verbose

  def __call__(self, *args):
    for a in args:
      if isinstance(a, str):
        self.texts.append(a)
      else:
        self.numbers.extend(float(v) for v in np.ravel(np.asarray(a)))
    if self.verbose:
      builtins.print(*args)

  def plot(self, values):
    self.numbers.extend(float(v) for v in np.asarray(values)[::50])


def main(verbose=True):
  print = plt = _Recorder(verbose)

  import funcad.numpy as jnp
  from funcad import custom_jvp

  @custom_jvp
  def f(x, y):
    return jnp.sin(x) * y

  @f.defjvp
  def f_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    primal_out = f(x, y)
    tangent_out = jnp.cos(x) * x_dot * y + jnp.sin(x) * y_dot
    return primal_out, tangent_out

  from funcad import jvp, grad

  print(f(2., 3.))
  y, y_dot = jvp(f, (2., 3.), (1., 0.))
  print(y)
  print(y_dot)
  print(grad(f)(2., 3.))

  # Equivalent alternative using the defjvps convenience wrapper

  @custom_jvp
  def f(x, y):
    return jnp.sin(x) * y

  f.defjvps(lambda x_dot, primal_out, x, y: jnp.cos(x) * x_dot * y,
            lambda y_dot, primal_out, x, y: jnp.sin(x) * y_dot)

  print(f(2., 3.))
  y, y_dot = jvp(f, (2., 3.), (1., 0.))
  print(y)
  print(y_dot)
  print(grad(f)(2., 3.))

  from funcad import custom_vjp

  @custom_vjp
  def f(x, y):
    return jnp.sin(x) * y

  def f_fwd(x, y):
    # Returns primal output and residuals to be used in backward pass by f_bwd.
    return f(x, y), (jnp.cos(x), jnp.sin(x), y)

  def f_bwd(res, g):
    cos_x, sin_x, y = res # Gets residuals computed in f_fwd
    return (cos_x * g * y, sin_x * g)

  f.defvjp(f_fwd, f_bwd)

  print(grad(f)(2., 3.))

  def log1pexp(x):
    return jnp.log(1. + jnp.exp(x))

  log1pexp(3.)

  from funcad import jit, grad, vmap

  print(jit(log1pexp)(3.))
  print(jit(grad(log1pexp))(3.))
  print(vmap(jit(grad(log1pexp)))(jnp.arange(3.)))

  print(grad(log1pexp)(100.))

  from funcad import make_jaxpr

  make_jaxpr(grad(log1pexp))(100.)

  from funcad import custom_jvp

  @custom_jvp
  def log1pexp(x):
    return jnp.log(1. + jnp.exp(x))

  @log1pexp.defjvp
  def log1pexp_jvp(primals, tangents):
    x, = primals
    x_dot, = tangents
    ans = log1pexp(x)
    ans_dot = (1 - 1/(1 + jnp.exp(x))) * x_dot
    return ans, ans_dot

  print(grad(log1pexp)(100.))

  print(jit(log1pexp)(3.))
  print(jit(grad(log1pexp))(3.))
  print(vmap(jit(grad(log1pexp)))(jnp.arange(3.)))

  @custom_jvp
  def log1pexp(x):
    return jnp.log(1. + jnp.exp(x))

  log1pexp.defjvps(lambda t, ans, x: (1 - 1/(1 + jnp.exp(x))) * t)

  print(grad(log1pexp)(100.))
  print(jit(log1pexp)(3.))
  print(jit(grad(log1pexp))(3.))
  print(vmap(jit(grad(log1pexp)))(jnp.arange(3.)))

  def f(x):
    return x / (1 + jnp.sqrt(x))

  # print(grad(f)(0.))  (left out: JAX nan, funcad 1.0 by design; see the header)

  @custom_jvp
  def f(x):
    return x / (1 + jnp.sqrt(x))

  @f.defjvp
  def f_jvp(primals, tangents):
    x, = primals
    x_dot, = tangents
    ans = f(x)
    ans_dot = ((jnp.sqrt(x) + 2) / (2 * (jnp.sqrt(x) + 1)**2)) * x_dot
    return ans, ans_dot

  print(grad(f)(0.))

  @custom_jvp
  def f(x):
    return x / (1 + jnp.sqrt(x))

  f.defjvps(lambda t, ans, x: ((jnp.sqrt(x) + 2) / (2 * (jnp.sqrt(x) + 1)**2)) * t)

  print(grad(f)(0.))

  from functools import partial
  from funcad import custom_vjp

  @custom_vjp
  def clip_gradient(lo, hi, x):
    return x  # identity function

  def clip_gradient_fwd(lo, hi, x):
    return x, (lo, hi)  # save bounds as residuals

  def clip_gradient_bwd(res, g):
    lo, hi = res
    return (None, None, jnp.clip(g, lo, hi))  # use None to indicate zero cotangents for lo and hi

  clip_gradient.defvjp(clip_gradient_fwd, clip_gradient_bwd)

  from funcad import vmap

  t = jnp.linspace(0, 10, 1000)

  plt.plot(jnp.sin(t))
  plt.plot(vmap(grad(jnp.sin))(t))

  def clip_sin(x):
    x = clip_gradient(-0.75, 0.75, x)
    return jnp.sin(x)

  plt.plot(clip_sin(t))
  plt.plot(vmap(grad(clip_sin))(t))

  from funcad.lax import while_loop

  def fixed_point(f, a, x_guess):
    def cond_fun(carry):
      x_prev, x = carry
      return jnp.abs(x_prev - x) > 1e-6

    def body_fun(carry):
      _, x = carry
      return x, f(a, x)

    _, x_star = while_loop(cond_fun, body_fun, (x_guess, f(a, x_guess)))
    return x_star

  def newton_sqrt(a):
    update = lambda a, x: 0.5 * (x + a / x)
    return fixed_point(update, a, a)

  print(newton_sqrt(2.))

  print(jit(vmap(newton_sqrt))(jnp.array([1., 2., 3., 4.])))

  from funcad import vjp

  @partial(custom_vjp, nondiff_argnums=(0,))
  def fixed_point(f, a, x_guess):
    def cond_fun(carry):
      x_prev, x = carry
      return jnp.abs(x_prev - x) > 1e-6

    def body_fun(carry):
      _, x = carry
      return x, f(a, x)

    _, x_star = while_loop(cond_fun, body_fun, (x_guess, f(a, x_guess)))
    return x_star

  def fixed_point_fwd(f, a, x_init):
    x_star = fixed_point(f, a, x_init)
    return x_star, (a, x_star)

  def fixed_point_rev(f, res, x_star_bar):
    a, x_star = res
    _, vjp_a = vjp(lambda a: f(a, x_star), a)
    a_bar, = vjp_a(fixed_point(partial(rev_iter, f),
                               (a, x_star, x_star_bar),
                               x_star_bar))
    return a_bar, jnp.zeros_like(x_star)

  def rev_iter(f, packed, u):
    a, x_star, x_star_bar = packed
    _, vjp_x = vjp(lambda x: f(a, x), x_star)
    return x_star_bar + vjp_x(u)[0]

  fixed_point.defvjp(fixed_point_fwd, fixed_point_rev)

  print(newton_sqrt(2.))

  print(grad(newton_sqrt)(2.))
  print(grad(grad(newton_sqrt))(2.))

  print(grad(jnp.sqrt)(2.))
  print(grad(grad(jnp.sqrt))(2.))

  from funcad import custom_jvp
  import funcad.numpy as jnp

  # f :: a -> b
  @custom_jvp
  def f(x):
    return jnp.sin(x)

  # f_jvp :: (a, T a) -> (b, T b)
  def f_jvp(primals, tangents):
    x, = primals
    t, = tangents
    return f(x), jnp.cos(x) * t

  f.defjvp(f_jvp)

  from funcad import jvp

  print(f(3.))

  y, y_dot = jvp(f, (3.,), (1.,))
  print(y)
  print(y_dot)

  from funcad import grad

  print(grad(f)(3.))
  print(grad(grad(f))(3.))

  @custom_jvp
  def f(x, y):
    return x ** 2 * y

  @f.defjvp
  def f_jvp(primals, tangents):
    x, y = primals
    x_dot, y_dot = tangents
    primal_out = f(x, y)
    tangent_out = 2 * x * y * x_dot + x ** 2 * y_dot
    return primal_out, tangent_out

  print(grad(f)(2., 3.))

  @custom_jvp
  def f(x):
    return jnp.sin(x)

  f.defjvps(lambda t, ans, x: jnp.cos(x) * t)

  print(grad(f)(3.))

  @custom_jvp
  def f(x, y):
    return x ** 2 * y

  f.defjvps(lambda x_dot, primal_out, x, y: 2 * x * y * x_dot,
            lambda y_dot, primal_out, x, y: x ** 2 * y_dot)

  print(grad(f)(2., 3.))
  print(grad(f, 0)(2., 3.))  # same as above
  print(grad(f, 1)(2., 3.))

  @custom_jvp
  def f(x, y):
    return x ** 2 * y

  f.defjvps(lambda x_dot, primal_out, x, y: 2 * x * y * x_dot,
            None)

  print(grad(f)(2., 3.))
  print(grad(f, 0)(2., 3.))  # same as above
  print(grad(f, 1)(2., 3.))

  @custom_jvp
  def f(x):
    print('called f!')  # a harmless side-effect
    return jnp.sin(x)

  @f.defjvp
  def f_jvp(primals, tangents):
    print('called f_jvp!')  # a harmless side-effect
    x, = primals
    t, = tangents
    return f(x), jnp.cos(x) * t

  from funcad import vmap, jit

  print(f(3.))

  print(vmap(f)(jnp.arange(3.)))
  print(jit(f)(3.))

  y, y_dot = jvp(f, (3.,), (1.,))
  print(y_dot)

  print(grad(f)(3.))

  print(grad(grad(f))(3.))

  @custom_jvp
  def f(x):
    if x > 0:
      return jnp.sin(x)
    else:
      return jnp.cos(x)

  @f.defjvp
  def f_jvp(primals, tangents):
    x, = primals
    x_dot, = tangents
    ans = f(x)
    if x > 0:
      return ans, 2 * x_dot
    else:
      return ans, 3 * x_dot

  print(grad(f)(1.))
  print(grad(f)(-1.))


  return {"printed_numbers": print.numbers}


if __name__ == "__main__":
  main()
