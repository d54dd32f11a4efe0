"""Branch and bound over input-box splits, best-first on the worst bound.

For the sup distance ``Q(x) = max_k |g_k(x) - f_k(x)|`` on a box: every node is a sub-box with a
sound upper bound of ``Q``.  Nodes whose bound is at most the threshold are closed; the rest are
split in batches, so the bound engines run vectorised over many boxes at once.

Bound engines (``engine``):

* ``"differential"`` (f and g with equal layer sizes): a cascade.  Every box first gets the cheap
  forward symbolic differential bound (:mod:`relucert.bounds.symbolic`, ReluVal / NeuroDiff
  style, with a back-substituted output layer); boxes it does not close, but whose bound is
  within ``cascade_factor`` of the target, get the tighter back-substituted differential bound
  (:mod:`relucert.bounds.differential`, started from the forward intervals).  Both are sound;
  a box keeps the smaller.
* ``"crown-stacked"`` otherwise: CROWN on the stacked pair.

Split choice: the input with the largest sensitivity of ``f``'s selected outputs in the forward
symbolic pass (coefficient magnitude in normalised coordinates, i.e. slope times half-width), which
is where the unstable neurons that loosen the difference bound come from; the widest input
(relative to the root box) for the stacked engine.

Strong branching (``lookahead``, default ``"stall"``): a node whose own bound is above
``stall_ratio`` (0.9) times its parent's (the last split gained little) and within
``lookahead_factor`` (20) of the target chooses its split by bounding
both halves of every split (``2 n`` boxes, one vectorised call) and taking the input whose worse
half is smallest; those children are kept.  All ``2 n`` halves get the cheap bound; only the
``strong_top`` (default 1) splits whose worse half has the smallest cheap bound also get the
back-substituted one; a split left with its cheap bound is never chosen over a computed one
(a box's bound is the smaller of the two), so with ``strong_top=1`` the split is chosen by the
cheap bound alone and the back-substituted bound is paid only for the two children kept.  On ACAS Xu the sensitivity rule often picks an input
whose halves keep the parent's bound while another input divides it by ten, and the search stalls.

Parent reuse (``reuse_parent``, default on): a sub-box's values lie in its parent's ranges, so
every node's hidden-layer bounds (``z^f`` and ``D``, from both passes) are kept and intersected
into its children's passes before the ReLUs are relaxed (sound: both are sound bounds of the same
quantity on the child).

Every batch of children also proposes points (centres and projected-gradient steps); the best
point seen is the lower end of the bracket once re-evaluated exactly.  The split tree is recorded
(as arrays) for certificates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..bounds.differential import DiffPair, diff_bounds_batch
from ..bounds.linear import crown_bounds_batch
from ..bounds.symbolic import SymbolicDiff
from ..errors import SpecError
from ..network import Network
from ._helpers import check_workers, start_helpers
from .attack import forward_grad, pgd_maximize

__all__ = ["SplitTree", "DistanceBaB", "BaBOutcome", "SPLIT_RULES"]

SPLIT_RULES = ("auto", "sensitivity", "diff-sensitivity", "width")

#: with ``workers`` > 1, a step is shared only when every process gets at least this many boxes to
#: split (below, sending the boxes costs more than bounding them); helpers start at the first
#: step that large, so short searches never start one
_MIN_PART = 4


class SplitTree:
    """Input-split tree: node ``i`` has parent ``parent[i]`` and was made by splitting its parent
    on ``dim[parent]`` at ``at[parent]``; ``side[i]`` is 0 for the low half, 1 for the high one.
    ``leaf_bound[i]`` is the sound upper bound that closed leaf ``i`` (nan if not closed).

    Stored as growing numpy arrays (nodes are added a batch at a time); the attributes are
    numpy views of the used part.

    ``bound_kind`` names how a leaf bound was computed.  ``"diff-cascade+ancestors"`` (the
    differential engine): the leaf's forward symbolic differential pass and back-substituted pass
    intersect every hidden layer's bounds of ``z^f`` and ``D = z^g - z^f`` with the bounds of its
    parent (so, recursively, of all its ancestors); replaying a leaf alone (without its path from the
    root) can give a looser bound.  Every split is an input split at ``at`` (none other is recorded),
    whether its input was chosen by a sensitivity rule or by strong branching."""

    def __init__(self, bound_kind: str = ""):
        self.bound_kind = bound_kind
        self._n = 0
        self._cap = 0
        self._parent = np.empty(0, dtype=np.int64)
        self._side = np.empty(0, dtype=np.int8)
        self._dim = np.empty(0, dtype=np.int32)
        self._at = np.empty(0)
        self._leaf = np.empty(0)

    def _grow(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._cap:
            return
        cap = max(need, 2 * self._cap, 1024)
        for name, fill in (("_parent", -1), ("_side", 0), ("_dim", -1), ("_at", np.nan), ("_leaf", np.nan)):
            old = getattr(self, name)
            new = np.full(cap, fill, dtype=old.dtype)
            new[:self._n] = old[:self._n]
            setattr(self, name, new)
        self._cap = cap

    def add(self, parent: int, side: int) -> int:
        return int(self.add_many(np.array([parent]), np.array([side]))[0])

    def add_many(self, parents: np.ndarray, sides: np.ndarray) -> np.ndarray:
        k = len(parents)
        self._grow(k)
        ids = np.arange(self._n, self._n + k)
        self._parent[ids] = parents
        self._side[ids] = sides
        self._n += k
        return ids

    def set_split(self, nodes: np.ndarray, dims: np.ndarray, ats: np.ndarray) -> None:
        self._dim[nodes] = dims
        self._at[nodes] = ats

    def close(self, nodes: np.ndarray, bounds: np.ndarray) -> None:
        self._leaf[nodes] = bounds

    parent = property(lambda self: self._parent[:self._n])
    side = property(lambda self: self._side[:self._n])
    dim = property(lambda self: self._dim[:self._n])
    at = property(lambda self: self._at[:self._n])
    leaf_bound = property(lambda self: self._leaf[:self._n])

    @property
    def n_nodes(self) -> int:
        return self._n

    @property
    def n_leaves(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.leaf_bound)))


@dataclass
class BaBOutcome:
    status: str                 # "below" (all closed at threshold), "tolerance", "found", "time_limit", "node_limit"
    upper: float                # sound upper bound of sup Q over the box
    best_x: np.ndarray | None   # best point found (float)
    best_value: float           # Q at best_x in float64 (to be confirmed exactly)
    nodes: int
    bound_calls: int
    tree: SplitTree
    stats: dict = field(default_factory=dict)


def _no_nan(q: np.ndarray) -> np.ndarray:
    """A NaN bound (overflow: inf - inf) proves nothing: make it +inf."""
    return np.where(np.isnan(q), np.inf, q)


def _flat(layers, rows: int = 0) -> np.ndarray:
    """Hidden-layer bounds ``[(zf_lo, zf_hi, d_lo, d_hi), ...]`` (each (B, w)) as one (B, T) array.

    A pair with no hidden layer has no such bounds: the result is (rows, 0) then."""
    arrs = [a for lay in layers for a in lay]
    if not arrs:
        return np.zeros((rows, 0))
    return np.concatenate(arrs, axis=1)


def _unflat(flat: np.ndarray, widths) -> list:
    """The inverse of :func:`_flat` for hidden layers of the given widths."""
    out, o = [], 0
    for w in widths:
        out.append(tuple(flat[:, o + i * w:o + (i + 1) * w] for i in range(4)))
        o += 4 * w
    return out


class _Open:
    """The open nodes as parallel arrays with spare capacity: ``push`` appends (the capacity
    doubles when full) and ``take`` swaps the last rows into the holes, so both cost
    O(rows moved), not O(open nodes) (a search with 45,000 open nodes used to copy every node's
    hidden-layer bounds, about 400 MB, twice per batch).  The order of the nodes is not kept."""

    _FIELDS = ("lo", "hi", "ub", "nid", "dim", "tight", "gain", "lay")

    def __init__(self):
        self._len = 0
        self._a: dict | None = None

    def __len__(self) -> int:
        return self._len

    def __getattr__(self, name):
        if name in _Open._FIELDS:
            a = self.__dict__.get("_a")
            if a is None:
                raise AttributeError(name)
            return a[name][:self._len]
        raise AttributeError(name)

    def push(self, lo, hi, ub, nid, dim, tight, gain, lay) -> None:
        vals = dict(zip(self._FIELDS, (lo, hi, ub, nid, dim, tight, gain, lay)))
        k = len(ub)
        if self._a is None:
            cap = max(64, 2 * k)
            self._a = {name: np.empty((cap,) + np.shape(v)[1:], dtype=np.asarray(v).dtype)
                       for name, v in vals.items()}
        cap = len(self._a["ub"])
        if self._len + k > cap:
            new_cap = max(2 * cap, self._len + k)
            for name, arr in self._a.items():
                grown = np.empty((new_cap,) + arr.shape[1:], dtype=arr.dtype)
                grown[:self._len] = arr[:self._len]
                self._a[name] = grown
        for name, v in vals.items():
            self._a[name][self._len:self._len + k] = v
        self._len += k

    def take(self, mask: np.ndarray):
        """Remove the nodes where ``mask`` (over the open nodes) is true and return their fields."""
        idx = np.flatnonzero(mask)
        out = tuple(self._a[name][idx] for name in self._FIELDS) if self._a is not None else \
            tuple(np.empty(0) for _ in self._FIELDS)
        if idx.size:
            n = self._len
            n2 = n - idx.size
            holes = idx[idx < n2]
            tail = np.arange(n2, n)
            movers = tail[~np.asarray(mask)[n2:n]]              # surviving rows past the new end
            for name in self._FIELDS:
                arr = self._a[name]
                arr[holes] = arr[movers]
            self._len = n2
        return out

    def top(self, k: int) -> np.ndarray:
        """Mask of the ``k`` nodes with the largest bounds."""
        mask = np.zeros(len(self), dtype=bool)
        if k >= len(self):
            mask[:] = True
        else:
            mask[np.argpartition(-self.ub, k - 1)[:k]] = True
        return mask

    def max_ub(self) -> float:
        return float(self.ub.max()) if len(self) else -np.inf


class DistanceBaB:
    """Best-first input splitting for ``sup_x max_{k in outputs} |g_k(x) - f_k(x)|``.

    ``DistanceBaB.clock`` (class attribute, default ``time.perf_counter``) is the clock the time
    limit is measured on; a benchmark on a shared machine may set ``time.process_time``.

    Options (keyword-only): ``batch`` nodes split per step (each step bounds ``2 * batch``
    boxes in one vectorised call), ``pgd_steps`` projected-gradient steps per proposed point,
    ``split`` one of ``SPLIT_RULES``, ``cascade_factor`` (differential engine: a box whose cheap
    bound is within this factor of the target also gets the back-substituted bound; 0 turns the
    cascade off, ``inf``, the default, runs it on every box the cheap bound does not close: on
    ACAS Xu a finite factor such as 100 let boxes far from the target be split on the cheap bound
    alone, and the tree exploded), ``parent_ratio`` (children of a node whose back-substituted
    bound exceeded ``parent_ratio * target`` are split before they get it; default ``inf``),
    ``lookahead`` one of ``"off"``, ``"stall"`` (default), ``"all"`` (strong branching: see the
    module docstring), ``stall_ratio`` (default 0.9), ``lookahead_factor`` (default 20: with
    ``"stall"``, only nodes whose bound is at most this factor times the target), ``reuse_parent`` (default True: intersect
    each node's hidden-layer bounds with its parent's), ``skip_stable`` (default True: the
    back-substituted bound skips the rows of neurons stable in both nets, see
    :func:`relucert.bounds.differential.diff_bounds_batch`), ``strong_top`` (default 1; ``None``:
    every split) the number of splits per strong-branched node that get the back-substituted
    bound, ``seed`` for the sampling, ``workers`` (default 1) the number of processes that share
    each step: the batch's boxes are cut into ``workers`` parts, ``workers - 1`` forked helper
    processes bound all but the first (see :mod:`relucert.verify._helpers`); the search and its
    result are the same as with one process, up to the last bits of the bounds.
    ``stats["workers"]`` says how many ran; where helpers cannot be started,
    ``stats["workers_note"]`` says why and the search runs in one.  Helpers are started at the
    first step with at least ``2 * _MIN_PART`` boxes and stopped when ``run`` returns.  A CPU
    ``clock`` measures the calling process only: with helpers, use a wall clock for time limits."""

    clock = staticmethod(time.perf_counter)

    def __init__(self, f: Network, g: Network, outputs: list[int], *, batch: int = 64, pgd_steps: int = 8,
                 seed: int = 0, split: str = "auto", cascade_factor: float = np.inf, parent_ratio: float = np.inf,
                 lookahead: str = "stall", stall_ratio: float = 0.9, lookahead_factor: float = 20.0,
                 reuse_parent: bool = True, skip_stable: bool = True, strong_top: int | None = 1,
                 workers: int = 1):
        self.workers = check_workers(workers)
        if int(batch) < 1:
            raise SpecError(f"batch must be >= 1, got batch={batch!r}")
        if int(pgd_steps) < 0:
            raise SpecError(f"pgd_steps must be >= 0, got pgd_steps={pgd_steps!r}")
        if split not in SPLIT_RULES:
            raise SpecError(f"split must be one of {', '.join(SPLIT_RULES)}, got split={split!r}")
        if not (float(cascade_factor) >= 0):
            raise SpecError(f"cascade_factor must be >= 0, got cascade_factor={cascade_factor!r}")
        self.f, self.g = f, g
        self.outputs = list(outputs)
        self.batch = int(batch)
        self.pgd_steps = int(pgd_steps)
        self.rng = np.random.default_rng(seed)
        self.cascade_factor = float(cascade_factor)
        if not (float(parent_ratio) > 0):
            raise SpecError(f"parent_ratio must be > 0, got parent_ratio={parent_ratio!r}")
        self.parent_ratio = float(parent_ratio)
        m = len(self.outputs)
        n_out = f.n_outputs
        self.S = np.zeros((m, n_out))
        self.S[np.arange(m), self.outputs] = 1.0
        if f.sizes == g.sizes:
            self.engine = "differential"
            self._pair = DiffPair(f, g)
            self._sym = SymbolicDiff(f, g)
            self._hidden = list(f.sizes[1:-1])
        else:
            self.engine = "crown-stacked"
            self._stack = Network.stack(f, g)
            self._C = np.hstack([-self.S, self.S])
        self.split = ("sensitivity" if self.engine == "differential" else "width") if split == "auto" else split
        if self.split in ("sensitivity", "diff-sensitivity") and self.engine != "differential":
            self.split = "width"
        if lookahead not in ("off", "all", "stall"):
            raise SpecError(f"lookahead must be one of off, all, stall, got lookahead={lookahead!r}")
        if not (float(stall_ratio) > 0):
            raise SpecError(f"stall_ratio must be > 0, got stall_ratio={stall_ratio!r}")
        self.lookahead = lookahead
        self.lookahead_factor = float(lookahead_factor)
        self.reuse_parent = bool(reuse_parent)
        self.skip_stable = bool(skip_stable)
        if strong_top is not None and int(strong_top) < 1:
            raise SpecError(f"strong_top must be >= 1 or None, got strong_top={strong_top!r}")
        self.strong_top = None if strong_top is None else int(strong_top)
        self.stall_ratio = float(stall_ratio)
        self.n_cheap = 0
        self.n_tight = 0
        self.n_strong = 0

    # -- bounds and points --------------------------------------------------------------------
    def bound(self, lo: np.ndarray, hi: np.ndarray, target: float | None = None) -> np.ndarray:
        """Sound upper bound of Q on each box (B,)."""
        return self.bound_and_dims(lo, hi, target, None)[0]

    def bound_and_dims(self, lo, hi, target, root_width, tight_ok=None, prior=None, tight_pick=None):
        """Sound upper bounds of Q on each box, the preferred split input of each box, the
        back-substituted bound where it was computed (nan elsewhere), and the hidden-layer bounds
        of each box, flattened (B, T).  ``tight_ok`` (mask) limits the boxes that may get the
        back-substituted bound; ``prior`` (B, T) holds sound hidden-layer bounds known on each box
        (its parent's: a sub-box's values lie in its parent's ranges), intersected with the new ones.
        ``tight_pick``: a function of the cheap bounds (B,) returning the mask of the boxes that may
        get the back-substituted bound (with ``tight_ok``)."""
        lo = np.atleast_2d(lo)
        hi = np.atleast_2d(hi)
        tight = np.full(len(lo), np.nan)
        if self.engine != "differential":
            _, (ol, oh) = crown_bounds_batch(self._stack, lo, hi, C=self._C)
            q = _no_nan(np.maximum(oh, -ol).max(axis=1))
            return q, self._width_dims(lo, hi, root_width), tight, np.zeros((len(lo), 0))
        ol, oh, dsens = self._sym.bounds(lo, hi, self.S, want_coef=True,
                                         prior=None if prior is None or not self.reuse_parent else _unflat(prior, self._hidden))
        self.n_cheap += len(lo)
        q = _no_nan(np.maximum(oh, -ol).max(axis=1))
        if self.split in ("sensitivity", "diff-sensitivity"):
            fs = (self._sym.last_fsens if self.split == "sensitivity" else dsens).sum(axis=1)            # (B, n)
            dims = np.argmax(fs, axis=1)
            flat = ~(fs.max(axis=1) > 0)
            if flat.any():
                dims[flat] = self._width_dims(lo[flat], hi[flat], root_width)
        else:
            dims = self._width_dims(lo, hi, root_width)
        lay = _flat(self._sym.last_layers, len(lo))
        if self.cascade_factor > 0:
            tgt = -np.inf if target is None else target
            sel = q > tgt
            if np.isfinite(self.cascade_factor) and target is not None:
                sel &= q <= self.cascade_factor * max(target, 0.0)
            if tight_ok is not None:
                sel &= tight_ok
            if tight_pick is not None:
                sel &= tight_pick(q)
            idx = np.flatnonzero(sel)
            if idx.size:
                init = [tuple(a[idx] for a in lay) for lay in self._sym.last_layers]
                st, (bl, bh) = diff_bounds_batch(self._pair, lo[idx], hi[idx], C=self.S, init=init,
                                                   skip_stable=self.skip_stable)
                self.n_tight += idx.size
                tight[idx] = _no_nan(np.maximum(bh, -bl).max(axis=1))
                q[idx] = np.minimum(q[idx], tight[idx])
                lay[idx] = _flat([zf + dd for zf, dd in zip(st.zf, st.dd)], idx.size)
        return q, dims, tight, lay

    def _lookahead_mask(self, pub, pgain, tgt):
        """The nodes whose split input is chosen by bounding the children of every split."""
        mode = self.lookahead
        if mode == "off" or self.engine != "differential":
            return np.zeros(len(pub), dtype=bool)
        if mode == "all":
            return np.ones(len(pub), dtype=bool)
        # far above the target every split gains little and strong branching (2n boxes a node) only
        # costs: it is for the nodes that stall near the target
        return (pgain > self.stall_ratio) & (pub <= self.lookahead_factor * max(tgt, 0.0))

    def _strong_dims(self, lo, hi, tgt, root_width, ok, prior):
        """Strong branching: bound both halves of every split of every box; returns the input
        whose worse half has the smallest bound (ties: smaller sum), and the children's
        ``(ub, dims, tight)`` laid out as the caller's ``[low halves; high halves]``."""
        k, n = lo.shape
        cand = hi > lo                                       # (k, n) splittable inputs
        cand[~cand.any(axis=1), 0] = True
        kk, jj = np.nonzero(cand)
        mid = 0.5 * lo[kk, jj] + 0.5 * hi[kk, jj]
        L1, H1 = lo[kk].copy(), hi[kk].copy()
        H1[np.arange(kk.size), jj] = mid
        L2, H2 = lo[kk].copy(), hi[kk].copy()
        L2[np.arange(kk.size), jj] = mid
        m = kk.size

        def pick(q):
            # the back-substituted bound only for the ``strong_top`` splits of each box whose worse
            # half has the smallest cheap bound (the others keep the cheap one: sound, and never
            # chosen over a split whose tight bound was computed, as a bound is min(cheap, tight))
            if self.strong_top is None or self.strong_top >= n:
                return np.ones(q.size, dtype=bool)
            w = np.full((k, n), np.inf)
            w[kk, jj] = np.maximum(q[:m], q[m:])
            top = np.argsort(w, axis=1, kind="stable")[:, :self.strong_top]
            keep = np.zeros((k, n), dtype=bool)
            np.put_along_axis(keep, top, True, 1)
            keep &= cand
            sel = keep[kk, jj]
            return np.concatenate([sel, sel])

        ub, cd, ct, cl = self.bound_and_dims(np.vstack([L1, L2]), np.vstack([H1, H2]), tgt, root_width,
                                             np.concatenate([ok[kk], ok[kk]]), np.concatenate([prior[kk], prior[kk]]),
                                             tight_pick=pick)
        worst = np.full((k, n), np.inf)
        total = np.full((k, n), np.inf)
        worst[kk, jj] = np.maximum(ub[:m], ub[m:])
        total[kk, jj] = ub[:m] + ub[m:]
        order = np.argsort(total, axis=1, kind="stable")
        w_sorted = np.take_along_axis(worst, order, 1)
        best = order[np.arange(k), np.argmin(w_sorted, axis=1)]
        pos = np.full((k, n), -1)
        pos[kk, jj] = np.arange(m)
        r = pos[np.arange(k), best]
        sel = np.concatenate([r, m + r])
        self.n_strong += k
        return best, (ub[sel], cd[sel], ct[sel], cl[sel])

    def _width_dims(self, lo, hi, root_width):
        w = hi - lo
        if root_width is not None:
            w = w / np.where(root_width > 0, root_width, 1.0)
        return np.argmax(w, axis=1)

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

    def propose(self, lo: np.ndarray, hi: np.ndarray, *, samples: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Candidate points in each box: the centre (plus ``samples`` uniform points) improved by
        projected gradient ascent; returns the best point of each box and its float value."""
        X0 = 0.5 * (lo + hi)
        if samples:
            B, n = lo.shape
            U = self.rng.uniform(size=(B, samples, n))
            P = (lo[:, None, :] + U * (hi - lo)[:, None, :]).reshape(-1, n)
            Xs = np.vstack([X0, P])
            Ls = np.vstack([lo, np.repeat(lo, samples, axis=0)])
            Hs = np.vstack([hi, np.repeat(hi, samples, axis=0)])
        else:
            Xs, Ls, Hs = X0, lo, hi
        if self.pgd_steps > 0:
            Xb, vb = pgd_maximize(self._objective, Ls, Hs, Xs, steps=self.pgd_steps)
        else:
            Xb, vb = Xs, self.values(Xs)
        return Xb, vb

    # -- one step: split a batch of open nodes, bound the children -----------------------------
    def _expand(self, lo, hi, pub, dims, ptight, pgain, play, tgt, root_width) -> dict:
        """Split each of the ``k`` given open nodes once and bound the two children; returns the
        split inputs and points (k,), the children (2k rows: every low half, then every high half)
        with their bounds, preferred split inputs, back-substituted bounds, gains and hidden-layer
        bounds, the best proposed point, and the work done (bound calls and counters)."""
        c0 = (self.n_cheap, self.n_tight, self.n_strong)
        calls = 0
        k = len(pub)
        idx = np.arange(k)
        dims = np.array(dims, dtype=np.int64)
        # a zero-width input cannot be split: fall back to the widest one
        flat = hi[idx, dims] <= lo[idx, dims]
        if flat.any():
            dims[flat] = self._width_dims(lo[flat], hi[flat], root_width)
        # a parent whose back-substituted bound was far above the target: its children are
        # split again before paying for that bound (halving a box rarely gains that much)
        ok = np.isnan(ptight) | (ptight <= self.parent_ratio * max(tgt, 0.0))
        la = self._lookahead_mask(pub, pgain, tgt)
        if la.any():
            dims[la], la_res = self._strong_dims(lo[la], hi[la], tgt, root_width, ok[la], play[la])
            calls += 1
        mid = 0.5 * lo[idx, dims] + 0.5 * hi[idx, dims]
        lo_c = np.concatenate([lo, lo])
        hi_c = np.concatenate([hi, hi])
        hi_c[idx, dims] = mid
        lo_c[k + idx, dims] = mid
        ub = np.empty(2 * k)
        cdims = np.empty(2 * k, dtype=np.int64)
        ctight = np.empty(2 * k)
        clay = np.empty((2 * k, play.shape[1]))
        la2 = np.concatenate([la, la])
        if (~la).any():
            nl = ~la2
            ub[nl], cdims[nl], ctight[nl], clay[nl] = self.bound_and_dims(
                lo_c[nl], hi_c[nl], tgt, root_width, np.concatenate([ok, ok])[nl], np.concatenate([play, play])[nl])
            calls += 1
        if la.any():
            ub[la2], cdims[la2], ctight[la2], clay[la2] = la_res
        ppub = np.concatenate([pub, pub])
        gain = ub / np.where(ppub > 0, ppub, 1.0)
        ub = np.minimum(ub, ppub)
        Xp, vp = self.propose(lo_c, hi_c)
        jb = int(np.argmax(vp))
        return dict(dims=dims, mid=mid, lo_c=lo_c, hi_c=hi_c, ub=ub, cdims=cdims, ctight=ctight, gain=gain,
                    clay=clay, x=Xp[jb], v=np.float64(vp[jb]), calls=np.int64(calls),
                    cheap=np.int64(self.n_cheap - c0[0]), tight=np.int64(self.n_tight - c0[1]),
                    strong=np.int64(self.n_strong - c0[2]))

    def _helper_work(self, msg: dict) -> dict:
        """What a helper process runs on its part of a step (see :mod:`relucert.verify._helpers`)."""
        return self._expand(msg["lo"], msg["hi"], msg["pub"], msg["dims"], msg["ptight"], msg["pgain"],
                            msg["play"], float(msg["tgt"]), msg["root_width"])

    def _expand_parts(self, helpers, parents: dict, tgt: float, root_width) -> dict:
        """:meth:`_expand` on the parents, cut into parts when helpers run (the calling process
        takes the first part); the parts' results are joined in the order one call would give."""
        k = len(parents["pub"])
        n_parts = 1 if helpers is None else min(helpers.size + 1, k // _MIN_PART)
        if n_parts <= 1:
            return self._expand(**parents, tgt=tgt, root_width=root_width)
        cuts = np.linspace(0, k, n_parts + 1).astype(int)
        for p in range(1, n_parts):
            part = {name: a[cuts[p]:cuts[p + 1]] for name, a in parents.items()}
            helpers.submit(p - 1, dict(part, tgt=np.float64(tgt), root_width=root_width))
        outs = [self._expand(**{name: a[cuts[0]:cuts[1]] for name, a in parents.items()}, tgt=tgt,
                             root_width=root_width)]
        outs += [helpers.result(p - 1) for p in range(1, n_parts)]
        for o in outs[1:]:
            self.n_cheap += int(o["cheap"])
            self.n_tight += int(o["tight"])
            self.n_strong += int(o["strong"])
        sizes = np.diff(cuts)
        e = {name: np.concatenate([o[name] for o in outs]) for name in ("dims", "mid")}
        for name in ("lo_c", "hi_c", "ub", "cdims", "ctight", "gain", "clay"):
            lows = [o[name][:s] for o, s in zip(outs, sizes)]
            highs = [o[name][s:] for o, s in zip(outs, sizes)]
            e[name] = np.concatenate(lows + highs)
        best = max(range(n_parts), key=lambda i: float(outs[i]["v"]))       # first part on ties
        e["x"], e["v"] = outs[best]["x"], outs[best]["v"]
        e["calls"] = max(int(o["calls"]) for o in outs)
        return e

    # -- the search -----------------------------------------------------------------------------
    def run(self, lo0: np.ndarray, hi0: np.ndarray, *, threshold: float | None = None, atol: float = 0.0,
            rtol: float = 0.0, time_limit: float | None = None, node_limit: int | None = None,
            progress=None, stop_value: float | None = None, confirm=None) -> BaBOutcome:
        """Search until every open node's bound is <= threshold (``status="below"``), or, with no
        threshold, until ``upper - lower <= max(atol, rtol*upper)`` (``"tolerance"``).

        ``stop_value``: stop as soon as a point with Q > stop_value is found (``"found"``) and
        ``confirm(x)`` (exact re-evaluation) accepts it; a rejected point does not stop the search.
        """
        clock = self.clock
        t0 = clock()
        self.n_cheap = self.n_tight = self.n_strong = 0
        kind = {"differential": "diff-cascade+ancestors" if self.reuse_parent else "diff-cascade"}.get(
            self.engine, self.engine)
        tree = SplitTree(kind)
        root = tree.add(-1, 0)
        lo0 = np.asarray(lo0, dtype=np.float64)
        hi0 = np.asarray(hi0, dtype=np.float64)
        n = lo0.size
        root_width = hi0 - lo0
        Xb, vb = self.propose(lo0[None], hi0[None], samples=64)
        j = int(np.argmax(vb))
        best_x, best_v = Xb[j].copy(), float(vb[j])

        def target() -> float:
            if threshold is not None:
                return threshold
            return best_v + max(atol, rtol * max(best_v, 0.0))

        ub0, d0, t0_, l0_ = self.bound_and_dims(lo0[None], hi0[None], target(), root_width)
        ub0 = float(ub0[0])
        opened = _Open()
        opened.push(lo0[None], hi0[None], np.array([ub0]), np.array([root]), d0, t0_, np.ones(1), l0_)
        calls = 1
        closed_max = -np.inf
        checked_v = -np.inf
        status = None
        helpers = None
        no_helpers = self.workers <= 1
        helper_note = ""
        try:
            while True:
                # close whatever the current target allows
                tgt = target()
                done = opened.ub <= tgt
                if done.any():
                    _, _, u, ids, _, _, _, _ = opened.take(done)
                    tree.close(ids, u)
                    closed_max = max(closed_max, float(u.max()))
                if stop_value is not None and best_v > stop_value and best_v > checked_v:
                    checked_v = best_v
                    if confirm is None or confirm(best_x):
                        status = "found"
                        break
                if not len(opened):
                    status = "below" if threshold is not None else "tolerance"
                    break
                if time_limit is not None and clock() - t0 > time_limit:
                    status = "time_limit"
                    break
                if node_limit is not None and tree.n_nodes >= node_limit:
                    status = "node_limit"
                    break
                lo, hi, pub, pid, dims, ptight, pgain, play = opened.take(opened.top(self.batch))
                if helpers is None and not no_helpers and len(pub) >= 2 * _MIN_PART:
                    helpers, why = start_helpers(self.workers - 1, self._helper_work)
                    no_helpers = helpers is None
                    if why:
                        helper_note = why
                e = self._expand_parts(helpers, dict(lo=lo, hi=hi, pub=pub, dims=dims, ptight=ptight, pgain=pgain,
                                                     play=play), tgt, root_width)
                calls += int(e["calls"])
                if float(e["v"]) > best_v:
                    best_v, best_x = float(e["v"]), e["x"].copy()
                k = len(pub)
                tree.set_split(pid, e["dims"], e["mid"])
                cid = tree.add_many(np.concatenate([pid, pid]), np.repeat(np.array([0, 1], dtype=np.int8), k))
                # a box that can no longer be split (all widths zero in float) keeps its bound and
                # would be split forever: it stays open and the search ends by a limit
                opened.push(e["lo_c"], e["hi_c"], e["ub"], cid, e["cdims"], e["ctight"], e["gain"], e["clay"])
                if progress is not None:
                    progress(nodes=tree.n_nodes, lower=best_v, upper=max(opened.max_ub(), closed_max),
                             open=len(opened), elapsed=clock() - t0)
        finally:
            if helpers is not None:
                helpers.close()
        upper = max(opened.max_ub(), closed_max)
        if not np.isfinite(upper):
            upper = ub0
        stats = {"cheap_bounds": self.n_cheap, "tight_bounds": self.n_tight, "split": self.split,
                 "strong_branched": self.n_strong,
                 "workers": self.workers if helpers is not None else 1}
        if helper_note:
            stats["workers_note"] = f"ran in one process: {helper_note}"
        return BaBOutcome(status=status, upper=float(upper), best_x=best_x, best_value=best_v,
                          nodes=tree.n_nodes, bound_calls=calls, tree=tree, stats=stats)
