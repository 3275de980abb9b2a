"""funcad.numpy.fft and lax.fft: the `fft` primitive and its composites.

Oracles: numpy.fft for values (eager, jit as generated Python, jit compiled by Numba with
the native FFT of lowering/numba/_runtime.py); central differences (check_grads, order 2,
both modes) for the jvp and the transposes (RFFT's and IRFFT's are not each other); a
loop over the batch for vmap; the native helpers directly against numpy.fft for many
lengths (powers of two, primes, lengths for Bluestein and for the direct sum, 1).
"""

from __future__ import annotations

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax
from funcad.test_util import check_grads

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]
REAL = [np.float32, np.float64]
NORMS = [None, "backward", "ortho", "forward"]


@pytest.fixture
def numba_on(monkeypatch):
    """Compile with Numba (tests default to running the generated source as Python)."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


def _x(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.normal(size=shape)
    return x.astype(dtype)


def _close(got, want, dtype):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    single = np.dtype(dtype) in (np.float32, np.complex64)
    scale = max(float(np.abs(want).max()) if want.size else 1.0, 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=(3e-6 if single else 1e-13) * scale)


# (name, kwargs, input shape, dtypes): every row runs eagerly against numpy.fft for every
# norm; complex-to-real and real-only functions list the dtypes they accept.
CASES = [
    ("fft", {}, (8,), DTYPES),
    ("fft", {}, (7,), DTYPES),
    ("fft", {}, (1,), DTYPES),
    ("fft", {}, (3, 17), DTYPES),
    ("fft", {"n": 12}, (2, 9), DTYPES),      # zero-padded
    ("fft", {"n": 5, "axis": 0}, (9, 2), DTYPES),   # cropped, first axis
    ("fft", {"n": 1}, (4,), DTYPES),
    ("ifft", {}, (6,), DTYPES),
    ("ifft", {"axis": 1}, (2, 11, 3), DTYPES),
    ("ifft", {"n": 16}, (5, 13), DTYPES),
    ("fft2", {}, (4, 6), DTYPES),
    ("fft2", {"s": (3, 8)}, (2, 5, 5), DTYPES),
    ("ifft2", {"axes": (0, 2)}, (3, 2, 5), DTYPES),
    ("fftn", {}, (2, 3, 4), DTYPES),
    ("fftn", {"axes": (2, 0)}, (3, 2, 5), DTYPES),
    ("fftn", {"s": (4, 3), "axes": (1, 0)}, (3, 5), DTYPES),
    ("ifftn", {"axes": (-1,)}, (2, 19), DTYPES),
    ("ifftn", {"s": (2, 2, 2)}, (3, 3, 3), DTYPES),
    ("rfft", {}, (8,), REAL),
    ("rfft", {}, (9,), REAL),
    ("rfft", {}, (1,), REAL),
    ("rfft", {"n": 10, "axis": 0}, (7, 3), REAL),
    ("rfft", {"n": 3}, (2, 8), REAL),
    ("rfft2", {}, (5, 6), REAL),
    ("rfftn", {}, (3, 4, 5), REAL),
    ("rfftn", {"axes": (0, 2), "s": (4, 7)}, (3, 2, 6), REAL),
    ("irfft", {}, (5,), DTYPES),
    ("irfft", {"n": 9}, (5,), DTYPES),
    ("irfft", {"n": 1}, (3,), DTYPES),
    ("irfft", {"n": 4, "axis": 0}, (6, 2), DTYPES),
    ("irfft", {"n": 13}, (2, 4), DTYPES),    # zero-padded spectrum
    ("irfft2", {}, (4, 5), DTYPES),
    ("irfft2", {"s": (3, 7)}, (2, 4, 3), DTYPES),
    ("irfftn", {}, (3, 4, 3), DTYPES),
    ("irfftn", {"axes": (0, 1), "s": (5, 5)}, (4, 3, 2), DTYPES),
    ("hfft", {}, (5,), DTYPES),
    ("hfft", {"n": 7, "axis": 0}, (4, 3), DTYPES),
    ("ihfft", {}, (8,), REAL),
    ("ihfft", {"n": 5}, (2, 7), REAL),
]


def _cases():
    for i, (name, kw, shape, dtypes) in enumerate(CASES):
        for dt in dtypes:
            yield pytest.param(name, kw, shape, dt, id=f"{i}-{name}-{np.dtype(dt).name}")


@pytest.mark.parametrize("name,kw,shape,dtype", list(_cases()))
def test_values_vs_numpy(name, kw, shape, dtype):
    x = _x(shape, dtype)
    for norm in NORMS:
        want = getattr(np.fft, name)(x, norm=norm, **kw)
        got = getattr(fnp.fft, name)(x, norm=norm, **kw)
        assert isinstance(got, fa.Array)
        _close(got, want, dtype)


def test_integer_and_list_inputs():
    _close(fnp.fft.fft([1, 2, 3]), np.fft.fft([1, 2, 3]), np.float64)
    _close(fnp.fft.rfft(np.arange(6)), np.fft.rfft(np.arange(6)), np.float64)
    _close(fnp.fft.irfft(np.array([1, 2, 3])), np.fft.irfft(np.array([1, 2, 3])), np.float64)
    # booleans (and integers of up to 32 bits) transform in complex64, as in JAX
    _close(fnp.fft.fft(np.array([True, False, True])),
           np.fft.fft(np.array([1.0, 0.0, 1.0], np.float32)), np.float32)


@pytest.mark.parametrize("fft_type,lengths,shape,dtype,ref", [
    (lax.FftType.FFT, (5,), (3, 5), np.complex128, lambda x: np.fft.fft(x)),
    ("fft", (4, 6), (2, 4, 6), np.float64, lambda x: np.fft.fftn(x, axes=(1, 2))),
    (lax.FftType.IFFT, (3, 2, 7), (3, 2, 7), np.complex64,
     lambda x: np.fft.ifftn(x, axes=(0, 1, 2))),
    (lax.FftType.RFFT, (6, 5), (2, 6, 5), np.float32, lambda x: np.fft.rfftn(x, axes=(1, 2))),
    (lax.FftType.IRFFT, (4, 8), (3, 4, 5), np.complex128,
     lambda x: np.fft.irfftn(x, s=(4, 8), axes=(1, 2))),
    ("IRFFT", (7,), (4,), np.complex64, lambda x: np.fft.irfft(x, 7)),
])
def test_lax_fft(fft_type, lengths, shape, dtype, ref):
    x = _x(shape, dtype)
    _close(lax.fft(x, fft_type, lengths), ref(x), dtype)


def test_lax_fft_dtypes_and_jaxpr():
    assert lax.FftType.RFFT == 2 and str(lax.FftType.IRFFT) == "IRFFT"
    jaxpr = fa.make_jaxpr(lambda x: lax.fft(x, lax.FftType.RFFT, (8,)))(np.ones(8, np.float32))
    assert "fft[fft_type=RFFT, fft_lengths=(8,)]" in str(jaxpr)
    assert "c64[5]" in str(jaxpr)
    y = fa.make_jaxpr(lambda x: lax.fft(x, "irfft", (8,)))(np.ones(5, np.complex128))
    assert "f64[8]" in str(y)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: fnp.fft.rfft(np.ones(4, complex)), TypeError, "rfft needs a real array"),
    (lambda: fnp.fft.ihfft(np.ones(4, complex)), TypeError, "ihfft needs a real array"),
    (lambda: fnp.fft.fft(np.ones(4), norm="unitary"), ValueError, "invalid norm"),
    (lambda: fnp.fft.irfft(np.ones(1)), ValueError, r"invalid number of data points \(0\)"),
    (lambda: fnp.fft.fft(np.ones(4), n=0), ValueError, "invalid number of data points"),
    (lambda: fnp.fft.fftn(np.ones((2, 2)), axes=(0, 0)), ValueError, "repeated axes"),
    (lambda: fnp.fft.fftn(np.ones((2, 2)), s=(2,), axes=(0, 1)), ValueError, "lengths"),
    (lambda: fnp.fft.fft(np.ones(4), axis=1), ValueError, "out of bounds"),
    (lambda: lax.fft(np.ones(4), "dct", (4,)), ValueError, "unknown fft_type"),
    (lambda: lax.fft(np.ones(4), lax.FftType.FFT, (5,)), ValueError, "trailing dims"),
    (lambda: lax.fft(np.ones(4, complex), lax.FftType.RFFT, (4,)), TypeError, "real operand"),
    (lambda: lax.fft(np.ones(4, complex), lax.FftType.IRFFT, (4,)), ValueError,
     r"trailing dims \(3,\)"),
])
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_freqs_and_shifts():
    for n in (1, 4, 7):
        for d in (1.0, 0.1):
            _close(fnp.fft.fftfreq(n, d), np.fft.fftfreq(n, d), np.float64)
            _close(fnp.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d), np.float64)
    assert fnp.fft.fftfreq(5, dtype=np.float32).dtype == np.float32
    x = np.arange(30.0).reshape(5, 6)
    for axes in (None, 0, 1, (1, 0), [-1]):
        np.testing.assert_array_equal(fnp.fft.fftshift(x, axes), np.fft.fftshift(x, axes))
        np.testing.assert_array_equal(fnp.fft.ifftshift(x, axes), np.fft.ifftshift(x, axes))
    # traced spacing: d/dd sum(fftfreq(n, d)) = -sum(k) / (n d^2)
    g = fa.grad(lambda d: fnp.sum(fnp.fft.fftfreq(6, d) ** 2))(0.5)
    k = np.fft.fftfreq(6) * 6
    np.testing.assert_allclose(g, -2 * np.sum(k ** 2) / (36 * 0.5 ** 3), rtol=1e-12)
    np.testing.assert_array_equal(fa.jit(fnp.fft.fftshift)(x), np.fft.fftshift(x))


def test_numpy_functions_dispatch_on_tracers():
    """numpy.fft.* on traced values runs funcad.numpy.fft (NumPy's protocol)."""
    x = _x((6,), np.float64)
    check_grads(lambda x: fnp.sum(np.abs(np.fft.rfft(x)) ** 2), (x,), order=1)
    np.testing.assert_allclose(fa.jit(lambda x: np.fft.fft(x))(x), np.fft.fft(x), atol=1e-13)
    # Parseval: d/dx sum |fft(x)|^2 = d/dx n sum x^2 = 2 n x
    np.testing.assert_allclose(fa.grad(lambda x: fnp.sum(np.abs(np.fft.fft(x)) ** 2))(x),
                               12 * x, rtol=1e-12)


# -- derivatives ---------------------------------------------------------------------------

_W8 = np.linspace(0.5, 1.5, 8)

GRAD_CASES = {
    # complex outputs (check_grads pairs them with complex cotangents)
    "fft": (lambda z: fnp.fft.fft(z), (4, 6), np.complex128),
    "fft_real_in": (lambda x: fnp.fft.fft(x, n=7), (2, 5), np.float64),
    "ifft_ortho": (lambda z: fnp.fft.ifft(z, axis=0, norm="ortho"), (5, 3), np.complex128),
    "fft2": (lambda z: fnp.fft.fft2(z, s=(3, 5)), (4, 4), np.complex128),
    "ifftn": (lambda z: fnp.fft.ifftn(z, norm="forward"), (2, 3, 4), np.complex128),
    "rfft_even": (lambda x: fnp.fft.rfft(x), (3, 8), np.float64),
    "rfft_odd": (lambda x: fnp.fft.rfft(x, n=7), (2, 9), np.float64),
    "rfftn": (lambda x: fnp.fft.rfftn(x, axes=(0, 1)), (4, 5, 2), np.float64),
    "irfft_even": (lambda z: fnp.fft.irfft(z, n=8), (2, 5), np.complex128),
    "irfft_odd": (lambda z: fnp.fft.irfft(z, n=7), (2, 4), np.complex128),
    "irfft2": (lambda z: fnp.fft.irfft2(z, s=(3, 6)), (3, 4), np.complex128),
    "irfftn_3d": (lambda z: fnp.fft.irfftn(z, s=(2, 3, 5)), (2, 3, 3), np.complex128),
    "hfft": (lambda z: fnp.fft.hfft(z, n=6, norm="ortho"), (4,), np.complex128),
    "ihfft": (lambda x: fnp.fft.ihfft(x), (7,), np.float64),
    # real-valued losses of the outputs
    "loss_fft_abs": (lambda z: fnp.sum(fnp.abs(fnp.fft.fft(z)) ** 2 * _W8), (8,),
                     np.complex128),
    "loss_rfft_power": (lambda x: fnp.sum(fnp.abs(fnp.fft.rfft(x)) ** 3), (7,), np.float64),
    "loss_irfft": (lambda z: fnp.sum(fnp.sin(fnp.fft.irfft(z, n=8)) * _W8), (5,),
                   np.complex128),
    "loss_roundtrip": (lambda x: fnp.sum(fnp.fft.irfft(fnp.fft.rfft(x) * (1 + 2j), n=8) ** 2
                                         * _W8), (8,), np.float64),
    "loss_real_imag": (lambda z: fnp.sum(fnp.fft.fft2(z).real * fnp.fft.ifft2(z).imag),
                       (3, 4), np.complex128),
    "loss_lax_irfft": (lambda z: fnp.sum(lax.fft(z, lax.FftType.IRFFT, (3, 4)) ** 2),
                       (2, 3, 3), np.complex128),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_check_grads_order_2(name):
    f, shape, dtype = GRAD_CASES[name]
    check_grads(f, (_x(shape, dtype, seed=3),), order=2, modes=("fwd", "rev"))


def test_check_grads_complex64():
    check_grads(lambda z: fnp.fft.irfft(z, n=6), (_x((4,), np.complex64),), order=1)
    check_grads(lambda x: fnp.fft.rfft(x), (_x((5,), np.float32),), order=1)


def test_transposes_are_matrix_transposes():
    """vjp of each lax.fft type equals the transpose of its matrix over the reals."""
    for fft_type, shape, dtype, lengths in [
            ("FFT", (5,), np.complex128, (5,)), ("IFFT", (4,), np.complex128, (4,)),
            ("RFFT", (6,), np.float64, (6,)), ("RFFT", (5,), np.float64, (5,)),
            ("IRFFT", (4,), np.complex128, (6,)), ("IRFFT", (4,), np.complex128, (7,))]:
        def f(x, fft_type=fft_type, lengths=lengths):
            return lax.fft(x, fft_type, lengths)
        x = _x(shape, dtype)
        y, f_vjp = fa.vjp(f, x)
        ct = _x(np.shape(y), np.asarray(y).dtype, seed=5)
        (x_bar,) = f_vjp(ct)
        # <ct, J v> = <J^T ct, v> with <a, b> = Re(sum a b) for random directions v
        for seed in range(3):
            v = _x(shape, dtype, seed=10 + seed)
            _, jv = fa.jvp(f, (x,), (v,))
            lhs = np.real(np.sum(np.asarray(ct) * np.asarray(jv)))
            rhs = np.real(np.sum(np.asarray(x_bar) * v))
            np.testing.assert_allclose(lhs, rhs, rtol=1e-12, err_msg=fft_type)


def test_holomorphic_fft():
    z = _x((4,), np.complex128)
    jac = fa.jacfwd(lambda z: fnp.fft.fft(z), holomorphic=True)(z)
    np.testing.assert_allclose(jac, np.fft.fft(np.eye(4), axis=0), atol=1e-14)
    jr = fa.jacrev(lambda z: fnp.fft.ifft(z), holomorphic=True)(z)
    np.testing.assert_allclose(jr, np.fft.ifft(np.eye(4), axis=0), atol=1e-14)


# -- vmap --------------------------------------------------------------------------------------

VMAP_CASES = [
    (lambda x: fnp.fft.fft(x), 0, (3, 5), np.complex128),
    (lambda x: fnp.fft.fft(x), 1, (4, 3), np.float64),         # batch axis among fft axes
    (lambda x: fnp.fft.rfft2(x), 2, (3, 4, 2), np.float64),
    (lambda x: fnp.fft.irfft(x, n=6), 1, (4, 3), np.complex64),
    (lambda x: lax.fft(x, "IRFFT", (3, 4)), 1, (3, 2, 3), np.complex128),
    (lambda x: lax.fft(x, "IFFT", (3,)), 2, (2, 3, 4), np.complex128),
]


@pytest.mark.parametrize("i", range(len(VMAP_CASES)))
def test_vmap_vs_loop(i):
    f, ax, shape, dtype = VMAP_CASES[i]
    x = _x(shape, dtype)
    got = fa.vmap(f, in_axes=ax)(x)
    want = np.stack([np.asarray(f(np.take(x, k, axis=ax))) for k in range(shape[ax])])
    _close(got, want, dtype)


def test_vmap_of_grad():
    x = _x((3, 6), np.float64)

    def loss(r):
        return fnp.sum(fnp.abs(fnp.fft.rfft(r)) ** 2 * np.arange(1.0, 5.0))
    got = fa.vmap(fa.grad(loss))(x)
    want = np.stack([np.asarray(fa.grad(loss)(r)) for r in x])
    np.testing.assert_allclose(got, want, rtol=1e-12)


# -- jit ---------------------------------------------------------------------------------------

def _many(x, z):
    """One program with every transform type (shared compiled code for the jit tests)."""
    return [fnp.fft.fft(z), fnp.fft.ifft(z, axis=0), fnp.fft.fft2(x, s=(5, 7)),
            fnp.fft.rfft(x), fnp.fft.rfftn(x, norm="ortho"), fnp.fft.irfft(z, n=9),
            fnp.fft.irfft2(z), fnp.fft.hfft(z[0]), fnp.fft.ihfft(x[:, 0])]


def _many_np(x, z):
    return [np.fft.fft(z), np.fft.ifft(z, axis=0), np.fft.fft2(x, s=(5, 7)),
            np.fft.rfft(x), np.fft.rfftn(x, norm="ortho"), np.fft.irfft(z, n=9),
            np.fft.irfft2(z), np.fft.hfft(z[0]), np.fft.ihfft(x[:, 0])]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jit_generated_python(dtype):
    x = _x((6, 17), dtype)
    z = _x((4, 6), np.complex128 if dtype == np.float64 else np.complex64, seed=1)
    for got, want in zip(fa.jit(_many)(x, z), _many_np(x, z), strict=True):
        _close(got, want, dtype)


def test_jit_python_driver(monkeypatch):
    """A program split into kernels under a Python driver calls _pyruntime's helpers
    (NumPy's FFT) under the same names."""
    monkeypatch.setenv("FUNCAD_DRIVER", "python")
    x = _x((6, 17), np.float64)
    z = _x((4, 6), np.complex128, seed=1)
    jitted = fa.jit(lambda x, z: _many(x, z))
    src = jitted.lower(x, z).source
    assert "_pyruntime as _rt" in src and "_rt.fft_axis(" in src
    for got, want in zip(jitted(x, z), _many_np(x, z), strict=True):
        _close(got, want, np.float64)


def test_jit_numba_native_fft(numba_on):
    """Compiled by Numba: the program calls the native FFT helpers (no object mode, no
    NumPy FFT), and agrees with numpy.fft, for both precisions and a Bluestein length."""
    x = _x((6, 37), np.float64)   # 37: Bluestein; 6: direct sum; 8, 16: radix 2 (padding)
    z = _x((4, 6), np.complex128, seed=1)
    jitted = fa.jit(_many)
    src = jitted.lower(x, z).source
    assert "from funcad.lowering.numba import _runtime as _rt" in src
    for helper in ("_rt.fft_axis(", "_rt.rfft_last(", "_rt.irfft_last("):
        assert helper in src
    assert "np.fft" not in src
    compiled = jitted.lower(x, z).compile()
    for got, want in zip(jitted(x, z), _many_np(x, z), strict=True):
        _close(got, want, np.float64)
    assert compiled.fn.nopython_signatures      # a Numba dispatcher in nopython mode
    from funcad.lowering.numba import _runtime as rt
    for helper in (rt.fft_axis, rt.rfft_last, rt.irfft_last):
        assert helper.nopython_signatures        # the native helpers ran compiled
    x32, z32 = x.astype(np.float32), z.astype(np.complex64)
    for got, want in zip(jitted(x32, z32), _many_np(x32, z32), strict=True):
        _close(got, want, np.float32)


def test_jit_numba_grad_in_scan(numba_on):
    """Reverse mode through RFFT/IRFFT inside a compiled loop body (a Numba kernel)."""
    def f(x):
        def body(c, row):
            y = fnp.fft.irfft(fnp.fft.rfft(row) * (1 + 0.5j), n=6)
            return c + fnp.sum(fnp.abs(fnp.fft.fft(y)) ** 2), y
        return lax.scan(body, 0.0, x)[0]
    x = _x((3, 6), np.float64)
    np.testing.assert_allclose(fa.jit(fa.grad(f))(x), fa.grad(f)(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fa.jit(f)(x), f(x), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 12, 16, 17, 31, 64, 97, 100, 127, 128, 243,
                               256, 1000, 1024, 2017])
def test_native_helpers_vs_numpy(n):
    """The Numba-compiled helpers themselves, for lengths of every code path."""
    from funcad.lowering.numba import _runtime as rt
    z = _x((2, n, 3), np.complex128, seed=n)
    for inverse, ref in ((False, np.fft.fft), (True, np.fft.ifft)):
        want = ref(z, axis=1)
        got = rt.fft_axis(z, inverse)
        assert np.abs(got - want).max() <= 1e-13 * np.abs(want).max()
    r = _x((3, n), np.float64, seed=n)
    want = np.fft.rfft(r)
    assert np.abs(rt.rfft_last(r) - want).max() <= 1e-13 * np.abs(want).max()
    spec = want * (1 + 0.3j)
    want = np.fft.irfft(spec, n)
    assert np.abs(rt.irfft_last(spec, n) - want).max() <= 1e-13 * np.abs(want).max()
