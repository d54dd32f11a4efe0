"""Certified branch and bound: the input-split search that a ``bab`` certificate describes.

Every node is bounded with the checker's own leaf routine (:mod:`relucert.check._leaf`, bound
``diff-v1`` for pairs with equal layer sizes, else ``lin-v1``) and split with the checker's rule (widest side relative to the root box, lowest index
on ties, at the float midpoint), so every leaf the search closes is a leaf the checker closes: the
certificate is just the tree.  A leaf closes only with a safety margin below eps, so a rounding
difference between the prover's and the checker's batches cannot reject it.  Counterexamples
are looked for at every open node with projected gradient steps (the verifier's
:class:`~relucert.verify.bab.DistanceBaB` proposals) and confirmed in exact arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..check import _leaf
from ..network import Network
from .format import encode_preorder

__all__ = ["CertifiedSearch", "SearchOutcome", "CLOSE_MARGIN"]

#: a leaf closes when its bound is at most ``eps - CLOSE_MARGIN * (1 + |eps|)``
CLOSE_MARGIN = 1e-9


@dataclass
class SearchOutcome:
    status: str                       # "proved" | "refuted" | "node_limit" | "time_limit" | "stuck"
    children: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)     # node -> 1 + unit of a ReLU-phase split
    nodes: int = 0
    leaves: int = 0
    upper: float = float("inf")       # worst closed-leaf bound (a sound upper bound when proved)
    witness: list | None = None       # exact rational x when refuted
    value: Fraction | None = None     # exact max |f - g| at the witness
    bounded: int = 0                  # bound evaluations (nodes bounded)

    def tree(self) -> dict:
        bits, n, kinds = encode_preorder(self.children, kinds=self.kinds)
        out = {"enc": "preorder-bits-v1", "nodes": n, "leaves": self.leaves, "bits": bits}
        if self.kinds:
            out["relu_splits"] = kinds
        return out


class CertifiedSearch:
    """Prove ``max_{k in outputs} |f_k - g_k| <= eps`` on ``[lo, hi]`` or find an exact witness."""

    def __init__(self, f: Network, g: Network, outputs, eps: float, *, batch: int = 256, pgd: bool = True,
                 seed: int = 0, relu_splits: bool = False):
        self.f, self.g = f, g
        self.outputs = list(outputs)
        self.eps = Fraction(float(eps))
        self.close_at = float(eps) - CLOSE_MARGIN * (1.0 + abs(float(eps)))
        m = f.n_outputs
        S = np.zeros((len(self.outputs), m))
        S[np.arange(len(self.outputs)), self.outputs] = 1.0
        self.Cf, self.Cg = np.vstack([S, -S]), np.vstack([-S, S])
        self._fl = _leaf._Net(_leaf.FloatArith, [(L.weight, L.bias) for L in f.layers])
        self._gl = _leaf._Net(_leaf.FloatArith, [(L.weight, L.bias) for L in g.layers])
        self.differential = f.sizes == g.sizes
        self.bound_name = "diff-v1" if self.differential else "lin-v1"
        self.batch = int(batch)
        self.relu_splits = bool(relu_splits) and (f.depth > 0 or g.depth > 0)
        if self.relu_splits and f.depth != g.depth:
            raise ValueError("ReLU-phase splits need f and g of the same depth")
        self._offsets = np.cumsum([0] + f.widths + g.widths)
        self.relu_layers = 1        # ReLU-phase splits only on the first hidden layers (then input splits)
        self._proposer = None
        if pgd:
            from ..verify.bab import DistanceBaB

            self._proposer = DistanceBaB(f, g, self.outputs, seed=seed, pgd_steps=6)

    def bound(self, lo, hi, *, phases=None, info=None) -> np.ndarray:
        """The checker's upper bound of ``max_k |f_k - g_k|`` on each domain (box and literals)."""
        ub = _leaf.leaf_upper_bounds(_leaf.FloatArith, self._fl, self._gl, self.Cf, self.Cg, lo, hi,
                                     differential=self.differential, phases=phases, info=info)
        return ub.max(axis=1)

    def _exact_value(self, x) -> tuple[list, Fraction]:
        xs = [Fraction(float(v)) for v in x]
        fy, gy = self.f.eval_exact(xs), self.g.eval_exact(xs)
        return xs, max(abs(fy[k] - gy[k]) for k in self.outputs)

    def _try_points(self, X, lo0, hi0):
        """An exact witness among the float points ``X`` (clipped into the box), or None."""
        X = np.clip(X, lo0, hi0)
        d = np.abs(self.f(X)[:, self.outputs] - self.g(X)[:, self.outputs]).max(axis=1)
        for i in np.argsort(-d)[:8]:
            if d[i] <= float(self.eps) * (1 - 1e-12) - 1e-300:
                break
            xs, v = self._exact_value(X[i])
            if v > self.eps:
                return xs, v
        return None

    def _relu_choice(self, info, ph, olo, ohi):
        """For each open node the ReLU unit to split (global id), or -1 for an input split: the
        unstable unit of the earliest layer (f's layers, then g's at the same depth) with the
        largest relaxation height ``u (-l) / (u - l)``."""
        choice = np.full(len(olo), -1)
        if ph is None:
            return choice
        best = np.full(len(olo), -np.inf)
        depth = len(self._offsets) // 2
        for k in range(min(depth, self.relu_layers)):
            for net, key in ((0, "f_pre"), (1, "g_pre")):
                l, u = info[key][k]
                off = self._offsets[net * depth + k]
                free = ph[:, off:off + l.shape[1]] == 0
                score = np.where((l < 0) & (u > 0) & free, u * (-l) / np.where(u - l > 0, u - l, 1.0), -np.inf)
                j = np.argmax(score, axis=1)
                val = score[np.arange(len(j)), j]
                take = (best == -np.inf) & np.isfinite(val)
                choice[take], best[take] = off + j[take], val[take]
        return choice

    def _phases(self, ph):
        if ph is None:
            return None
        per = [ph[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]
        d = len(per) // 2
        return per[:d], per[d:]

    def run(self, lo0, hi0, *, node_limit: int | None = 2_000_000, time_limit: float | None = None) -> SearchOutcome:
        t0 = time.perf_counter()
        lo0 = np.asarray(lo0, dtype=np.float64)
        hi0 = np.asarray(hi0, dtype=np.float64)
        width0 = hi0 - lo0
        scale = np.where(width0 > 0, width0, 1.0)
        out = SearchOutcome(status="proved")
        # a cheap look for a counterexample first: centre, corners of a random sample
        rng = np.random.default_rng(0)
        pts = np.vstack([0.5 * lo0 + 0.5 * hi0, lo0 + width0 * rng.random((256, len(lo0)))])
        hit = self._try_points(pts, lo0, hi0)
        if hit is not None:
            out.status, (out.witness, out.value) = "refuted", hit
            return out
        relu = self.relu_splits
        ids = np.array([0])
        los, his = lo0[None].copy(), hi0[None].copy()
        phs = np.zeros((1, self._offsets[-1]), dtype=np.int8) if relu else None
        next_id = 1
        worst = -np.inf
        while len(ids):
            if time_limit is not None and time.perf_counter() - t0 > time_limit:
                out.status = "time_limit"
                break
            take = min(len(ids), self.batch)
            bid, blo, bhi = ids[:take], los[:take], his[:take]
            bph = phs[:take] if relu else None
            ids, los, his = ids[take:], los[take:], his[take:]
            if relu:
                phs = phs[take:]
            info: dict = {}
            ub = self.bound(blo, bhi, phases=self._phases(bph), info=info)
            out.bounded += take
            ok = ub <= self.close_at
            out.leaves += int(ok.sum())
            if ok.any():
                worst = max(worst, float(ub[ok].max()))
            open_ = np.flatnonzero(~ok)
            if open_.size == 0:
                continue
            olo, ohi = blo[open_], bhi[open_]
            if self._proposer is not None:
                X, _ = self._proposer.propose(olo, ohi)
                hit = self._try_points(X, lo0, hi0)
            else:
                hit = self._try_points(0.5 * olo + 0.5 * ohi, lo0, hi0)
            if hit is not None:
                out.status, (out.witness, out.value) = "refuted", hit
                break
            if node_limit is not None and next_id + 2 * open_.size > node_limit:
                out.status = "node_limit"
                break
            oph = bph[open_] if relu else None
            unit = self._relu_choice({k: [(l[open_], u[open_]) for l, u in v] for k, v in info.items()},
                                     oph, olo, ohi) if relu else np.full(open_.size, -1)
            r = np.arange(open_.size)
            d = np.argmax((ohi - olo) / scale, axis=1)
            mid = 0.5 * olo[r, d] + 0.5 * ohi[r, d]
            inp = unit < 0
            if not np.all(((olo[r, d] < mid) & (mid < ohi[r, d]))[inp]):
                out.status = "stuck"       # a box too thin to split does not close
                break
            lo_hi, hi_lo = ohi.copy(), olo.copy()
            lo_hi[r[inp], d[inp]] = mid[inp]
            hi_lo[r[inp], d[inp]] = mid[inp]
            for i, k in enumerate(open_):
                out.children[int(bid[k])] = (next_id + 2 * i, next_id + 2 * i + 1)
                if unit[i] >= 0:
                    out.kinds[int(bid[k])] = int(unit[i]) + 1
            new_ids = next_id + np.arange(2 * open_.size)
            next_id += 2 * open_.size
            # interleave first/second children so ids stay in step with the arrays
            nlo = np.empty((2 * open_.size, len(lo0)))
            nhi = np.empty_like(nlo)
            nlo[0::2], nhi[0::2] = olo, lo_hi
            nlo[1::2], nhi[1::2] = hi_lo, ohi
            ids = np.concatenate([ids, new_ids])
            los = np.vstack([los, nlo])
            his = np.vstack([his, nhi])
            if relu:
                nph = np.repeat(oph, 2, axis=0)
                ru = np.flatnonzero(~inp)
                nph[2 * ru, unit[ru]] = -1
                nph[2 * ru + 1, unit[ru]] = 1
                phs = np.vstack([phs, nph])
        out.nodes = next_id
        out.upper = worst
        return out
