"""`python -m funcad`: a short tour of the transforms."""

import timeit

import numpy as np

import funcad as fa
import funcad.numpy as fnp


def _heading(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 70 - len(title)))


def loss(w, x, y):
    """Squared error of a tiny tanh model on one example."""
    return (fnp.tanh(fnp.dot(x, w)) - y) ** 2


def main() -> None:
    """Run the tour (NumPy's print options are changed only while it runs)."""
    with np.printoptions(precision=4, suppress=True):
        _tour()


def _tour() -> None:
    w = np.array([0.5, -0.3, 0.8])
    xs = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [-1.0, 0.0, 1.0], [2.0, 1.0, 0.0]])
    ys = np.array([1.0, 0.0, -1.0, 0.5])

    _heading("1. make_jaxpr: the traced program of loss(w, x, y)")
    print("loss = (tanh(x . w) - y) ** 2")
    print(fa.make_jaxpr(loss)(w, xs[0], ys[0]))

    _heading("2. grad: d loss / d w")
    g = fa.grad(loss)(w, xs[0], ys[0])
    print("grad(loss)(w, x0, y0) =", g)
    print("its program:")
    print(fa.make_jaxpr(fa.grad(loss))(w, xs[0], ys[0]))

    _heading("3. vmap: per-example gradients, one row per example")
    per_example = fa.vmap(fa.grad(loss), in_axes=(None, 0, 0))(w, xs, ys)
    print("vmap(grad(loss), in_axes=(None, 0, 0))(w, xs, ys) =")
    print(per_example)
    print("their mean equals grad of the mean loss:",
          np.allclose(per_example.mean(0),
                      fa.grad(lambda w: fnp.mean(fa.vmap(loss, (None, 0, 0))(w, xs, ys)))(w)))

    _heading("4. hessian of f(w) = sum(sin(w) * w ** 2)")
    h = fa.hessian(lambda w: fnp.sum(fnp.sin(w) * w ** 2))(w)
    print(h)

    _heading("5. higher order: four nested grads of sin at 0.5 (= sin(0.5))")
    d4 = fa.grad(fa.grad(fa.grad(fa.grad(fnp.sin))))(0.5)
    print(f"grad^4(sin)(0.5) = {float(d4):.6f}   sin(0.5) = {np.sin(0.5):.6f}")

    _heading("6. jit: compile once per input signature")
    try:
        fast_grad = fa.jit(fa.grad(loss))
        print("jit(grad(loss))(w, x0, y0) =", fast_grad(w, xs[0], ys[0]))
        # A new program's first calls run interpreted while a worker process compiles it
        # (FUNCAD_COMPILE=background, the default); wait for native code before timing.
        fa.wait_compiled()
        args = (w, xs[0], ys[0])
        t_eager = timeit.timeit(lambda: fa.grad(loss)(*args), number=200) / 200
        t_jit = min(timeit.repeat(lambda: fast_grad(*args), number=2000, repeat=3)) / 2000
        print(f"time per call: eager grad {t_eager * 1e6:.0f} us, jit(grad) {t_jit * 1e6:.1f} us")
    except Exception as e:  # the tour must finish even where no compiler backend works
        print(f"jit unavailable here: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main()
