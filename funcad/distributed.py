"""Beyond one machine: `dmap` and `data_parallel` on Dask workers.

Both split a mapped axis into chunks and run them as tasks of Dask's distributed
scheduler (`dask.distributed`); funcad never imports Dask itself, only this module does.

* `dmap(fun, in_axes, out_axes)` is `vmap` across a cluster: each chunk runs
  `jit(vmap(fun))` on a worker, results come back concatenated in order.
* `data_parallel(fun, reduce="sum" | "mean")` runs `fun` on shards of a batch (e.g.
  `value_and_grad(loss)`) and combines the shards' results with a tree reduction on the
  cluster; the caller receives one pytree.

**Shipping programs.** The caller traces the function (once per chunk shape) and ships
the traced program (a pickled jaxpr, see funcad._serialize), never the Python function:
workers do not trace. A worker builds the program with jit's backend
(`compile_jaxpr`), which loads kernels from the disk cache (`FUNCAD_CACHE_DIR`) when any
process compiled them before: with a cache folder shared by the cluster (a local
cluster shares the caller's), a fresh worker loads instead of compiling. The first call
of a new program is built on one worker before the other chunks are sent, so that the
other workers load it too. Unmapped inputs (parameters) and the program's constants are
scattered to every worker once per call (`broadcast=True`), not sent once per chunk.
`dmap` sends consecutive chunks in groups (two per worker thread: a task costs Dask a few
milliseconds). When every worker maps this machine's shared memory (a local cluster) and
the mapped NumPy inputs are large, they go into one pooled shared segment and the tasks
carry index ranges of it (funcad/_dist_shm.py); otherwise each group's mapped inputs are
scattered straight to one worker (one network hop, half the time of sending them inside
the task through the scheduler), and a group is sent again from the caller if its data
died with a worker. Workers keep freed memory
for reuse (see `_keep_freed_memory`). `data_parallel`'s chunks travel
inside their tasks, so that Dask itself can run them again elsewhere and the merge tasks
that depend on them stay valid.

**Determinism.** `dmap`'s results are per-example and its chunks depend on the mapped size
and `chunks` only, so they are bit-identical whatever the number of workers. Across
chunk sizes they are bit-identical too, with one exception: a matrix product over the
mapped axis goes to OpenBLAS, which picks its kernel by matrix size, and for small row
counts (below ~16 rows here) rounds some rows differently in the last bit; funcad's own
kernels compute every example alike at any batch size (tests/test_distributed.py checks
chunks of 5, 37 and the default against one `jit(vmap(fun))` call). `data_parallel` fixes its reduction order independently of
workers and chunks: the batch is cut into blocks of `block_size` examples (by default
`ceil(n / 64)`), `fun` runs on each block, and block results are summed along a fixed
binary tree over block indices (node `(l, j)` = node `(l-1, 2j)` + node `(l-1, 2j+1)`).
A chunk (a run of whole blocks) computes the largest complete subtrees it holds; merge
tasks add sibling subtrees exactly as the tree says. So the result depends on the inputs
and `block_size` only: bit-identical for any number of workers and any `chunks`. With
`reduce="mean"` each block's result is first multiplied by `n_block / n`.

**Faults.** A worker that dies mid-computation loses no result: the scheduler runs its
tasks again elsewhere (`dmap` sends the chunks whose data died with it again,
`caller_stats["chunks_resent"]`). An exception raised by a chunk's program (e.g. NumPy's LinAlgError
on a singular matrix) is raised on the caller as itself, with a note naming the chunk
and its index range along the mapped axis.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import warnings
from typing import Any, Callable, Sequence

try:
    import dask
    import distributed as _dd
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "funcad.distributed needs Dask's distributed scheduler, which is not installed: "
        "pip install funcad[distributed]  (or: pip install \"dask[distributed]\")") from e

import numpy as np

from funcad import _dist_shm as _shm
from funcad._core import Tracer
from funcad._serialize import dumps, loads
from funcad._tree import tree_broadcast_prefix, tree_flatten, tree_unflatten

__all__ = ["LocalClusterWarning", "caller_stats", "data_parallel", "dmap", "get_client",
           "worker_stats"]


class LocalClusterWarning(UserWarning):
    """funcad.distributed started a LocalCluster because no Dask client was running."""


# ---------------------------------------------------------------------------------------
# The client


_local: dict[str, Any] = {}
_local_lock = threading.Lock()


def get_client(client: Any = None) -> Any:
    """The Dask client to use: `client`, else the current one, else a local cluster.

    The local cluster (started once per process, announced once with a
    `LocalClusterWarning`) has one single-threaded worker process per core and shares
    this process's kernel cache folder, so workers load what this process compiled.
    """
    if client is not None:
        return client
    try:
        return _dd.get_client()
    except ValueError:
        pass
    with _local_lock:
        c = _local.get("client")
        if c is not None and c.status == "running":
            return c
        from funcad.lowering.numba.compile import cache_dir
        n = os.cpu_count() or 1
        cluster = _dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   env={"FUNCAD_CACHE_DIR": cache_dir()})
        c = _dd.Client(cluster, set_as_default=False)
        _local["client"] = c
        warnings.warn(
            f"funcad.distributed: no Dask client is running, so a LocalCluster of {n} "
            f"single-threaded worker processes was started on this machine (dashboard: "
            f"{c.dashboard_link}); pass client= or create a dask.distributed.Client to "
            f"use another cluster.", LocalClusterWarning, stacklevel=3)
        return c


def _nthreads(client) -> int:
    n = sum(client.nthreads().values())
    if n == 0:
        client.wait_for_workers(1)
        n = sum(client.nthreads().values())
    return n


# ---------------------------------------------------------------------------------------
# Worker side: programs by key, built once per process through the kernel cache


_programs: dict[str, Callable] = {}
_wstats: dict[str, Any] = {"programs_built": 0, "build_seconds": 0.0, "chunks": 0,
                           "groups": 0, "shared_groups": 0, "busy_seconds": 0.0,
                           "started": time.time(), "first_result": None}
_wlock = threading.Lock()


#: Worker allocator settings (glibc's mallopt): large blocks come from the heap and freed
#: memory is kept for reuse. Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers
#: (to return memory to the OS), which also fixes the mmap threshold at 128 KiB: every
#: array a program allocates was then a fresh mapping, faulted in page by page on each call
#: (2,000 page faults per call for 32 ODE gradients, 19.4 ms against 16.0 ms in a plain
#: process). FUNCAD_WORKER_KEEP_MEMORY=0 leaves Dask's settings alone.
_MMAP_THRESHOLD = 32 << 20     # glibc's largest
_TRIM_THRESHOLD = 128 << 20


def _keep_freed_memory() -> None:
    if os.environ.get("FUNCAD_WORKER_KEEP_MEMORY", "1") == "0" or "mallopt" in _wstats:
        return
    _wstats["mallopt"] = False                # tried once; True once glibc took both
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        took = (libc.mallopt(-3, _MMAP_THRESHOLD),     # M_MMAP_THRESHOLD
                libc.mallopt(-1, _TRIM_THRESHOLD))     # M_TRIM_THRESHOLD
        _wstats["mallopt"] = took == (1, 1)
    except (OSError, AttributeError):         # not glibc: nothing to tune
        pass


def _program(key: str, payload: bytes) -> Callable:
    run = _programs.get(key)
    if run is not None:
        return run
    with _wlock:
        run = _programs.get(key)
        if run is None:
            _keep_freed_memory()
            from funcad.lowering.numba.compile import compile_jaxpr
            t0 = time.perf_counter()
            jaxpr, name, options = loads(payload)
            run = compile_jaxpr(jaxpr, name, options).run
            _wstats["programs_built"] += 1
            _wstats["build_seconds"] += time.perf_counter() - t0
            _programs[key] = run
        return run


def _prepare(key: str, payload: bytes) -> bool:
    _program(key, payload)
    return True


def _note(e: BaseException, text: str) -> None:
    if hasattr(e, "add_note"):
        e.add_note(text)
    else:  # Python 3.10
        e.__notes__ = [*getattr(e, "__notes__", []), text]


def _done_chunk() -> None:
    _wstats["chunks"] += 1
    if _wstats["first_result"] is None:
        _wstats["first_result"] = time.time()


def _native(x):
    # Arrays that Dask deserialized may be read-only views at unaligned offsets of a
    # message buffer; compiled kernels take aligned, C-contiguous, writeable arrays.
    if type(x) is np.ndarray and not (x.flags.aligned and x.flags.c_contiguous
                                      and x.flags.writeable):
        return np.array(x, order="C")
    return x


def _run_chunk(key: str, payload: bytes, args: list, what: str) -> list:
    """Run one chunk's program (worker side); returns its flat outputs."""
    t0 = time.perf_counter()
    try:
        outs = _program(key, payload)(*[_native(a) for a in args])
    except Exception as e:
        _note(e, what)
        raise
    _wstats["busy_seconds"] += time.perf_counter() - t0
    _done_chunk()
    return [np.asarray(o) for o in outs]


def _run_chunk_data(key: str, payload: bytes, consts: list, template: list,
                    mapped_pos: list, data: list, what: str) -> list:
    """`_run_chunk` for a chunk whose mapped inputs were scattered on their own."""
    args = list(template)
    for k, x in zip(mapped_pos, data, strict=True):
        args[k] = x
    return _run_chunk(key, payload, [*consts, *args], what)


def _run_group(programs: list, consts: list, template: list, mapped_pos: list,
               data: list, whats: list) -> list:
    """Run a group of chunks one after the other (worker side); their outputs in order."""
    _wstats["groups"] += 1
    return [_run_chunk_data(key, payload, cs, template, mapped_pos, d, what)
            for (key, payload), cs, d, what in zip(programs, consts, data, whats,
                                                   strict=True)]


def _run_group_shared(programs: list, consts: list, template: list, mapped_pos: list,
                      segment: tuple, bounds: list, whats: list) -> list:
    """`_run_group` for chunks read in place from the caller's shared memory `segment`
    (name, layout: see funcad._dist_shm); outputs never view it."""
    from funcad._dist_shm import Chunks
    chunks = Chunks(*segment)
    _wstats["shared_groups"] += 1
    data = [[chunks.get(j, lo, hi) for j in range(len(mapped_pos))] for lo, hi in bounds]
    res = _run_group(programs, consts, template, mapped_pos, data, whats)
    return [[chunks.own(r) for r in outs] for outs in res]


def _groups(n: int, k: int) -> list[list[int]]:
    """0..n-1 cut into at most k runs of consecutive indices, of sizes differing by <= 1."""
    k = max(1, min(n, k))
    size, extra = divmod(n, k)
    out, lo = [], 0
    for g in range(k):
        hi = lo + size + (g < extra)
        out.append(list(range(lo, hi)))
        lo = hi
    return out


def _local_stats() -> dict:
    from funcad.lowering.numba import compile as comp
    out = dict(_wstats)
    out.update({k: comp.stats[k] for k in ("kernels_compiled", "kernels_loaded",
                                           "kernels_llvm", "compiled", "disk_hits")})
    try:
        from funcad.lowering.llvm.kernel_compiler import kernel_stats
    except ImportError:  # llvmlite absent: every kernel goes to Numba
        kernel_stats = {"compiled": 0, "loaded": 0}
    out["llvm_compiled"] = kernel_stats["compiled"]
    out["llvm_loaded"] = kernel_stats["loaded"]
    # Everything compiled or loaded from the disk cache by this process, both compilers.
    out["compiled_total"] = (out["llvm_compiled"] + out["kernels_compiled"]
                             + out["compiled"])
    out["loaded_total"] = out["llvm_loaded"] + out["kernels_loaded"] + out["disk_hits"]
    out["pid"] = os.getpid()
    try:
        import resource
        out["minor_faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    except ImportError:       # not on this platform
        pass
    out["jit_disabled"] = comp.jit_disabled()
    out["cache_dir"] = comp.cache_dir()
    if out["first_result"] is not None:
        out["first_result_s"] = out["first_result"] - out["started"]
    return out


def worker_stats(client: Any = None) -> dict:
    """Per worker: programs built, kernels compiled/loaded, chunks run, pid, cache folder.

    `compiled_total` counts what the worker compiled (LLVM kernels, Numba kernels and
    whole programs), `loaded_total` what it loaded from the disk cache instead.

    `minor_faults` counts the process's page faults so far (memory reuse shows as few).
    `first_result_s` is the time from the worker's import of funcad.distributed (its first
    funcad task) to its first chunk result: what a fresh worker costs. `busy_seconds`:
    wall time spent running chunk programs (compare it with the caller's wall time).
    """
    return get_client(client).run(_local_stats)


# ---------------------------------------------------------------------------------------
# Caller side


class _Shipped:
    """A traced program as it travels: key, pickled jaxpr, and its concrete constants."""

    __slots__ = ("key", "payload", "consts", "out_tree", "jaxpr")

    def __init__(self, jaxpr, consts, out_tree, name, options):
        self.jaxpr = jaxpr
        self.payload = dumps((jaxpr, name, options), for_eval=True)
        self.key = hashlib.sha256(self.payload).hexdigest()[:32]
        self.consts = list(consts)
        self.out_tree = out_tree


class _Programs:
    """The caller's traces of one jitted function, by jaxpr, and which were prepared."""

    def __init__(self, jitted):
        self.jitted = jitted
        self.by_jaxpr: dict[int, tuple[Any, _Shipped]] = {}
        self.prepared: set = set()

    def get_entry(self, args: Sequence, kwargs: dict) -> tuple[_Shipped, list]:
        (jaxpr, consts, out_tree, _), leaves = self.jitted.trace(*args, **kwargs)
        hit = self.by_jaxpr.get(id(jaxpr))
        if hit is None or hit[0] is not jaxpr:
            hit = (jaxpr, _Shipped(jaxpr, consts, out_tree, self.jitted.name,
                                   self.jitted.options))
            self.by_jaxpr[id(jaxpr)] = hit
        return hit[1], leaves

    def prepare(self, client, shipped: list[_Shipped]) -> None:
        """Build new programs on one worker first: the others then load its kernels."""
        new = [s for s in shipped if (id(client), s.key) not in self.prepared]
        if not new:
            return
        futs = [client.submit(_prepare, s.key, s.payload, pure=False) for s in new]
        client.gather(futs, errors="raise")
        for s in new:
            self.prepared.add((id(client), s.key))


def _check_untraced(leaves, what: str) -> None:
    if any(isinstance(x, Tracer) for x in leaves):
        raise TypeError(
            f"{what} cannot be called inside a transform (jit, grad, vmap, ...): it runs "
            f"on a Dask cluster with concrete values. Call it outside, e.g. "
            f"dmap(grad(loss)) instead of grad(dmap(loss)).")


def _mapped_layout(args, kwargs, in_axes, what: str):
    """Flat leaves and their normalized mapped axes (None: unmapped), and the axis size."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple) and len(in_axes) != len(args):
        raise ValueError(f"{what}: in_axes has {len(in_axes)} entries but the function was "
                         f"called with {len(args)} positional arguments")
    spec = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    axes = list(tree_broadcast_prefix(spec, tuple(args), "in_axes"))
    leaves, in_tree = tree_flatten((tuple(args), dict(kwargs)))
    kw_leaves = tree_flatten(dict(kwargs))[0]
    axes += [0] * len(kw_leaves)
    _check_untraced(leaves, what)
    leaves = [x if type(x) is np.ndarray or _is_dask_array(x) else np.asarray(x)
              for x in leaves]
    sizes, norm = [], []
    for x, ax in zip(leaves, axes, strict=True):
        if ax is None:
            norm.append(None)
            continue
        if not isinstance(ax, int) or not -x.ndim <= ax < x.ndim:
            raise ValueError(f"{what}: in_axes={ax!r} does not fit an input of shape "
                             f"{x.shape}")
        norm.append(ax % x.ndim)
        sizes.append(x.shape[ax])
    if not sizes:
        raise ValueError(f"{what}: no input is mapped (all in_axes are None)")
    if len(set(sizes)) > 1:
        raise ValueError(f"{what}: the mapped axes have different sizes {sorted(set(sizes))}; "
                         f"all mapped axes must have the same size")
    return leaves, in_tree, norm, sizes[0]


def _is_dask_array(x) -> bool:
    return type(x).__module__.startswith("dask.array") and hasattr(x, "chunks")


def _dask_bounds(leaves: list, axes: list, what: str) -> list[tuple[int, int]] | None:
    """The chunk bounds along the mapped axis of the Dask array inputs (None: none).

    Chunks of a mapped Dask array become dmap's chunks, so each task runs where its data
    already is; every mapped Dask array must be chunked along the mapped axis only, and
    alike.
    """
    found = None
    for x, ax in zip(leaves, axes, strict=True):
        if ax is None or not _is_dask_array(x):
            continue
        if any(math.isnan(d) for d in x.shape):
            raise ValueError(f"{what}: a Dask array input has unknown chunk sizes "
                             f"{x.chunks}; call x.compute_chunk_sizes() first")
        split = [d for d, c in enumerate(x.chunks) if d != ax and len(c) > 1]
        if split:
            raise ValueError(
                f"{what}: a mapped Dask array input is chunked along axis {split[0]} "
                f"(chunks {x.chunks}), but dmap runs one task per chunk of the mapped "
                f"axis {ax}; rechunk it, e.g. x.rechunk({{{split[0]}: -1}})")
        mine = x.chunks[ax]
        if found is not None and mine != found:
            raise ValueError(f"{what}: the mapped Dask array inputs are chunked "
                             f"differently along the mapped axis ({found} and {mine}); "
                             f"rechunk them alike")
        found = mine
    if found is None:
        return None
    edges = np.cumsum((0, *found))
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]


def _take(x: np.ndarray, ax: int, lo: int, hi: int) -> np.ndarray:
    idx = [slice(None)] * x.ndim
    idx[ax] = slice(lo, hi)
    return np.ascontiguousarray(x[tuple(idx)])


def _bounds(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _scatter(client, values: list) -> list:
    # hash=False: a new key per call. With content-hashed keys, a call that scatters the
    # same arrays as the previous one can race with the release of that call's keys and
    # leave workers waiting for data the scheduler has just forgotten.
    if not values:
        return []
    return client.scatter(values, broadcast=True, hash=False)


def _gather_in_order(client, futures: list, names: list[str]) -> list:
    """Results in order; a failure is raised as itself, with a note naming its chunk.

    The worker adds the note where the chunk's program raised; here it is added for
    failures outside the program (e.g. a chunk that could not be deserialized).
    """
    try:
        return client.gather(futures, errors="raise")
    except Exception as e:
        notes = getattr(e, "__notes__", [])
        if not any("chunk" in n for n in notes):
            erred = [n for f, n in zip(futures, names, strict=True) if f.status == "error"]
            _note(e, erred[0] if erred else f"in one of {len(futures)} chunks")
        raise
    finally:
        for f in futures:
            if f.status == "pending":
                f.cancel()


#: Caller-side counters: tasks (groups of chunks) sent again because their data died with a
#: worker.
caller_stats: dict[str, int] = {"chunks_resent": 0}


def _is_lost(e: BaseException) -> bool:
    """True for a task cancelled because data it needed died with a worker."""
    return isinstance(e, _dd.client.FutureCancelledError) or type(e).__name__ in (
        "FutureCancelledError", "CancelledError")


def _run_resubmitting(client, submit: Callable[[list], list], n: int, names: list) -> list:
    """Results of chunks 0..n-1 in order. A chunk whose scattered data died with its
    worker (its task is cancelled for lost dependencies) is sent again from here; any
    other failure is raised as itself, with a note naming the chunk."""
    futures = submit(list(range(n)))
    results: list = [None] * n
    resent = 0
    try:
        for i in range(n):
            while True:
                try:
                    results[i] = futures[i].result()
                    break
                except BaseException as e:
                    if _is_lost(e) and resent < 3 * n:
                        lost = [j for j in range(i, n) if futures[j].status == "cancelled"]
                        lost = lost or [i]
                        resent += len(lost)
                        caller_stats["chunks_resent"] += len(lost)
                        for j, f in zip(lost, submit(lost), strict=True):
                            futures[j] = f
                        continue
                    if isinstance(e, Exception) and not any(
                            "chunk" in t for t in getattr(e, "__notes__", [])):
                        _note(e, names[i])
                    raise
        return results
    finally:
        for f in futures:
            if f.status == "pending":
                f.cancel()


# The chunks of mapped inputs are part of the task graph on purpose (see the module
# docstring): a large batch is a large graph, which is not worth a warning here.
def _quiet_large_graphs():
    return dask.config.set({"distributed.admin.large-graph-warning-threshold": "64GB"})


def dmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, client: Any = None,
         chunks: int | None = None) -> Callable:
    """`vmap` across a Dask cluster: chunks of the mapped axis run on workers.

    Args:
      fun: the function to map (any funcad-traceable function, e.g. `grad(loss)`).
      in_axes, out_axes: as in `vmap` (ints, None or pytree prefixes). Keyword arguments
        are mapped along axis 0.
      client: a `dask.distributed.Client`; None uses the current client, or starts a
        local cluster (see `get_client`).
      chunks: examples per chunk (the last may be smaller); None: `max(32, ceil(n/64))`,
        which depends on the mapped size `n` only, never on the cluster. Mapped inputs
        may be Dask arrays (data already on the cluster, or computed there): then their
        chunks along the mapped axis are dmap's chunks (leave `chunks` None), and each
        chunk's task runs on the worker that holds the block, so no data goes through
        the caller.
    Returns:
      A function with `fun`'s arguments; its result equals `vmap(fun, in_axes,
      out_axes)(...)` computed with jit (bit for bit, except where a BLAS call rounds
      differently for the chunk's number of rows; see the module docstring).

    Each chunk runs the traced program of `jit(vmap(fun))` on a worker (the function
    itself is never sent). Unmapped inputs go to every worker once per call.

    >>> import funcad as fa, funcad.numpy as fnp, numpy as np
    >>> from dask.distributed import Client, LocalCluster
    >>> with Client(LocalCluster(n_workers=1, processes=False)) as c:   # doctest: +SKIP
    ...     dmap(lambda w, x: fnp.dot(x, w), in_axes=(None, 0), client=c)(
    ...         np.ones(2), np.ones((5, 2)))
    array([2., 2., 2., 2., 2.])
    """
    from funcad import jit, vmap
    programs = _Programs(jit(vmap(fun, in_axes=in_axes, out_axes=out_axes)))
    name = getattr(fun, "__name__", "fun")

    def dmapped(*args, **kwargs):
        what = f"dmap of {name}"
        leaves, in_tree, axes, n = _mapped_layout(args, kwargs, in_axes, what)
        c = get_client(client)
        for k, (x, ax) in enumerate(zip(leaves, axes, strict=True)):
            if ax is None and _is_dask_array(x):      # parameters: computed, then sent
                leaves[k] = np.asarray(c.compute(x).result())
        bounds = _dask_bounds(leaves, axes, what)
        if bounds is not None and chunks is not None:
            raise ValueError(f"{what}: chunks={chunks!r} was given, but the Dask array "
                             f"inputs bring their own chunks; rechunk them instead")
        if bounds is None:
            # The default does not depend on the cluster: the result must not either
            # (BLAS may round differently for another number of rows, see the module
            # docstring).
            size = chunks if chunks is not None else min(n, max(32, -(-n // 64)))
            if not isinstance(size, int) or size < 1:
                raise ValueError(f"{what}: chunks={chunks!r} must be a positive int")
            bounds = _bounds(n, size)
        # Trace one program per distinct chunk size (at most two for NumPy inputs).
        progs = {}
        for lo, hi in bounds:
            if hi - lo not in progs:
                chunk = [x if ax is None else _take(x, ax, lo, hi) if not _is_dask_array(x)
                         else _placeholder(x, ax, hi - lo)
                         for x, ax in zip(leaves, axes, strict=True)]
                a, kw = tree_unflatten(in_tree, chunk)
                progs[hi - lo] = programs.get_entry(a, kw)
        shipped = [p for p, _ in progs.values()]
        programs.prepare(c, shipped)
        mapped_pos = [k for k, ax in enumerate(axes) if ax is not None]
        names = [f"in chunk {i} of {what}: indices {lo}:{hi} of the mapped axis (of size "
                 f"{n})" for i, (lo, hi) in enumerate(bounds)]
        if any(_is_dask_array(leaves[k]) for k in mapped_pos):
            results = _run_on_data(c, progs, leaves, axes, bounds, mapped_pos, names, what)
            return _assemble(results, shipped[0].out_tree, out_axes)

        # Chunks travel and run in groups of consecutive chunks, two groups per worker
        # thread: a task costs Dask a few ms, and a chunk's result does not depend on its
        # group (each chunk still runs alone), so grouping never changes a bit.
        groups = _groups(len(bounds), 2 * _nthreads(c))
        group_names = [f"in chunks {g[0]}-{g[-1]} of {what}: indices {bounds[g[0]][0]}:"
                       f"{bounds[g[-1]][1]} of the mapped axis (of size {n})" for g in groups]

        shared = None
        if (all(axes[k] == 0 for k in mapped_pos) and mapped_pos
                and sum(leaves[k].nbytes for k in mapped_pos) >= _shm.MIN_BYTES
                and _shm.workers_share_memory(c)):
            # Workers on this machine read the mapped inputs from shared memory.
            shared = _shm.SharedInputs([leaves[k] for k in mapped_pos])

        def submit(idx: list[int]) -> list:
            # Unmapped inputs and constants: to every worker once. Groups of chunks:
            # straight to one worker each (direct scatter: one network hop, half the time
            # of sending them inside tasks through the scheduler), or as index ranges of
            # the shared segment.
            fixed = _scatter(c, [x for x, ax in zip(leaves, axes, strict=True) if ax is None])
            consts = {s.key: _scatter(c, s.consts) for s in shipped}
            if shared is None:
                data = c.scatter([[[_take(leaves[k], axes[k], *bounds[i]) for k in mapped_pos]
                                   for i in groups[gi]] for gi in idx], direct=True,
                                 hash=False)
            it = iter(fixed)
            template = [None if ax is not None else next(it) for ax in axes]
            futs = []
            for n_, gi in enumerate(idx):
                chunk_progs = [progs[bounds[i][1] - bounds[i][0]][0] for i in groups[gi]]
                progs_ = [(p.key, p.payload) for p in chunk_progs]
                consts_ = [consts[p.key] for p in chunk_progs]
                whats = [names[i] for i in groups[gi]]
                if shared is None:
                    futs.append(c.submit(_run_group, progs_, consts_, template, mapped_pos,
                                         data[n_], whats, pure=False))
                else:
                    futs.append(c.submit(_run_group_shared, progs_, consts_, template,
                                         mapped_pos, (shared.name, shared.layout),
                                         [bounds[i] for i in groups[gi]], whats, pure=False))
            return futs

        try:
            results = _run_resubmitting(c, submit, len(groups), group_names)
        finally:
            if shared is not None:
                shared.release()
        return _assemble([r for group in results for r in group], shipped[0].out_tree,
                         out_axes)

    dmapped.__name__ = f"dmap_{name}"
    dmapped.__doc__ = fun.__doc__
    return dmapped


def _placeholder(x, ax: int, size: int) -> np.ndarray:
    """Zeros shaped like a chunk of the Dask array `x`: tracing needs shapes only."""
    shape = list(x.shape)
    shape[ax] = size
    return np.zeros(shape, x.dtype)


def _run_on_data(c, progs: dict, leaves: list, axes: list, bounds: list, mapped_pos: list,
                 names: list, what: str) -> list:
    """The chunks' outputs, computed where the blocks of the Dask array inputs are.

    Blocks already in the workers' memory (a persisted or scattered array): the chunks
    each worker holds run there in two groups (two tasks per worker, not one per chunk).
    Otherwise (a lazy array, computed in the same graph) one task per chunk.
    """
    blocks = {}
    for k in mapped_pos:
        x = leaves[k]
        if _is_dask_array(x):
            d = x.to_delayed()
            blocks[k] = list(np.moveaxis(d, axes[k], 0).reshape(d.shape[axes[k]], -1)[:, 0])
    holders = _holders(c, blocks, len(bounds))
    if holders is None:
        return _gather_in_order(c, _submit_on_data(c, progs, leaves, axes, bounds,
                                                   mapped_pos, names, blocks), names)
    fixed = _scatter(c, [x for x, ax in zip(leaves, axes, strict=True) if ax is None])
    it = iter(fixed)
    template = [None if ax is not None else next(it) for ax in axes]
    shipped = {s.key: s for s, _ in progs.values()}
    consts = {k: _scatter(c, s.consts) for k, s in shipped.items()}
    by_worker: dict = {}
    for i, w in enumerate(holders):
        by_worker.setdefault(w, []).append(i)
    groups, futs = [], []
    for w, idx in by_worker.items():
        for part in _groups(len(idx), 2):
            g = [idx[j] for j in part]
            chunk_progs = [progs[bounds[i][1] - bounds[i][0]][0] for i in g]
            data = [[_dd.Future(blocks[k][i].key, client=c) if k in blocks
                     else _take(leaves[k], axes[k], *bounds[i]) for k in mapped_pos]
                    for i in g]
            groups.append(g)
            futs.append(c.submit(_run_group, [(p.key, p.payload) for p in chunk_progs],
                                 [consts[p.key] for p in chunk_progs], template,
                                 mapped_pos, data, [names[i] for i in g], workers=[w],
                                 allow_other_workers=True, pure=False))
    group_names = [f"in chunks {g} of {what}" for g in groups]
    out: list = [None] * len(bounds)
    for g, res in zip(groups, _gather_in_order(c, futs, group_names), strict=True):
        for i, r in zip(g, res, strict=True):
            out[i] = r
    return out


def _holders(c, blocks: dict, n: int) -> list | None:
    """The worker holding each chunk's first Dask block, when every block of every mapped
    Dask input is in some worker's memory; else None."""
    keys = [b.key for bs in blocks.values() for b in bs]
    # (who_has takes futures: given bare keys, it answers nothing)
    who = c.who_has([_dd.Future(k, client=c) for k in keys])
    if any(not who.get(k) for k in keys):
        return None
    first = next(iter(blocks.values()))
    return [who[first[i].key][0] for i in range(n)]


def _submit_on_data(c, progs: dict, leaves: list, axes: list, bounds: list,
                    mapped_pos: list, names: list, blocks: dict) -> list:
    """One task per chunk, on the blocks of the Dask array inputs: the scheduler runs
    each where its block is (a lazy array's blocks are computed in the same graph)."""
    fixed = _scatter(c, [x for x, ax in zip(leaves, axes, strict=True) if ax is None])
    shipped = {s.key: s for s, _ in progs.values()}
    consts = {k: _scatter(c, s.consts) for k, s in shipped.items()}
    tasks = []
    for i, (lo, hi) in enumerate(bounds):
        s = progs[hi - lo][0]
        it = iter(fixed)
        template = [None if ax is not None else next(it) for ax in axes]
        data = [blocks[k][i] if k in blocks else _take(leaves[k], axes[k], lo, hi)
                for k in mapped_pos]
        tasks.append(dask.delayed(_run_chunk_data, pure=False)(
            s.key, s.payload, consts[s.key], template, mapped_pos, data, names[i]))
    return c.compute(tasks)


def _assemble(results: list, out_tree, out_axes) -> Any:
    """The chunks' flat outputs concatenated along their out_axes, as the output pytree."""
    struct = tree_unflatten(out_tree, list(range(out_tree.num_leaves)))
    oaxes = tree_broadcast_prefix(out_axes, struct, "out_axes")
    outs = []
    for k, oa in enumerate(oaxes):
        parts = [r[k] for r in results]
        if oa is None:
            outs.append(parts[0])
        else:
            outs.append(np.concatenate(parts, axis=oa % parts[0].ndim))
    return tree_unflatten(out_tree, outs)


# ---------------------------------------------------------------------------------------
# data_parallel: blocks, a fixed tree over them, merge tasks


def _tree_nodes(lo: int, hi: int, nb: int, top: int) -> list[tuple[int, int]]:
    """The largest complete subtrees (level, index) covering blocks lo:hi, in order."""
    out = []
    i = lo
    while i < hi:
        lvl = 0
        while (lvl < top and i % (2 << lvl) == 0 and min(i + (2 << lvl), nb) <= hi):
            lvl += 1
        out.append((lvl, i >> lvl))
        i = min(i + (1 << lvl), nb)
    return out


def _add(a: list, b: list) -> list:
    return [np.add(x, y) for x, y in zip(a, b, strict=True)]


def _node_value(lvl: int, j: int, nb: int, leaf: Callable[[int], list]) -> list:
    if lvl == 0:
        return leaf(j)
    left = _node_value(lvl - 1, 2 * j, nb, leaf)
    if ((2 * j + 1) << (lvl - 1)) >= nb:      # no right child: the node is its left child
        return left
    return _add(left, _node_value(lvl - 1, 2 * j + 1, nb, leaf))


def _merge(nb: int, top: int, *parts: dict) -> dict:
    """Union of subtree values, with complete sibling pairs added as the tree says."""
    nodes: dict = {}
    for p in parts:
        nodes.update(p)
    changed = True
    while changed:
        changed = False
        for (lvl, j) in sorted(nodes):
            if lvl >= top or (lvl, j) not in nodes:
                continue
            base = j - (j & 1)
            right_exists = ((base + 1) << lvl) < nb
            if not right_exists:
                nodes[(lvl + 1, base >> 1)] = nodes.pop((lvl, j))
                changed = True
            elif (lvl, base) in nodes and (lvl, base + 1) in nodes:
                left, right = nodes.pop((lvl, base)), nodes.pop((lvl, base + 1))
                nodes[(lvl + 1, base >> 1)] = _add(left, right)
                changed = True
    return nodes


def _run_blocks(progs: dict, args_by_size: dict, flat: list, axes: list, blocks: list,
                nb: int, top: int, lo_block: int, hi_block: int, weights: list | None,
                what: str) -> dict:
    """Worker side of data_parallel: the chunk's complete subtrees of block results."""
    def leaf(b):
        lo, hi = blocks[b]
        key, payload = progs[hi - lo]
        off = blocks[lo_block][0]
        consts = args_by_size[hi - lo]
        args = [*consts] + [x if ax is None else _take(x, ax, lo - off, hi - off)
                            for x, ax in zip(flat, axes, strict=True)]
        try:
            outs = _program(key, payload)(*[_native(a) for a in args])
        except Exception as e:
            _note(e, f"{what}: block {b}, examples {lo}:{hi}")
            raise
        outs = [np.asarray(o) for o in outs]
        if weights is not None:
            outs = [o * weights[b] if o.dtype.kind in "fc" else o for o in outs]
        return outs

    res = {node: _node_value(*node, nb, leaf) for node in
           _tree_nodes(lo_block, hi_block, nb, top)}
    _done_chunk()
    return res


def data_parallel(fun: Callable, reduce: str = "sum", in_axes: Any = 0, client: Any = None,
                  chunks: int | None = None, block_size: int | None = None) -> Callable:
    """Run `fun` on shards of a batch on a Dask cluster and sum (or average) the results.

    `data_parallel(value_and_grad(loss), in_axes=(None, 0, 0), reduce="mean")(params, x,
    y)` returns `(loss, grads)` for the whole batch, as `value_and_grad(loss)(params, x,
    y)` does when `loss` is a mean over the batch: a training loop with funcad.optim runs
    unchanged apart from the call.

    Args:
      fun: a function of a batch (not of one example) whose result is a sum (`reduce=
        "sum"`) or a mean (`reduce="mean"`) over the examples of its batch; every output
        leaf is reduced.
      reduce: "sum" adds the block results; "mean" adds them weighted by
        `block size / batch size`.
      in_axes: the batch axis of each argument (pytree prefix; None: not split, e.g.
        parameters, sent to each worker once).
      client: see `dmap`.
      chunks: examples per task, rounded up to whole blocks; None: about two tasks per
        worker thread.
      block_size: examples per call of `fun` (None: `ceil(n / 64)`). Blocks fix the
        reduction order: the result depends on the inputs and `block_size` only, and is
        bit-identical whatever the number of workers and `chunks` (see the module
        docstring for the tree).
    Returns:
      A function with `fun`'s arguments returning `fun`'s output structure.
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"data_parallel: reduce={reduce!r}; expected 'sum' or 'mean'")
    from funcad import jit
    programs = _Programs(jit(fun))
    name = getattr(fun, "__name__", "fun")

    def run(*args, **kwargs):
        what = f"data_parallel of {name}"
        leaves, in_tree, axes, n = _mapped_layout(args, kwargs, in_axes, what)
        c = get_client(client)
        bs = block_size if block_size is not None else max(1, -(-n // 64))
        if not isinstance(bs, int) or bs < 1:
            raise ValueError(f"{what}: block_size={block_size!r} must be a positive int")
        blocks = _bounds(n, bs)
        nb = len(blocks)
        top = max(0, math.ceil(math.log2(nb))) if nb > 1 else 0
        per = (chunks if chunks is not None else -(-n // (2 * _nthreads(c))))
        if not isinstance(per, int) or per < 1:
            raise ValueError(f"{what}: chunks={chunks!r} must be a positive int")
        per_blocks = max(1, -(-per // bs))
        weights = [(hi - lo) / n for lo, hi in blocks] if reduce == "mean" else None
        progs = {}
        for lo, hi in blocks:
            if hi - lo not in progs:
                blk = [x if ax is None else _take(x, ax, lo, hi)
                       for x, ax in zip(leaves, axes, strict=True)]
                a, kw = tree_unflatten(in_tree, blk)
                progs[hi - lo] = programs.get_entry(a, kw)[0]
        shipped = list(progs.values())
        programs.prepare(c, shipped)
        unmapped = _scatter(c, [x for x, ax in zip(leaves, axes, strict=True) if ax is None])
        consts = {k: _scatter(c, s.consts) for k, s in progs.items()}
        keys = {k: (s.key, s.payload) for k, s in progs.items()}
        futures, names = [], []
        with _quiet_large_graphs():
            for i, b0 in enumerate(range(0, nb, per_blocks)):
                b1 = min(b0 + per_blocks, nb)
                lo, hi = blocks[b0][0], blocks[b1 - 1][1]
                it = iter(unmapped)
                flat = [next(it) if ax is None else _take(x, ax, lo, hi)
                        for x, ax in zip(leaves, axes, strict=True)]
                names.append(f"in chunk {i} of {what}: indices {lo}:{hi} of the batch "
                             f"axis (of size {n})")
                futures.append(c.submit(_run_blocks, keys, consts, flat, axes, blocks, nb,
                                        top, b0, b1, weights, names[-1], pure=False))
            # Merge adjacent chunks pairwise on the cluster until one pytree is left.
            level = futures
            while len(level) > 1:
                level = [c.submit(_merge, nb, top, *level[k:k + 2], pure=False)
                         for k in range(0, len(level), 2)]
        _gather_in_order(c, futures, names)
        if len(futures) == 1:
            level = [c.submit(_merge, nb, top, futures[0], pure=False)]
        nodes = level[0].result()
        if list(nodes) != [(top, 0)]:
            raise AssertionError(f"data_parallel: incomplete reduction tree {sorted(nodes)}")
        out_tree = shipped[0].out_tree
        outs = [np.asarray(o) for o in nodes[(top, 0)]]
        return tree_unflatten(out_tree, outs)

    run.__name__ = f"data_parallel_{name}"
    run.__doc__ = fun.__doc__
    return run
