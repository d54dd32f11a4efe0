"""Globally optimal empirical risk minimisation for one hidden layer (Arora et al., reference B.7).

For ``f(x) = sum_i v_i relu(w_i x + b_i) + c`` and the squared loss, positive homogeneity lets
``|v_i|`` be absorbed into ``(w_i, b_i)``, so ``v_i = s_i in {-1, +1}``.  Once every unit's
*dichotomy* of the data (which points it is active on) is fixed, the predictions are linear in
``(w_i, b_i, c)`` and the feasible ``(w_i, b_i)`` form a polyhedral cone: a convex program.
Enumerating signs and dichotomies and solving every program gives the global optimum, in time
``O(2**w D**(n w) poly)``.

For one input (``n = 1``) with distinct data values ``u_1 < ... < u_q`` the dichotomies of a
unit are: active on all points, on a suffix ``x >= u_{m+1}`` or on a prefix ``x <= u_m``
(or on none: a dead unit).  Each cone is spanned by two rays in the ``(w, b)`` plane (a suffix:
``(1, -u_{m+1})`` and ``(1, -u_m)``), so each convex program is a non-negative least-squares
problem in the ray coefficients (solved by Lawson-Hanson's active-set method, :func:`nnls`,
written here in numpy).

:func:`fit_gd` is plain full-batch gradient descent from many random restarts (numpy, all
restarts in one vectorised run), the baseline the global optimum must never lose to.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import ShapeError, SpecError
from ..network import Network

_RIDGE = 1e-12

__all__ = ["ERMResult", "GDResult", "global_erm", "fit_gd", "mse", "nnls", "tiny_dataset"]


def nnls(A: np.ndarray, b: np.ndarray, *, max_iter: int | None = None) -> np.ndarray:
    """``argmin ||A z - b||`` subject to ``z >= 0`` (Lawson & Hanson's active-set algorithm).

    Finite termination; each inner step solves an unconstrained least-squares problem on the
    passive set.  ``max_iter`` bounds the inner steps (default ``30 * n``).
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    m, n = A.shape
    if b.shape[0] != m:
        raise ShapeError(f"nnls: A has {m} rows but b has {b.shape[0]} entries")
    limit = 30 * max(n, 1) if max_iter is None else int(max_iter)
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    tol = 10.0 * np.finfo(np.float64).eps * max(m, n) * max(1.0, float(np.abs(A).sum(axis=0).max(initial=0.0)))
    G, c = A.T @ A, A.T @ b
    grad = A.T @ (b - A @ x)
    steps = 0
    while (~passive).any() and float(np.max(np.where(passive, -np.inf, grad))) > tol:
        j = int(np.argmax(np.where(passive, -np.inf, grad)))
        passive[j] = True
        while True:
            steps += 1
            if steps > limit:
                return x
            z = np.zeros(n)
            idx = np.flatnonzero(passive)
            try:  # normal equations: fast for the tiny, ridge-regularised programs here
                z[idx] = np.linalg.solve(G[np.ix_(idx, idx)], c[idx])
                if not np.all(np.isfinite(z)):
                    raise np.linalg.LinAlgError
            except np.linalg.LinAlgError:
                z[idx] = np.linalg.lstsq(A[:, idx], b, rcond=None)[0]
            if np.all(z[passive] > tol):
                x = z
                break
            # move from x towards z until the first passive coordinate hits zero
            neg = passive & (z <= tol)
            alpha = float(np.min(x[neg] / (x[neg] - z[neg])))
            x = x + alpha * (z - x)
            passive &= x > tol
            x[~passive] = 0.0
        grad = A.T @ (b - A @ x)
    return x


def _data(x, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(x, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(-1)
    if X.ndim == 2:
        if X.shape[1] != 1:
            raise SpecError(f"exhaustive ERM is implemented for one input (n = 1), got n={X.shape[1]}")
        X = X[:, 0]
    if X.ndim != 1:
        raise ShapeError(f"x must have shape (D,) or (D, 1), got {np.shape(x)}")
    if X.shape[0] != Y.shape[0]:
        raise ShapeError(f"x has {X.shape[0]} points but y has {Y.shape[0]}")
    if X.shape[0] == 0:
        raise ShapeError("the data set is empty")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise SpecError("data must be finite")
    return X, Y


def _check_width(width) -> int:
    try:
        w = int(width)
    except (TypeError, ValueError):
        raise SpecError(f"width must be an integer >= 1, got width={width!r}") from None
    if w != width or w < 1:
        raise SpecError(f"width must be an integer >= 1, got width={width!r}")
    return w


def mse(net: Network, x, y) -> float:
    """Mean squared error of a 1-output network on the data."""
    X, Y = _data(x, y)
    return float(np.mean((net(X.reshape(-1, 1))[:, 0] - Y) ** 2))


@dataclass
class ERMResult:
    """The global optimum: its loss (mean squared error), a network attaining it, and the work."""

    loss: float
    network: Network
    programs: int                    # convex programs solved
    signs: tuple = ()                # s_i of the optimal units (dead units omitted)
    dichotomies: tuple = ()          # per unit: ("all" | "suffix" | "prefix", m)
    output_bias: bool = True

    def to_dict(self) -> dict:
        return {"loss": self.loss, "programs": self.programs, "signs": list(self.signs),
                "dichotomies": [list(d) for d in self.dichotomies], "output_bias": self.output_bias}


def _unit_options(u: np.ndarray) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """Per dichotomy: kind, index, active mask over the distinct values, rays (2, 2) or (3, 2)."""
    q = u.size
    opts = []
    if q == 1:
        # a half-plane {w u + b >= 0}: lineality +-(1, -u), ray (0, 1)
        opts.append(("all", 0, np.ones(1, bool), np.array([[1.0, -u[0]], [-1.0, u[0]], [0.0, 1.0]])))
        return opts
    opts.append(("all", 0, np.ones(q, bool), np.array([[1.0, -u[0]], [-1.0, u[-1]]])))
    for m in range(1, q):
        mask = np.arange(q) >= m                 # active on u_{m+1}.. (0-based m..)
        opts.append(("suffix", m, mask, np.array([[1.0, -u[m]], [1.0, -u[m - 1]]])))
        opts.append(("prefix", m, ~mask, np.array([[-1.0, u[m - 1]], [-1.0, u[m]]])))
    return opts


def global_erm(x, y, width: int, *, output_bias: bool = True) -> ERMResult:
    """The exact global minimiser of the mean squared error over all 1-hidden-layer nets with
    ``width`` ReLU units (one input), by enumerating signs and dichotomies (reference B.7).

    The optimum is found up to the accuracy of the float NNLS solves (around 1e-12 relative);
    ``result.loss`` is the loss of ``result.network`` evaluated on the data.
    """
    X, Y = _data(x, y)
    w = _check_width(width)
    u, inv = np.unique(X, return_inverse=True)
    opts = _unit_options(u)
    Xh = np.stack([X, np.ones_like(X)], axis=1)               # (D, 2): (x_j, 1)
    # per (sign, option): the NNLS columns it contributes (one per ray)
    choices = [None]                                          # None = a dead unit
    cols = {}
    for s in (1.0, -1.0):
        for oi, (kind, m, mask, rays) in enumerate(opts):
            active = mask[inv]
            cols[(s, oi)] = s * (Xh @ rays.T) * active[:, None]
            choices.append((s, oi))
    bias_cols = np.stack([np.ones_like(X), -np.ones_like(X)], axis=1) if output_bias else np.zeros((X.size, 0))
    best = (np.inf, None, None)
    programs = 0
    for combo in itertools.combinations_with_replacement(range(len(choices)), w):
        units = [choices[i] for i in combo if choices[i] is not None]
        blocks = [cols[c] for c in units] + [bias_cols]
        A = np.hstack(blocks) if blocks else np.zeros((X.size, 0))
        programs += 1
        if A.shape[1] == 0:
            z, loss = np.zeros(0), float(np.mean(Y ** 2))
        else:
            # a tiny ridge picks a bounded minimiser among the (often many) optimal ray weights;
            # without it Lawson-Hanson may return huge cancelling weights whose network loses
            # every digit when evaluated
            lam = _RIDGE * max(1.0, float(np.mean(np.sum(A * A, axis=0))))
            Aa = np.vstack([A, np.sqrt(lam) * np.eye(A.shape[1])])
            z = nnls(Aa, np.concatenate([Y, np.zeros(A.shape[1])]))
            loss = float(np.mean((A @ z - Y) ** 2))
        if loss < best[0] - 1e-15 * max(1.0, best[0] if np.isfinite(best[0]) else 1.0):
            best = (loss, units, z)
    _, units, z = best
    # rebuild the network from the ray coefficients
    W, B, V, pos = [], [], [], 0
    for s, oi in units:
        rays = opts[oi][3]
        coef = z[pos:pos + rays.shape[0]]
        pos += rays.shape[0]
        wb = coef @ rays
        W.append(wb[0])
        B.append(wb[1])
        V.append(s)
    c = float(z[pos] - z[pos + 1]) if output_bias else 0.0
    if not W:          # every unit dead: keep one unit with zero output weight
        W, B, V = [0.0], [0.0], [0.0]
    while len(W) < w:  # dead units
        W.append(0.0)
        B.append(0.0)
        V.append(0.0)
    net = Network([(np.array(W).reshape(-1, 1), np.array(B)), (np.array(V).reshape(1, -1), np.array([c]))],
                  name=f"erm-global-w{w}")
    dich = tuple((opts[oi][0], int(opts[oi][1])) for _, oi in units)
    return ERMResult(loss=mse(net, X, Y), network=net, programs=programs,
                     signs=tuple(int(s) for s, _ in units), dichotomies=dich, output_bias=output_bias)


@dataclass
class GDResult:
    """Gradient descent from many restarts: every final loss and the best network."""

    losses: np.ndarray
    best_loss: float
    network: Network
    steps: int
    lr: float
    restarts: int = field(default=0)

    def to_dict(self) -> dict:
        return {"best_loss": self.best_loss, "restarts": self.restarts, "steps": self.steps, "lr": self.lr,
                "median_loss": float(np.median(self.losses)), "worst_loss": float(np.max(self.losses))}


def fit_gd(x, y, width: int, *, restarts: int = 100, steps: int = 3000, lr: float = 0.05, seed: int = 0,
           output_bias: bool = True) -> GDResult:
    """Full-batch gradient descent on the mean squared error from ``restarts`` random
    initialisations (normal weights and biases, output weights scaled by ``1/sqrt(width)``)."""
    X, Y = _data(x, y)
    w = _check_width(width)
    for name, v, low in (("restarts", restarts, 1), ("steps", steps, 0)):
        if int(v) != v or int(v) < low:
            raise SpecError(f"{name} must be an integer >= {low}, got {name}={v!r}")
    if not (float(lr) > 0 and np.isfinite(float(lr))):
        raise SpecError(f"lr must be > 0, got lr={lr!r}")
    R, D = int(restarts), X.size
    rng = np.random.default_rng(seed)
    Wt = rng.normal(size=(R, w))
    Bt = rng.normal(size=(R, w))
    Vt = rng.normal(size=(R, w)) / np.sqrt(w)
    Ct = np.zeros(R)
    for _ in range(int(steps)):
        Z = Wt[:, None, :] * X[None, :, None] + Bt[:, None, :]       # (R, D, w)
        Hd = np.maximum(Z, 0.0)
        err = (Hd @ Vt[:, :, None])[:, :, 0] + Ct[:, None] - Y[None, :]   # (R, D)
        g = 2.0 / D * err
        act = (Z > 0).astype(np.float64)
        gV = np.einsum("rd,rdw->rw", g, Hd)
        gZ = g[:, :, None] * act * Vt[:, None, :]
        gW = np.einsum("rdw,d->rw", gZ, X)
        gB = gZ.sum(axis=1)
        Wt -= lr * gW
        Bt -= lr * gB
        Vt -= lr * gV
        if output_bias:
            Ct -= lr * g.sum(axis=1)
    Z = Wt[:, None, :] * X[None, :, None] + Bt[:, None, :]
    pred = (np.maximum(Z, 0.0) @ Vt[:, :, None])[:, :, 0] + Ct[:, None]
    losses = np.mean((pred - Y[None, :]) ** 2, axis=1)
    losses = np.where(np.isfinite(losses), losses, np.inf)
    i = int(np.argmin(losses))
    net = Network([(Wt[i].reshape(-1, 1), Bt[i]), (Vt[i].reshape(1, -1), np.array([Ct[i]]))], name=f"erm-gd-w{w}")
    return GDResult(losses=losses, best_loss=mse(net, X, Y), network=net, steps=int(steps), lr=float(lr),
                    restarts=R)


def tiny_dataset(n_points: int = 6, *, seed: int = 0, kind: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Small 1D data sets: ``random`` (uniform x in [-1, 1], standard normal y), ``zigzag``
    (alternating targets 0, 1, 0, ... on sorted x) or ``planted`` (a random 2-unit ReLU net)."""
    D = int(n_points)
    if D < 1 or D != n_points:
        raise SpecError(f"n_points must be an integer >= 1, got n_points={n_points!r}")
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 1.0, size=D))
    if kind == "random":
        y = rng.normal(size=D)
    elif kind == "zigzag":
        y = (np.arange(D) % 2).astype(np.float64)
    elif kind == "planted":
        w, b, v = rng.normal(size=2), rng.normal(size=2) * 0.5, rng.normal(size=2)
        y = np.maximum(np.outer(x, w) + b, 0.0) @ v
    else:
        raise SpecError(f"kind must be random, zigzag or planted, got kind={kind!r}")
    return x, y
