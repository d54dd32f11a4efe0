"""Certified branch and bound: the split search that a ``bab`` certificate describes.

Every node is bounded with the checker's own leaf routine (:mod:`relucert.check._leaf`, bound
``diff-v1`` for pairs with equal layer sizes, else ``lin-v1``) and judged with the checker's own
reading of the claim (:func:`relucert.check.checker._goals` / ``_evaluate``: one set of rows and
cases for ``eps``, ``distance``, ``top1`` and ``decision`` claims), so every leaf the search
closes is a leaf the checker closes and the certificate is just the tree (plus the split inputs
and the hints of the few leaves that need one).  A leaf closes only with a safety margin below
each right-hand side, so a rounding difference between the prover's and the checker's batches
cannot reject it.

Split choice: the checker accepts any input at every split (``given-dim-midpoint-v1``: the input
is recorded, the cut is the float midpoint).  For differential pairs the prover takes the input
the verifier's forward symbolic pass finds most sensitive (:class:`relucert.verify.bab.DistanceBaB`
with its cheap bound only), which on ACAS Xu needs ~10x fewer nodes than cutting the widest side;
otherwise the widest side relative to the root box.

Hints: a node that does not close is retried with other lower slopes for its unstable units
(``alpha``: the chord slope ``u/(u-l)``, then the flipped 0/1 choice), rounded to multiples of
1/64; a slope vector that closes the node is stored as the leaf's hint (the checker recomputes
the bound with it; any slope in [0, 1] is sound).

Counterexamples are looked for at every open node (the verifier's projected-gradient proposals
for eps claims, box centres and samples otherwise) and confirmed in exact arithmetic.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..check import _leaf
from ..check.checker import ALPHA_DEN, _evaluate, _goals, _inside
from ..network import Network
from .format import encode_preorder

__all__ = ["CertifiedSearch", "SearchOutcome", "CLOSE_MARGIN", "ALPHA_GRID"]

#: a leaf closes when it closes with every right-hand side lowered by ``CLOSE_MARGIN * (1 + |rhs|)``
CLOSE_MARGIN = 1e-9
#: hinted lower slopes are multiples of 1/ALPHA_GRID
ALPHA_GRID = ALPHA_DEN


@dataclass
class SearchOutcome:
    status: str                       # "proved" | "refuted" | "node_limit" | "time_limit" | "stuck"
    children: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)     # node -> 1 + unit of a ReLU-phase split
    dims: dict = field(default_factory=dict)      # node -> input of an input split
    hints: dict = field(default_factory=dict)     # leaf node -> base64 slopes (checker's hint format)
    nodes: int = 0
    leaves: int = 0
    upper: float = float("inf")       # eps claims: worst closed-leaf bound (a sound upper bound when proved)
    witness: list | None = None       # exact rational x when refuted
    value: Fraction | None = None     # eps claims: exact max |f - g| at the witness
    bounded: int = 0                  # bound evaluations (nodes bounded)
    best_x: list | None = None        # eps claims: the exact point with the largest |f - g| seen
    best_value: Fraction | None = None
    n_inputs: int = 0

    def tree(self, *, with_dims: bool = False) -> dict:
        bits, n, kinds = encode_preorder(self.children, kinds=self.kinds)
        out = {"enc": "preorder-bits-v1", "nodes": n, "leaves": self.leaves, "bits": bits}
        if self.kinds:
            out["relu_splits"] = kinds
        if with_dims:
            out["dims"] = encode_preorder(self.children, kinds=self.dims, dtype="u1" if self.n_inputs <= 256 else "<u2")[2]
        return out

    def hint_list(self) -> list:
        """The hints keyed by pre-order leaf number, as the checker reads them."""
        if not self.hints:
            return []
        number, stack, k = {}, [0], 0
        while stack:
            nid = stack.pop()
            ch = self.children.get(nid)
            if ch is None:
                number[nid], k = k, k + 1
            else:
                stack += [ch[1], ch[0]]
        return [{"leaf": number[nid], "alpha": al} for nid, al in sorted(self.hints.items(), key=lambda t: number[t[0]])]


class CertifiedSearch:
    """Prove ``claim`` (the checker's claim dict: ``kind`` and its Fractions) on ``[lo, hi]`` or find
    an exact witness."""

    def __init__(self, f: Network, g: Network, claim: dict, *, batch: int = 256, pgd: bool = True,
                 seed: int = 0, relu_splits: bool = False, split: str = "auto", hints: bool = False,
                 violates=None):
        self.f, self.g = f, g
        self.claim = dict(claim)
        self.kind = claim["kind"]
        rows, cases = _goals(self.claim, f.n_outputs)
        self.cases = cases
        # the prover's cases: every right-hand side lowered by the margin
        shrink = Fraction(CLOSE_MARGIN)
        self.tight_cases = [([(r, q - shrink * (1 + abs(q)), s) for r, q, s in ex],
                             [[(r, q - shrink * (1 + abs(q)), s) for r, q, s in alts] for alts in reqs])
                            for ex, reqs in cases]
        self.Cf = np.array([r[0] for r in rows])
        self.Cg = np.array([r[1] for r in rows])
        self.violates = violates
        self.excluded = claim.get("excluded") or []
        self._fl = _leaf._Net(_leaf.FloatArith, [(L.weight, L.bias) for L in f.layers])
        self._gl = _leaf._Net(_leaf.FloatArith, [(L.weight, L.bias) for L in g.layers])
        self.differential = f.sizes == g.sizes
        self.bound_name = "diff-v1" if self.differential else "lin-v1"
        self.batch = int(batch)
        self.use_hints = bool(hints)
        self.relu_splits = bool(relu_splits) and (f.depth > 0 or g.depth > 0)
        if self.relu_splits and f.depth != g.depth:
            raise ValueError("ReLU-phase splits need f and g of the same depth")
        self._offsets = np.cumsum([0] + f.widths + g.widths)
        self.relu_layers = 1        # ReLU-phase splits only on the first hidden layers (then input splits)
        self.outputs = list(claim.get("outputs") or range(f.n_outputs))
        self._proposer = None
        if self.differential and split in ("auto", "sensitivity") or pgd and self.kind in ("eps", "distance"):
            try:                   # the verifier's proposals and split heuristic (a choice, never trusted)
                from ..verify.bab import DistanceBaB

                self._proposer = DistanceBaB(f, g, self.outputs, seed=seed, pgd_steps=6, cascade_factor=0.0)
            except Exception:      # noqa: BLE001 - without it the search falls back to widest splits
                self._proposer = None
        self.split = ("sensitivity" if self.differential else "width") if split == "auto" else split
        self.pgd = pgd
        self.rng = np.random.default_rng(seed)

    # -- bounds ------------------------------------------------------------------------------
    def row_bounds(self, lo, hi, *, phases=None, info=None, alpha=None) -> np.ndarray:
        return _leaf.leaf_upper_bounds(_leaf.FloatArith, self._fl, self._gl, self.Cf, self.Cg, lo, hi,
                                       differential=self.differential, phases=phases, info=info, alpha=alpha)

    def closes(self, U):
        ok, _ = _evaluate(U, self.tight_cases, False)
        return ok

    def bound(self, lo, hi, *, phases=None, info=None) -> np.ndarray:
        """eps claims: the checker's upper bound of ``max_k |f_k - g_k|`` on each domain."""
        return self.row_bounds(lo, hi, phases=phases, info=info).max(axis=1)

    def _alpha_tries(self, info, idx):
        """Alternative lower-slope vectors for the nodes ``idx``: per try, ``(f_alpha, g_alpha)``."""
        tries = []
        for rule in ("chord", "flip"):
            per = []
            for key in ("f_pre", "g_pre"):
                layers = []
                for l, u in info[key]:
                    l, u = l[idx], u[idx]
                    unst = (l < 0) & (u > 0)
                    if rule == "chord":
                        a = u / np.where(unst, u - l, 1.0)
                    else:
                        a = np.where(u > -l, 0.0, 1.0)
                    a = np.round(np.clip(a, 0.0, 1.0) * ALPHA_GRID) / ALPHA_GRID
                    layers.append(np.where(unst, a, np.nan))
                per.append(layers)
            tries.append(tuple(per))
        return tries

    @staticmethod
    def _hint_entries(alpha, r) -> str:
        """Node ``r``'s slopes as the checker reads them: one byte per hidden unit, k = 64 a or 255."""
        a = np.concatenate([A[r] for per in alpha for A in per])
        k = np.where(np.isnan(a), 255, np.round(np.nan_to_num(a) * ALPHA_GRID)).astype(np.uint8)
        return base64.b64encode(k.tobytes()).decode("ascii")

    # -- counterexamples -----------------------------------------------------------------------
    def _exact(self, x):
        xs = [Fraction(float(v)) for v in x]
        return xs, self.f.eval_exact(xs), self.g.eval_exact(xs)

    def _try_points(self, X, lo0, hi0, out):
        """An exact witness among the float points ``X`` (clipped into the box), or None."""
        X = np.clip(X, lo0, hi0)
        Fy, Gy = self.f(X), self.g(X)
        if self.kind in ("eps", "distance"):
            d = np.abs(Fy[:, self.outputs] - Gy[:, self.outputs]).max(axis=1)
            order = np.argsort(-d)[:8]
            if self.kind == "distance":          # only the best point matters (the bracket's lower end)
                xs, fy, gy = self._exact(X[order[0]])
                v = max(abs(fy[k] - gy[k]) for k in self.outputs)
                if out.best_value is None or v > out.best_value:
                    out.best_x, out.best_value = xs, v
                return None
            eps = float(self.claim["eps"])
            for i in order:
                if d[i] <= eps * (1 - 1e-12) - 1e-300:
                    break
                xs, fy, gy = self._exact(X[i])
                if any(all(sum(a * v for a, v in zip(row, xs)) <= bi for row, bi in zip(Aq, bq))
                       for Aq, bq, _, _ in self.excluded):
                    continue            # an excluded point is no counterexample
                v = max(abs(fy[k] - gy[k]) for k in self.outputs)
                if v > self.claim["eps"]:
                    return xs, v
            return None
        if self.kind == "top1":
            cand = np.flatnonzero(Fy.argmax(axis=1) != Gy.argmax(axis=1))
        else:
            c = self.claim
            cand = np.flatnonzero((Fy[:, 0] > float(c["tau_f"])) != (Gy[:, 0] > float(c["tau_g"])))
        for i in cand[:16]:
            xs, fy, gy = self._exact(X[i])
            if self.violates(fy, gy):
                return xs, None
        return None

    def _points(self, olo, ohi):
        if self._proposer is not None and self.pgd and self.kind in ("eps", "distance"):
            return self._proposer.propose(olo, ohi)[0]
        U = self.rng.random((len(olo), 2, olo.shape[1]))
        return np.vstack([0.5 * olo + 0.5 * ohi, (olo[:, None] + U * (ohi - olo)[:, None]).reshape(-1, olo.shape[1])])

    # -- splitting -----------------------------------------------------------------------------
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

    def _dims(self, olo, ohi, scale):
        d = np.argmax((ohi - olo) / scale, axis=1)
        if self.split == "sensitivity" and self._proposer is not None:
            try:
                sd = self._proposer.bound_and_dims(olo, ohi, None, scale)[1]
                r = np.arange(len(d))
                ok = (olo[r, sd] < 0.5 * olo[r, sd] + 0.5 * ohi[r, sd]) & (0.5 * olo[r, sd] + 0.5 * ohi[r, sd] < ohi[r, sd])
                d = np.where(ok, sd, d)
            except Exception:      # the heuristic is only a choice: the widest side is always valid
                pass
        return d

    def _phases(self, ph):
        if ph is None:
            return None
        per = [ph[:, a:b] for a, b in zip(self._offsets[:-1], self._offsets[1:])]
        d = len(per) // 2
        return per[:d], per[d:]

    # -- the search ----------------------------------------------------------------------------
    def run(self, lo0, hi0, *, node_limit: int | None = 2_000_000, time_limit: float | None = None) -> SearchOutcome:
        t0 = time.perf_counter()
        lo0 = np.asarray(lo0, dtype=np.float64)
        hi0 = np.asarray(hi0, dtype=np.float64)
        width0 = hi0 - lo0
        scale = np.where(width0 > 0, width0, 1.0)
        out = SearchOutcome(status="proved", n_inputs=len(lo0))
        # a cheap look for a counterexample first: centre, corners of a random sample
        rng = np.random.default_rng(0)
        pts = np.vstack([0.5 * lo0 + 0.5 * hi0, lo0, hi0, lo0 + width0 * rng.random((256, len(lo0)))])
        hit = self._try_points(pts, lo0, hi0, out)
        if hit is not None:
            out.status, (out.witness, out.value) = "refuted", hit
            return out
        relu = self.relu_splits
        ids = np.array([0])
        los, his = lo0[None].copy(), hi0[None].copy()
        phs = np.zeros((1, self._offsets[-1]), dtype=np.int8) if relu else None
        next_id = 1
        worst = -np.inf
        eps_rows = self.kind in ("eps", "distance")
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
            U = self.row_bounds(blo, bhi, phases=self._phases(bph), info=info)
            out.bounded += take
            ok = self.closes(U)
            ins = _inside(blo, bhi, self.excluded) if self.excluded else np.zeros(take, dtype=bool)
            ok |= ins                   # leaves inside an excluded polytope close without a bound
            if self.use_hints and not ok.all():
                miss = np.flatnonzero(~ok)
                for alpha in self._alpha_tries(info, miss):
                    left = miss[~ok[miss]]
                    if not left.size:
                        break
                    sel = np.searchsorted(miss, left)
                    al = tuple([A[sel] for A in per] for per in alpha)
                    U2 = self.row_bounds(blo[left], bhi[left], phases=self._phases(bph[left]) if relu else None,
                                         alpha=al)
                    good = self.closes(U2)
                    for r in np.flatnonzero(good):
                        out.hints[int(bid[left[r]])] = self._hint_entries(al, r)
                    U[left[good]] = U2[good]
                    ok[left[good]] = True
            out.leaves += int(ok.sum())
            if (ok & ~ins).any() and eps_rows:
                worst = max(worst, float(U[ok & ~ins].max()))
            open_ = np.flatnonzero(~ok)
            if open_.size == 0:
                continue
            olo, ohi = blo[open_], bhi[open_]
            hit = self._try_points(self._points(olo, ohi), lo0, hi0, out)
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
            d = self._dims(olo, ohi, scale)
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
                else:
                    out.dims[int(bid[k])] = int(d[i])
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
