"""Branch and bound over input-box splits, best-first on the worst bound.

For the sup distance ``Q(x) = max_k |g_k(x) - f_k(x)|`` on a box: every node is a sub-box with a
sound upper bound of ``Q`` (differential bounds when the layer sizes match, CROWN on the stacked
pair otherwise).  Nodes whose bound is at most the threshold are closed; the rest are split on
one input (the one with the largest width times sensitivity) in batches, so the bound engine runs
vectorised over many boxes.  Every node also proposes points (its centre and projected-gradient
steps from it); the best point seen is the lower end of the bracket once it is re-evaluated
exactly.  The split tree is recorded for certificates.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field

import numpy as np

from ..bounds.differential import DiffPair, diff_bounds_batch
from ..bounds.linear import crown_bounds_batch
from ..network import Network
from .attack import forward_grad, pgd_maximize

__all__ = ["SplitTree", "DistanceBaB", "BaBOutcome"]


@dataclass
class SplitTree:
    """Input-split tree: node ``i`` has parent ``parent[i]`` and was made by splitting its parent
    on ``dim[parent]`` at ``at[parent]``; ``side[i]`` is 0 for the low half, 1 for the high one.
    ``leaf_bound[i]`` is the sound upper bound that closed leaf ``i`` (nan if not closed)."""

    parent: list = field(default_factory=list)
    side: list = field(default_factory=list)
    dim: list = field(default_factory=list)
    at: list = field(default_factory=list)
    leaf_bound: list = field(default_factory=list)

    def add(self, parent: int, side: int) -> int:
        self.parent.append(parent)
        self.side.append(side)
        self.dim.append(-1)
        self.at.append(np.nan)
        self.leaf_bound.append(np.nan)
        return len(self.parent) - 1

    @property
    def n_nodes(self) -> int:
        return len(self.parent)

    @property
    def n_leaves(self) -> int:
        return int(np.count_nonzero(~np.isnan(np.asarray(self.leaf_bound))))


@dataclass
class BaBOutcome:
    status: str                 # "below" (all closed at threshold), "tolerance", "found", "time_limit", "node_limit"
    upper: float                # sound upper bound of sup Q over the box
    best_x: np.ndarray | None   # best point found (float)
    best_value: float           # Q at best_x in float64 (to be confirmed exactly)
    nodes: int
    bound_calls: int
    tree: SplitTree


class DistanceBaB:
    """Best-first input splitting for ``sup_x max_{k in outputs} |g_k(x) - f_k(x)|``."""

    def __init__(self, f: Network, g: Network, outputs: list[int], *, batch: int = 64, pgd_steps: int = 8,
                 seed: int = 0):
        self.f, self.g = f, g
        self.outputs = list(outputs)
        self.batch = int(batch)
        self.pgd_steps = int(pgd_steps)
        self.rng = np.random.default_rng(seed)
        m = len(self.outputs)
        n_out = f.n_outputs
        self.S = np.zeros((m, n_out))
        self.S[np.arange(m), self.outputs] = 1.0
        if f.sizes == g.sizes:
            self.engine = "differential"
            self._pair = DiffPair(f, g)
        else:
            self.engine = "crown-stacked"
            self._stack = Network.stack(f, g)
            self._C = np.hstack([-self.S, self.S])

    # -- bounds and points --------------------------------------------------------------------
    def bound(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Sound upper bound of Q on each box (B,)."""
        if self.engine == "differential":
            _, (ol, oh) = diff_bounds_batch(self._pair, lo, hi, C=self.S)
        else:
            _, (ol, oh) = crown_bounds_batch(self._stack, lo, hi, C=self._C)
        return np.maximum(oh, -ol).max(axis=1)

    def values(self, X: np.ndarray) -> np.ndarray:
        d = self.g(X)[:, self.outputs] - self.f(X)[:, self.outputs]
        return np.abs(d).max(axis=1)

    def _objective(self, X):
        yf = self.f(X)[:, self.outputs]
        yg = self.g(X)[:, self.outputs]
        d = yg - yf
        k = np.abs(d).argmax(axis=1)
        sgn = np.sign(d[np.arange(len(X)), k])
        sgn[sgn == 0] = 1.0
        Cg = np.zeros((len(X), self.f.n_outputs))
        Cg[np.arange(len(X)), np.asarray(self.outputs)[k]] = sgn
        _, gg = forward_grad(self.g, X, Cg)
        _, gf = forward_grad(self.f, X, Cg)
        return np.abs(d).max(axis=1), gg - gf

    def propose(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X0 = 0.5 * (lo + hi)
        if self.pgd_steps > 0:
            return pgd_maximize(self._objective, lo, hi, X0, steps=self.pgd_steps)
        return X0, self.values(X0)

    def split_dims(self, lo: np.ndarray, hi: np.ndarray, root_width: np.ndarray) -> np.ndarray:
        w = (hi - lo) / np.where(root_width > 0, root_width, 1.0)
        return np.argmax(w, axis=1)

    # -- the search -----------------------------------------------------------------------------
    def run(self, lo0: np.ndarray, hi0: np.ndarray, *, threshold: float | None = None, atol: float = 0.0,
            rtol: float = 0.0, time_limit: float | None = None, node_limit: int | None = None,
            progress=None, stop_value: float | None = None, confirm=None) -> BaBOutcome:
        """Search until every open node's bound is <= threshold (``status="below"``), or, with no
        threshold, until ``upper - lower <= max(atol, rtol*upper)`` (``"tolerance"``).

        ``stop_value``: stop as soon as a point with Q > stop_value is found (``"found"``) and
        ``confirm(x)`` (exact re-evaluation) accepts it; a rejected point does not stop the search.
        """
        t0 = time.perf_counter()
        tree = SplitTree()
        root = tree.add(-1, 0)
        lo0 = np.asarray(lo0, dtype=np.float64)
        hi0 = np.asarray(hi0, dtype=np.float64)
        root_width = hi0 - lo0
        ub0 = float(self.bound(lo0[None], hi0[None])[0])
        Xb, vb = self.propose(lo0[None], hi0[None])
        best_x, best_v = Xb[0], float(vb[0])
        heap: list = [(-ub0, root, lo0, hi0)]
        calls = 1
        closed_max = -np.inf
        checked_v = -np.inf

        def target() -> float:
            if threshold is not None:
                return threshold
            return best_v + max(atol, rtol * max(best_v, 0.0))

        status = None
        while True:
            # close whatever the current target allows
            tgt = target()
            while heap and -heap[0][0] <= tgt:
                negub, nid, _, _ = heapq.heappop(heap)
                tree.leaf_bound[nid] = -negub
                closed_max = max(closed_max, -negub)
            if stop_value is not None and best_v > stop_value and best_v > checked_v:
                checked_v = best_v
                if confirm is None or confirm(best_x):
                    status = "found"
                    break
            if not heap:
                status = "below" if threshold is not None else "tolerance"
                break
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                status = "time_limit"
                break
            if node_limit is not None and tree.n_nodes >= node_limit:
                status = "node_limit"
                break
            take = [heapq.heappop(heap) for _ in range(min(self.batch, len(heap)))]
            lo = np.array([t[2] for t in take])
            hi = np.array([t[3] for t in take])
            dims = self.split_dims(lo, hi, root_width)
            idx = np.arange(len(take))
            mid = 0.5 * lo[idx, dims] + 0.5 * hi[idx, dims]
            # a box that cannot be split further (zero width in float) is bounded as a point
            lo_c = np.concatenate([lo, lo])
            hi_c = np.concatenate([hi, hi])
            hi_c[idx, dims] = mid
            lo_c[len(take) + idx, dims] = mid
            ub = self.bound(lo_c, hi_c)
            calls += 1
            Xp, vp = self.propose(lo_c, hi_c)
            j = int(np.argmax(vp))
            if vp[j] > best_v:
                best_v, best_x = float(vp[j]), Xp[j].copy()
            for i, t in enumerate(take):
                nid = t[1]
                tree.dim[nid] = int(dims[i])
                tree.at[nid] = float(mid[i])
                for side, row in ((0, i), (1, len(take) + i)):
                    cid = tree.add(nid, side)
                    parent_ub = -t[0]
                    u = min(float(ub[row]), parent_ub)
                    heapq.heappush(heap, (-u, cid, lo_c[row], hi_c[row]))
            if progress is not None:
                progress(nodes=tree.n_nodes, lower=best_v, upper=max(-heap[0][0] if heap else -np.inf, closed_max),
                         open=len(heap), elapsed=time.perf_counter() - t0)
        open_max = -heap[0][0] if heap else -np.inf
        upper = max(open_max, closed_max)
        if not np.isfinite(upper):
            upper = ub0
        return BaBOutcome(status=status, upper=float(upper), best_x=best_x, best_value=best_v,
                          nodes=tree.n_nodes, bound_calls=calls, tree=tree)
