"""funcad.distributed on a LocalCluster of 2 single-threaded worker processes.

One cluster serves the whole module. Its workers run real compiled kernels
(FUNCAD_DISABLE_JIT=0) from the test session's kernel cache folder, which they share with
this process; references computed here switch jit on for the call (`_compiled`).
"""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask.distributed")

import funcad as fa  # noqa: E402
import funcad.numpy as fnp  # noqa: E402
from funcad import lax, nn, optim  # noqa: E402
from funcad import distributed as fd  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster
    from funcad.lowering.numba.compile import cache_dir
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None,
                           env={"FUNCAD_DISABLE_JIT": "0", "FUNCAD_COMPILE": "sync",
                                "FUNCAD_CACHE_DIR": cache_dir()})
    c = Client(cluster)          # the current client: dmap(client=None) finds it
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def compiled(monkeypatch):
    """Run jit with compiled kernels in this process, as the workers do."""
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")
    monkeypatch.setenv("FUNCAD_COMPILE", "sync")


def mlp(params, x):
    h = nn.relu(x @ params["w1"] + params["b1"])
    return (h @ params["w2"])[..., 0] + params["b2"]


def loss(params, x, y):
    return fnp.mean((mlp(params, x) - y) ** 2)


PARAMS = {"w1": RNG.normal(size=(8, 5)) / 3, "b1": RNG.normal(size=5),
          "w2": RNG.normal(size=(5, 1)), "b2": np.array(0.1)}
X = RNG.normal(size=(37, 8))
Y = RNG.normal(size=37)


def assert_trees_equal(a, b):
    la, ta = fa.tree_util.tree_flatten(a)
    lb, tb = fa.tree_util.tree_flatten(b)
    assert ta == tb
    for u, v in zip(la, lb, strict=True):
        assert u.shape == v.shape and u.dtype == v.dtype
        np.testing.assert_array_equal(u, v)


def test_per_example_gradients_equal_vmap_bit_for_bit(client, compiled):
    per_example = fa.grad(loss)
    want = fa.jit(fa.vmap(per_example, in_axes=(None, 0, 0)))(PARAMS, X, Y)
    for chunks in (None, 5, 100):
        got = fd.dmap(per_example, in_axes=(None, 0, 0), chunks=chunks)(PARAMS, X, Y)
        assert_trees_equal(got, want)
    eager = fa.vmap(per_example, in_axes=(None, 0, 0))(PARAMS, X, Y)
    for k in want:
        np.testing.assert_allclose(want[k], eager[k], rtol=1e-12, atol=1e-14)


def pair_fun(p, xs, z):
    a, b = xs
    return {"s": fnp.sin(a) * p["k"] + b.sum(), "t": (z * p["k"], p["k"] * 2.0)}


def test_dmap_pytrees_in_axes_out_axes_and_unmapped_outputs(client, compiled):
    p = {"k": np.array([1.5, -0.5])}
    a = RNG.normal(size=(11, 2))
    b = RNG.normal(size=(3, 11))       # mapped along axis 1
    z = RNG.normal(size=(2, 11))       # mapped along axis 1 too
    in_axes = (None, (0, 1), 1)
    out_axes = {"s": 1, "t": (0, None)}
    want = fa.jit(fa.vmap(pair_fun, in_axes=in_axes, out_axes=out_axes))(p, (a, b), z)
    got = fd.dmap(pair_fun, in_axes=in_axes, out_axes=out_axes, client=client,
                  chunks=4)(p, (a, b), z)
    assert_trees_equal(got, want)
    assert got["s"].shape == (2, 11) and got["t"][1].shape == (2,)


def test_dask_array_inputs_run_where_their_blocks_are(client, compiled):
    import dask.array as da
    per_example = fa.grad(loss)
    want = fd.dmap(per_example, in_axes=(None, 0, 0), chunks=10)(PARAMS, X, Y)
    xd = client.persist(da.from_array(X, chunks=(10, 8)))      # data already on workers
    yd = da.from_array(Y, chunks=10) * 1.0                       # computed in the graph
    got = fd.dmap(per_example, in_axes=(None, 0, 0))(PARAMS, xd, yd)
    assert_trees_equal(got, want)
    # a mapped Dask array next to a NumPy one, and a Dask array as an unmapped input
    pd = {k: da.from_array(np.asarray(v)) for k, v in PARAMS.items()}
    assert_trees_equal(fd.dmap(per_example, in_axes=(None, 0, 0))(pd, xd, Y), want)


def test_dask_arrays_on_the_workers_run_in_groups_where_they_are(client, compiled):
    # Regression: the holders of persisted blocks were asked with bare keys, which
    # who_has answers with nothing, so every chunk went through the task graph instead.
    import dask.array as da
    from dask.distributed import wait
    per_example = fa.grad(loss)
    want = fd.dmap(per_example, in_axes=(None, 0, 0), chunks=10)(PARAMS, X, Y)
    xd = client.persist(da.from_array(X, chunks=(10, 8)))
    yd = client.persist(da.from_array(Y, chunks=10))
    wait([xd, yd])
    before = {w: s["groups"] for w, s in fd.worker_stats(client).items()}
    assert_trees_equal(fd.dmap(per_example, in_axes=(None, 0, 0))(PARAMS, xd, yd), want)
    after = fd.worker_stats(client)
    runs = {w: after[w]["groups"] - before.get(w, 0) for w in after}
    holders = {ws[0] for ws in client.who_has(client.futures_of(xd)).values()}
    assert sum(runs.values()) == sum(min(2, n) for n in _blocks_per_worker(client, xd))
    assert {w for w, n in runs.items() if n} <= holders


def _blocks_per_worker(client, x):
    counts = {}
    for ws in client.who_has(client.futures_of(x)).values():
        counts[ws[0]] = counts.get(ws[0], 0) + 1
    return list(counts.values())


def test_numpy_inputs_reach_local_workers_through_shared_memory(client, compiled,
                                                                monkeypatch):
    from funcad import _dist_shm
    monkeypatch.setattr(_dist_shm, "MIN_BYTES", 0)      # (CI-sized inputs)
    assert _dist_shm.workers_share_memory(client)
    per_example = fa.grad(loss)
    want = fa.jit(fa.vmap(per_example, in_axes=(None, 0, 0)))(PARAMS, X, Y)
    before = sum(s["shared_groups"] for s in fd.worker_stats(client).values())
    for chunks in (10, 7):       # twice: the second call reuses the pooled segment
        got = fd.dmap(per_example, in_axes=(None, 0, 0), chunks=chunks)(PARAMS, X, Y)
        assert_trees_equal(got, want)
    assert sum(s["shared_groups"] for s in fd.worker_stats(client).values()) > before
    # an output that is its input (a view of the segment on the worker) comes back whole
    ident = fd.dmap(lambda x: x, chunks=5)(X)
    np.testing.assert_array_equal(ident, X)
    # a mapped axis other than 0 goes the scatter way, with the same result
    np.testing.assert_array_equal(fd.dmap(lambda x: x * 2, in_axes=1, out_axes=1)(X),
                                  X * 2)


def test_dask_array_inputs_chunked_wrongly_are_refused(client):
    import dask.array as da
    g = fd.dmap(fa.grad(loss), in_axes=(None, 0, 0))
    with pytest.raises(ValueError, match=r"chunked along axis 1.*rechunk"):
        g(PARAMS, da.from_array(X, chunks=(10, 4)), Y)
    with pytest.raises(ValueError, match="chunked differently"):
        g(PARAMS, da.from_array(X, chunks=(10, 8)), da.from_array(Y, chunks=20))
    with pytest.raises(ValueError, match="bring their own chunks"):
        fd.dmap(fa.grad(loss), in_axes=(None, 0, 0), chunks=5)(
            PARAMS, da.from_array(X, chunks=(10, 8)), Y)


def test_workers_keep_freed_memory(client, compiled):
    # Dask's nanny makes glibc return freed memory to the OS, so each array a program
    # allocates is faulted in afresh on every call; funcad's workers set glibc to keep it
    # (mallopt). How many page faults that saves depends on the machine (its kernel and
    # where Dask places a call's groups), so the figure lives in
    # benchmarks/bench_distributed.py ("worker page faults per call"); here: the settings
    # took, and repeated calls that reuse the memory stay right.
    g = fd.dmap(lambda r: fnp.sum(fnp.sort(r)[::2]), chunks=2)
    x = np.linspace(-1.0, 1.0, 4 * 300_000).reshape(4, 300_000)
    want = np.array([np.sort(r)[::2].sum() for r in x])
    for _ in range(3):
        np.testing.assert_allclose(g(x), want, rtol=1e-12)
        x = x[::-1].copy()
        want = want[::-1]
    assert all(v.get("mallopt") is True for v in fd.worker_stats(client).values())


def test_closed_over_arrays_travel_as_constants(client, compiled):
    scale = RNG.normal(size=(3, 4))         # a constant of the traced program

    def f(x):
        return fnp.tanh(x @ scale).sum(), x[0] * scale[0, 0]
    xs = RNG.normal(size=(9, 2, 3))
    want = fa.jit(fa.vmap(f))(xs)
    assert_trees_equal(fd.dmap(f, client=client, chunks=4)(xs), want)
    def batch_loss(w, x):
        return fnp.sum(fnp.tanh(x @ (scale * w)))
    vg = fa.value_and_grad(batch_loss)
    w = RNG.normal(size=(3, 4))
    v, g = fd.data_parallel(vg, in_axes=(None, 0), client=client, chunks=3,
                            block_size=2)(w, xs)
    v1, g1 = vg(w, xs)
    np.testing.assert_allclose(v, v1, rtol=1e-13)
    np.testing.assert_allclose(g, g1, rtol=1e-12)


def test_data_parallel_fixed_reduction_order(client, compiled):
    vg = fa.value_and_grad(loss)
    runs = [fd.data_parallel(vg, in_axes=(None, 0, 0), reduce="mean", chunks=c,
                             block_size=4)(PARAMS, X, Y)
            for c in (None, 1, 9, 1000)]         # 10 tasks, 5, 1 (one worker does all)
    for r in runs[1:]:
        assert_trees_equal(r, runs[0])
    # The same tree computed in this process: the cluster does not change a bit.
    prog = fa.jit(vg)
    n, blocks = len(Y), [(lo, min(lo + 4, len(Y))) for lo in range(0, len(Y), 4)]

    def leaf(b):
        lo, hi = blocks[b]
        outs = fa.tree_util.tree_flatten(prog(PARAMS, X[lo:hi], Y[lo:hi]))[0]
        return [o * ((hi - lo) / n) for o in outs]
    top = int(np.ceil(np.log2(len(blocks))))
    local = fd._node_value(top, 0, len(blocks), leaf)
    assert_trees_equal(fa.tree_util.tree_flatten(runs[0])[0], local)
    # And the single-process gradient, up to the reduction order.
    v, g = vg(PARAMS, X, Y)
    np.testing.assert_allclose(runs[0][0], v, rtol=1e-13)
    for k in g:
        np.testing.assert_allclose(runs[0][1][k], g[k], rtol=1e-12, atol=1e-15)


def test_data_parallel_trains_with_optim(client, compiled):
    opt = optim.adam(0.05)
    step = fd.data_parallel(fa.value_and_grad(loss), in_axes=(None, 0, 0), reduce="mean")
    params, state = PARAMS, opt.init(PARAMS)
    losses = []
    for _ in range(5):
        value, grads = step(params, X, Y)
        updates, state = opt.update(grads, state, params)
        params = optim.apply_updates(params, updates)
        losses.append(float(value))
    assert losses[-1] < losses[0]


def _set_worker_env(name, value):
    os.environ[name] = value


def test_user_exception_names_its_chunk(client):
    a = np.tile(np.eye(3), (20, 1, 1))
    a[13] = 0.0                       # singular: np.linalg raises in chunk 2 (10:15)
    b = np.ones((20, 3))
    # Batched solve compiles Numba's LAPACK bindings (~20 s): run the program as Python.
    client.run(_set_worker_env, "FUNCAD_DISABLE_JIT", "1")
    try:
        with pytest.raises(np.linalg.LinAlgError) as info:
            fd.dmap(fnp.linalg.solve, client=client, chunks=5)(a, b)
    finally:
        client.run(_set_worker_env, "FUNCAD_DISABLE_JIT", "0")
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "chunk 2" in notes and "indices 10:15" in notes, notes


N_SLOW = 15_000_000


def slow(x):
    # sin(c) * 0 is 0 for finite c but is computed: ~N_SLOW sines per example.
    return lax.fori_loop(0, N_SLOW, lambda i, c: c + fnp.sin(c) * 0.0 + 1.0, x)


def test_a_killed_worker_loses_no_result(client):
    x = np.arange(8.0)
    d = fd.dmap(slow, client=client, chunks=2)
    d(x[:2])                            # compile and warm up (one chunk)
    t0 = time.perf_counter()
    d(x[:2])
    t_chunk = time.perf_counter() - t0
    box = {}
    resent = fd.caller_stats["chunks_resent"]
    t = threading.Thread(target=lambda: box.setdefault("out", d(x)))
    t.start()
    victim = None
    deadline = time.time() + 30
    while victim is None and time.time() < deadline:
        busy = [w for w, ts in client.processing().items()
                if any("_run_group" in str(k) for k in ts)]
        if busy:
            victim = busy[0]
        else:
            time.sleep(0.02)
    assert victim is not None, "no chunk ever ran"
    pid = client.run(os.getpid, workers=[victim])[victim]
    t_kill = time.perf_counter()
    os.kill(pid, signal.SIGKILL)
    t.join(120)
    assert not t.is_alive()
    np.testing.assert_array_equal(box["out"], x + N_SLOW)
    # The chunks whose data died with the worker were sent again.
    assert fd.caller_stats["chunks_resent"] > resent
    print(f"one chunk takes {t_chunk:.2f}s; the dmap finished "
          f"{time.perf_counter() - t_kill:.2f}s after the kill")


def test_fresh_workers_load_compiled_kernels(client, compiled):
    per_example = fa.grad(loss)
    d = fd.dmap(per_example, in_axes=(None, 0, 0), client=client, chunks=10)
    want = d(PARAMS, X, Y)               # compiled (or loaded) by now
    client.restart()                     # fresh worker processes, same cache folder
    t0 = time.perf_counter()
    got = d(PARAMS, X, Y)
    first = time.perf_counter() - t0
    assert_trees_equal(got, want)
    stats = fd.worker_stats(client)
    assert stats, "no workers"
    for s in stats.values():
        assert not s["jit_disabled"]
        if s["programs_built"]:
            assert s["compiled_total"] == 0, s
            assert s["loaded_total"] > 0, s
    assert any(s["programs_built"] for s in stats.values())
    print(f"fresh workers: first dmap result after {first:.2f}s; per worker "
          f"{[round(s.get('first_result_s', -1), 2) for s in stats.values()]}s")


def test_dmap_refuses_tracers():
    with pytest.raises(TypeError, match="inside a transform"):
        fa.grad(lambda x: fd.dmap(fnp.sin)(x).sum())(np.ones(3))


def test_funcad_never_imports_dask_and_the_extra_is_named():
    code = ("import sys, funcad\n"
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules\n"
            "sys.modules['dask'] = None\n"
            "sys.modules['distributed'] = None\n"
            "try:\n"
            "    import funcad.distributed\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fa.__file__)), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install funcad[distributed]" in out.stdout


def test_without_a_client_a_local_cluster_is_started_and_announced_once(tmp_path):
    script = tmp_path / "no_client.py"
    script.write_text(
        "import warnings\n"
        "import numpy as np\n"
        "import funcad.numpy as fnp\n"
        "from funcad import distributed as fd\n"
        "if __name__ == '__main__':\n"
        "    with warnings.catch_warnings(record=True) as w:\n"
        "        warnings.simplefilter('always')\n"
        "        a = fd.dmap(fnp.sin)(np.arange(40.0))\n"
        "        b = fd.dmap(fnp.cos)(np.arange(40.0))\n"
        "    said = [x for x in w if issubclass(x.category, fd.LocalClusterWarning)]\n"
        "    assert len(said) == 1, [str(x.message) for x in w]\n"
        "    assert 'LocalCluster' in str(said[0].message)\n"
        "    assert np.allclose(a, np.sin(np.arange(40.0)))\n"
        "    fd.get_client().close()\n"
        "    print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fa.__file__)), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
