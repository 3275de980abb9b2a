"""Random programs under random stacks of transforms, checked against oracles.

Each case draws a small smooth program of a vector `x` (elementwise functions, products,
reductions, a matrix product, reversal, a where with a one-sided predicate) and a stack
of 1 to 4 transforms from: grad, vmap, jit, jvp, jacfwd, checkpoint, a scan body, a
while_loop body, a cond branch, a custom_jvp and a custom_vjp wrapper. Every level
maps R^n -> R^n, and each level's function closes over the inputs of all the levels
outside it (traced by the outer transforms) and over plain arrays.

Oracles, none of which shares the code path under test:
* "nojit": the same stack with every jit removed;
* "plain": every staging transform replaced by its Python meaning (jit and checkpoint
  by the function itself, scan/while by a Python loop, cond by the branch taken, the
  custom rules by the function itself), so only grad/vmap/jvp/jacfwd remain;
* central finite differences (in a random direction) of the outermost derivative of the
  stack, or, when the stack's outer level is not a derivative, of the whole stack.

CI runs FUNCAD_COMPOSITION_CASES cases (default 400, seeded, about 10 s); set it higher
to search longer (5000: about 2 minutes), FUNCAD_COMPOSITION_SEED to move the seeds, and
FUNCAD_COMPOSITION_NUMBA=1 to compile the jit levels with Numba (about a second per new
program) instead of running the generated source as Python. A failure prints the case,
and `python tests/test_composition_random.py SEED...` replays it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest

import funcad as fa
import funcad.numpy as fnp
from funcad import lax

N = 3                      # length of every level's vector
CASES = int(os.environ.get("FUNCAD_COMPOSITION_CASES", "400"))
SEED0 = int(os.environ.get("FUNCAD_COMPOSITION_SEED", "0"))
KINDS = ["grad", "vmap", "jit", "jvp", "jacfwd", "checkpoint", "scan", "while", "cond",
         "custom_jvp", "custom_vjp"]
DERIVATIVES = {"grad", "jvp", "jacfwd"}
# Random programs of the eager suite are fast; a deep stack of derivatives multiplies the
# cost of its innermost program, so deep stacks draw fewer derivative levels.
MAX_DERIVATIVES = 3


# -- random programs --------------------------------------------------------------------


@dataclass
class Program:
    """A straight-line program over values v0 = x, v1.. = closed-over values, constants."""

    n_env: int
    ops: list = field(default_factory=list)   # (name, operand indices, constant)

    def __call__(self, x, env):
        vals = [x, *env]
        for name, args, c in self.ops:
            a = [vals[i] for i in args]
            vals.append(_OPS[name][1](c, *a))
        # every value reaches the output, so x and every closed-over value matter
        out = vals[-1]
        for v in vals[:-1]:
            out = out + 0.1 * fnp.tanh(v)
        return out

    def __str__(self) -> str:
        names = ["x", *[f"e{i}" for i in range(self.n_env)]]
        lines = []
        for k, (name, args, c) in enumerate(self.ops):
            names.append(f"t{k}")
            lines.append(f"t{k} = {name}({', '.join(names[i] for i in args)})")
        return "; ".join(lines)


_OPS = {
    # name: (arity, fn(const, *args)) -- smooth, values stay O(1)
    "sin": (1, lambda c, a: fnp.sin(a)),
    "cos": (1, lambda c, a: fnp.cos(a)),
    "tanh": (1, lambda c, a: fnp.tanh(a)),
    "exp": (1, lambda c, a: fnp.exp(0.3 * fnp.tanh(a))),
    "square": (1, lambda c, a: 0.5 * a * a),
    "rational": (1, lambda c, a: a / (1.0 + a ** 2)),
    "log1p_sq": (1, lambda c, a: fnp.log1p(a ** 2)),
    "scale": (1, lambda c, a: a * c),
    "matvec": (1, lambda c, a: fnp.tanh(c @ a)),
    "sum": (1, lambda c, a: fnp.sin(fnp.sum(a)) * c),
    "reverse": (1, lambda c, a: a[::-1]),
    "where": (1, lambda c, a: fnp.where(c > 0, fnp.sin(a), a * 0.5)),
    "add": (2, lambda c, a, b: a + b),
    "sub": (2, lambda c, a, b: a - b),
    "mul": (2, lambda c, a, b: a * b),
    "div": (2, lambda c, a, b: a / (1.5 + fnp.sin(b))),
    "dot": (2, lambda c, a, b: a * fnp.tanh(fnp.dot(a, b))),
}


def random_program(rng: np.random.Generator, n_env: int) -> Program:
    p = Program(n_env)
    n_vals = 1 + n_env
    for _ in range(int(rng.integers(2, 6))):
        name = str(rng.choice(list(_OPS)))
        arity = _OPS[name][0]
        # prefer recent values, so the program is a chain more than a fan
        args = tuple(max(0, n_vals - 1 - int(abs(rng.normal(0, 1.5))))
                     if rng.random() < 0.7 else int(rng.integers(0, n_vals))
                     for _ in range(arity))
        if name == "matvec":
            c = rng.normal(size=(N, N)) / np.sqrt(N)
        elif name == "where":
            c = np.where(rng.random(N) < 0.5, 1.0, -1.0)   # a plain, one-sided predicate
        elif name in ("scale", "sum"):
            c = rng.uniform(0.5, 1.5, size=N)
        else:
            c = None
        p.ops.append((name, args, c))
        n_vals += 1
    return p


# -- transform levels -------------------------------------------------------------------


@dataclass
class Level:
    kind: str
    w: np.ndarray                 # plain weights (grad's scalarization, vmap's rows, ...)
    use_env_weight: bool          # use a closed-over (traced) value as the weight instead
    branch: bool = True           # cond: which branch runs
    length: int = 2               # scan/while: number of steps
    at_plain: bool = False        # apply the transform at a plain point, not at the input:
    #                               the input then reaches the inner levels only through
    #                               their closures (`jit(lambda X: X @ w)(X)`)
    self_call: bool = False       # custom rules call the custom function itself

    def __str__(self) -> str:
        extra = " (traced weight)" if self.use_env_weight else ""
        if self.at_plain:
            extra += " at a plain point"
        if self.self_call:
            extra += " (rule calls itself)"
        if self.kind == "cond":
            extra += f" branch={'true' if self.branch else 'false'}"
        if self.kind in ("scan", "while"):
            extra += f" length={self.length}"
        return self.kind + extra


def random_level(rng: np.random.Generator, kind: str) -> Level:
    return Level(kind, rng.uniform(0.5, 1.5, size=(2, N)), bool(rng.random() < 0.5),
                 bool(rng.random() < 0.7), int(rng.integers(1, 3)),
                 bool(rng.random() < 0.3), bool(rng.random() < 0.5))


def _weight(level: Level, env: list):
    # A closed-over value of an outer level, traced if any outer transform traces it.
    if level.use_env_weight and env:
        return 1.0 + 0.2 * fnp.sin(env[-1])
    return level.w[0]


def _custom_jvp(f, self_call: bool):
    g = fa.custom_jvp(f)
    primal = g if self_call else f
    g.defjvp(lambda p, t: (primal(*p), fa.jvp(f, p, t)[1]))
    return g


def _custom_vjp(f, self_call: bool):
    g = fa.custom_vjp(f)
    primal = g if self_call else f   # JAX's idiom: `def f_fwd(x): return f(x), res`
    g.defvjp(lambda z: (primal(z), z), lambda z, ct: fa.vjp(f, z)[1](ct))
    return g


def apply_level(level: Level, inner, x, env: list, mode: str):
    """Level `level` of the stack at `x`: a transform of `inner`, R^n -> R^n.

    mode: "full" (as written), "nojit" (jit removed), "plain" (every staging transform
    replaced by its Python meaning).
    """
    k = level.kind
    w = _weight(level, env)
    x_in = x                     # closed over by the loop bodies below
    if level.at_plain:
        x = level.w[1]
    if k == "grad":
        return fa.grad(lambda z: fnp.sum(w * inner(z)))(x)
    if k == "jvp":
        return fa.jvp(inner, (x,), (w,))[1]
    if k == "jacfwd":
        return fa.jacfwd(inner)(x) @ w
    if k == "vmap":
        rows = x[None, :] * level.w              # (2, n), mapped over its first axis
        return fnp.sum(fa.vmap(lambda r, s: inner(r * s), in_axes=(0, None))(rows, w), 0)
    if k == "jit":
        return inner(x) if mode != "full" else fa.jit(inner)(x)
    if k == "checkpoint":
        return inner(x) if mode == "plain" else fa.checkpoint(inner)(x)
    if k == "scan":
        xs = np.stack([level.w[i % 2] for i in range(level.length)])

        def body(carry, r):
            c, acc = carry
            new = inner(c * r * 0.5 + 0.5 * x_in)
            # acc starts as the Python int 0: a weakly typed carry, promoted to float
            return (new, acc + 0.1 * fnp.sum(fnp.sin(new))), None
        if mode == "plain":
            carry = (x, 0.0)
            for r in xs:
                carry = body(carry, r)[0]
        else:
            carry = lax.scan(body, (x, 0), xs)[0]
        return carry[0] + carry[1]
    if k == "while":
        if mode == "plain":
            c = x
            for _ in range(level.length):
                c = inner(c) * 0.5 + 0.5 * x_in * w
            return c
        return lax.while_loop(lambda s: s[0] < level.length,
                              lambda s: (s[0] + 1, inner(s[1]) * 0.5 + 0.5 * x_in * w),
                              (0, x))[1]
    if k == "cond":
        def other(z):
            return z * 0.5 + fnp.sin(w)
        if mode == "plain":
            return inner(x) if level.branch else other(x)
        # a traced predicate whose value is known: x * 0 keeps it traced
        pred = fnp.sum(x * 0.0) + (1.0 if level.branch else -1.0) > 0
        return lax.cond(pred, inner, other, x)
    if k == "custom_jvp":
        return inner(x) if mode == "plain" else _custom_jvp(inner, level.self_call)(x)
    if k == "custom_vjp":
        return inner(x) if mode == "plain" else _custom_vjp(inner, level.self_call)(x)
    raise AssertionError(k)


@dataclass
class Case:
    seed: int
    levels: list
    program: Program
    x0: np.ndarray
    e0: np.ndarray                # a plain array every level closes over
    direction: np.ndarray

    def function(self, mode: str, depth: int = 0):
        """The stack from level `depth` inwards, as a function (x, env) -> R^n."""
        if depth == len(self.levels):
            return lambda x, env: self.program(x, env)
        level = self.levels[depth]
        deeper = self.function(mode, depth + 1)

        def f(x, env):
            inner_env = [*env, x]      # the next level closes over this level's input
            if mode == "drop_closures" and level.kind == "jit":
                # the bug of issue 8 item 1, for the oracle's self-test: a jit that
                # loses the derivatives of what its function closes over
                inner_env = [fa.stop_gradient(e) for e in inner_env]

            def inner(z):
                return deeper(z, inner_env)
            return apply_level(level, inner, x, env, "full" if mode == "drop_closures"
                               else mode)
        return f

    def run(self, mode: str, x=None):
        return np.asarray(self.function(mode)(self.x0 if x is None else x, [self.e0]))

    def __str__(self) -> str:
        return (f"seed={self.seed} stack={' o '.join(str(lv) for lv in self.levels)} "
                f"program: {self.program}")


def random_case(seed: int) -> Case:
    rng = np.random.default_rng(seed)
    depth = int(rng.integers(1, 5))
    levels, n_deriv = [], 0
    for _ in range(depth):
        # jit twice as often as the others: nested jits are what the lowering must inline
        kinds = [k for k in KINDS + ["jit"] if k not in DERIVATIVES
                 or n_deriv < MAX_DERIVATIVES]
        kind = str(rng.choice(kinds))
        n_deriv += kind in DERIVATIVES
        levels.append(random_level(rng, kind))
    # the base program closes over e0 and the inputs of every level
    program = random_program(rng, 1 + depth)
    return Case(seed, levels, program, rng.uniform(-1, 1, N), rng.uniform(-1, 1, N),
                rng.normal(size=N))


# -- the finite-difference oracle ------------------------------------------------------


def _fd(f, x, v, eps=1e-5):
    return (np.asarray(f(x + eps * v)) - np.asarray(f(x - eps * v))) / (2 * eps)


def finite_difference_check(case: Case, got_full: np.ndarray):
    """(what, expected, got): the outermost derivative against central differences."""
    v = case.direction
    top = case.levels[0]
    if top.kind in DERIVATIVES:
        # F(x) = D[inner](x) with inner's closures held at x: differentiate inner alone.
        deeper = case.function("plain", 1)
        env = [case.e0]
        w = _weight(top, env)

        def inner(z):
            return deeper(z, [case.e0, case.x0])
        x = top.w[1] if top.at_plain else case.x0
        if top.kind == "grad":
            expected = float(np.sum(_fd(lambda z: np.sum(w * np.asarray(inner(z))), x, v)))
            return "grad . v", expected, float(np.dot(got_full, v))
        if top.kind == "jvp":
            return "jvp", _fd(inner, x, np.asarray(w)), got_full
        return "jacfwd @ w", _fd(inner, x, np.asarray(w)), got_full
    # otherwise: the derivative of the whole stack, by funcad's jvp, against differences
    f = case.function("plain")
    got = np.asarray(fa.jvp(lambda x: f(x, [case.e0]), (case.x0,), (v,))[1])
    return "jvp of the stack", _fd(lambda x: f(x, [case.e0]), case.x0, v), got


# -- the test -----------------------------------------------------------------------------


def _run(case: Case, mode: str):
    try:
        return case.run(mode)
    except Exception as e:   # any error is a failure: the programs are all valid
        raise AssertionError(f"{case}\n{mode} raised {type(e).__name__}: {e}") from e


def check_case(case: Case, mode: str = "full") -> None:
    """Run the stack as written (`mode`) and compare with every oracle."""
    full = _run(case, mode)
    for ref_mode in ("nojit", "plain"):
        ref = _run(case, ref_mode)
        if not np.allclose(full, ref, rtol=1e-9, atol=1e-10):
            raise AssertionError(f"{case}\n{mode} {full} != {ref_mode} {ref}")
    try:
        what, expected, got = finite_difference_check(case, full)
    except Exception as e:
        raise AssertionError(f"{case}\nfinite-difference check raised "
                             f"{type(e).__name__}: {e}") from e
    if not np.allclose(got, expected, rtol=2e-5, atol=2e-6):
        raise AssertionError(f"{case}\n{what}: funcad {got} != finite differences "
                             f"{expected}")


_BATCH = 50


@pytest.fixture
def backend(monkeypatch):
    if os.environ.get("FUNCAD_COMPOSITION_NUMBA", "") not in ("", "0"):
        monkeypatch.setenv("FUNCAD_DISABLE_JIT", "0")


@pytest.mark.parametrize("start", range(SEED0, SEED0 + CASES, _BATCH))
def test_random_compositions(start, backend):
    failures = []
    for seed in range(start, min(start + _BATCH, SEED0 + CASES)):
        case = random_case(seed)
        try:
            check_case(case)
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, f"{len(failures)} failing case(s):\n\n" + "\n\n".join(failures)


def test_generator_covers_every_kind_and_depth():
    seen_kinds, seen_depths, closures = set(), set(), 0
    for seed in range(SEED0, SEED0 + min(CASES, 300)):
        case = random_case(seed)
        seen_kinds.update(lv.kind for lv in case.levels)
        seen_depths.add(len(case.levels))
        closures += any(max(args, default=0) >= 1 for _, args, _ in case.program.ops)
    assert seen_kinds == set(KINDS)
    assert seen_depths == {1, 2, 3, 4}
    assert closures > 0.8 * min(CASES, 300)


def test_oracles_catch_a_jit_that_drops_closed_over_derivatives():
    """The check has teeth: it fails on the bug of issue 8, item 1."""
    case = Case(0, [Level("grad", np.ones((2, N)), False), Level("jit", np.ones((2, N)),
                                                                 False)],
                Program(3, [("mul", (0, 3), None)]), np.array([0.3, -0.2, 0.5]),
                np.ones(N), np.ones(N))
    check_case(case)
    with pytest.raises(AssertionError, match="drop_closures"):
        check_case(case, mode="drop_closures")


if __name__ == "__main__":
    for s in (int(a) for a in sys.argv[1:]):
        c = random_case(s)
        print(c)
        check_case(c)
        print("ok")
