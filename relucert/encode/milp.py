"""Mixed-integer linear encoding of ReLU networks, built as arrays.

A :class:`MilpProblem` is plain data: column bounds and integrality, an objective vector ``c``
(always *maximized*) plus a constant ``offset``, and a ``scipy.sparse.csr_matrix`` ``A`` with row
bounds ``row_lo <= A v <= row_hi``.  Every backend in :mod:`relucert.solvers` consumes exactly
these arrays, so there is one row representation and no per-backend encoding.

:class:`MilpBuilder` builds it::

    b = MilpBuilder(box)
    F = b.add_network(f, bounds_f, tag="f")          # bounds: one (lo, hi) per hidden layer
    G = b.add_network(g, bounds_g, tag="g")
    b.set_objective({F.outputs[0]: 1.0, G.outputs[0]: -1.0})   # max f_0 - g_0
    problem = b.build()

ReLU encoding
-------------
With sound pre-activation bounds ``lo <= z <= hi`` (valid for every ``x`` in the box):

* ``hi <= 0`` (stable inactive): ``h = 0``; the neuron is dropped;
* ``lo >= 0`` (stable active): ``h = z``; no binary, no row (``z`` is substituted);
* otherwise one binary ``d`` and the tight big-M rows
  ``h >= z``, ``h >= 0`` (column bound), ``h <= z - lo (1 - d)``, ``h <= hi d``;
* unstable only by a hair (``min(-lo, hi) <= NEAR_STABLE * max(1, |lo|, |hi|)``, typically the
  rounding hair of an exact 0): no binary, the relaxation ``max(z, 0) <= h <= min(z - lo, hi)``
  (valid on all of ``[lo, hi]``, within the hair of relu);
* unstable neurons of one layer with equal weight rows (``z_i = z_j + c``, e.g. the halves of a
  ramp ``relu(s + 1) - relu(s)``) are tied by the valid rows ``c d_j <= h_i - h_j <= c d_i``,
  ``d_j <= d_i`` (``pair_cuts``).

With sound bounds the feasible set, projected onto the inputs, is exactly the box, and every
output column equals the network's output (up to the solver's float tolerances).  The bounds
are used as big-M constants, never a fixed big-M.  If the bounds are *not* sound (e.g. float LP
bounds from :func:`~relucert.encode.obbt.tighten_bounds_lp`), a neuron whose true range crosses
0 by less than the error may be treated as stable; the model then differs from the network by
about that error.

``z_mode`` chooses how pre-activations appear:

* ``"implicit"`` (default): ``z = W h_prev + b`` is substituted into the ReLU rows, and stable
  active neurons are substituted into the next layer (``z`` of layer ``l`` is a sparse affine
  map of the columns).  Fewest columns and rows; coefficients of layers behind active neurons are
  float products ``W_l W_{l-1}`` (rounded).
* ``"explicit"``: one column per non-dead ``z`` with an equality row ``z - W h_prev = b``.
  Every coefficient is then a stored weight or bound, exactly.

Columns are numbered: the ``box.dim`` inputs first (bounded by the box), then the columns of each
network in the order they are added, then any auxiliary columns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from ..box import Box
from ..errors import SpecError
from ..network import Network
from ._common import (
    ACTIVE,
    UNSTABLE,
    check_bounds,
    check_box,
    check_network,
    check_tag,
    polytope_arrays,
    relu_phases,
)

__all__ = ["MilpBuilder", "MilpProblem", "NetVars", "Z_MODES"]

Z_MODES = ("implicit", "explicit")
#: an unstable neuron whose ``-lo`` or ``hi`` is at most this (relative to ``max(1, |lo|, |hi|)``)
#: gets no binary (see ``add_network``)
NEAR_STABLE = 1e-12
_INF = np.inf


# ---------------------------------------------------------------------------------------------
# results of the builder
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NetVars:
    """Where one encoded network lives in the column vector ``v``.

    ``outputs[k]``: column of output ``k``.  Per hidden layer ``l``: ``phases[l]`` (+1 stable
    active, -1 stable inactive, 0 unstable), ``hidden[l]`` the column holding the post-activation
    (``-1`` if the neuron has none: inactive, or active and substituted in implicit mode),
    ``binaries[l]`` the phase binary (``-1`` for stable neurons), ``pre_cols[l]`` the ``z`` column
    (explicit mode only, else all ``-1``).  ``pre_maps[l] = (M, c)`` and ``post_maps[l]`` give
    ``z_l`` and ``h_l`` as exact-in-structure affine maps ``M v[:M.shape[1]] + c`` of the columns.
    """

    tag: str
    net: Network
    outputs: np.ndarray
    hidden: tuple[np.ndarray, ...]
    binaries: tuple[np.ndarray, ...]
    phases: tuple[np.ndarray, ...]
    pre_cols: tuple[np.ndarray, ...]
    pre_maps: tuple[tuple[sp.csr_matrix, np.ndarray], ...] = field(repr=False)
    post_maps: tuple[tuple[sp.csr_matrix, np.ndarray], ...] = field(repr=False)

    @property
    def n_binaries(self) -> int:
        return int(sum(int(np.count_nonzero(b >= 0)) for b in self.binaries))

    @property
    def n_unstable(self) -> int:
        return int(sum(int(np.count_nonzero(p == UNSTABLE)) for p in self.phases))

    def pre_values(self, v) -> list[np.ndarray]:
        """Pre-activations ``z_l`` of the hidden layers read off a full column vector ``v``."""
        v = np.asarray(v, dtype=np.float64)
        return [M @ v[: M.shape[1]] + c for M, c in self.pre_maps]

    def post_values(self, v) -> list[np.ndarray]:
        """Post-activations ``h_l`` of the hidden layers read off a full column vector ``v``."""
        v = np.asarray(v, dtype=np.float64)
        return [M @ v[: M.shape[1]] + c for M, c in self.post_maps]

    def output_values(self, v) -> np.ndarray:
        return np.asarray(v, dtype=np.float64)[self.outputs]


@dataclass(frozen=True, eq=False)
class _Block:
    start: int
    count: int
    prefix: str


def _names(blocks: Sequence[_Block], n: int) -> list[str]:
    out = [""] * n
    for blk in blocks:
        for i in range(blk.count):
            out[blk.start + i] = f"{blk.prefix}_{i}"
    return out


@dataclass(frozen=True, eq=False)
class MilpProblem:
    """``max c.v + offset  s.t.  row_lo <= A v <= row_hi,  col_lo <= v <= col_hi,  v_j in Z for integer[j]``.

    Arrays are read-only.  ``input_cols`` are the input columns (``box.dim`` of them, first),
    ``nets`` maps each tag to its :class:`NetVars`.
    """

    c: np.ndarray
    offset: float
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    input_cols: np.ndarray
    box: Box
    nets: Mapping[str, NetVars]
    col_blocks: tuple[_Block, ...] = field(repr=False)
    row_blocks: tuple[_Block, ...] = field(repr=False)
    sense: str = "max"

    @property
    def n_cols(self) -> int:
        return int(self.c.shape[0])

    @property
    def n_rows(self) -> int:
        return int(self.A.shape[0])

    @property
    def n_integer(self) -> int:
        return int(np.count_nonzero(self.integer))

    @property
    def is_mip(self) -> bool:
        return bool(self.integer.any())

    def col_names(self) -> list[str]:
        """Names like ``x_0``, ``f_h1_3``, ``f_d1_3``, ``f_y_0`` (``<tag>_<kind><layer>_<index>``)."""
        return _names(self.col_blocks, self.n_cols)

    def row_names(self) -> list[str]:
        return _names(self.row_blocks, self.n_rows)

    def stats(self) -> dict:
        return {"cols": self.n_cols, "rows": self.n_rows, "nnz": int(self.A.nnz), "binaries": self.n_integer}

    def objective_value(self, v) -> float:
        return float(self.c @ np.asarray(v, dtype=np.float64) + self.offset)

    def max_violation(self, v) -> float:
        """Largest violation of a row bound, column bound or integrality by ``v`` (float)."""
        v = np.asarray(v, dtype=np.float64)
        r = self.A @ v
        viol = [np.maximum(self.row_lo - r, 0), np.maximum(r - self.row_hi, 0),
                np.maximum(self.col_lo - v, 0), np.maximum(v - self.col_hi, 0),
                np.abs(v - np.round(v)) * self.integer]
        return float(max((float(a.max()) for a in viol if a.size), default=0.0))

    def relaxed(self) -> "MilpProblem":
        """The same problem with integrality dropped (the LP relaxation)."""
        return _replace(self, integer=_ro(np.zeros(self.n_cols, dtype=bool)))

    def with_objective(self, c, offset: float = 0.0) -> "MilpProblem":
        c = np.asarray(c, dtype=np.float64).reshape(-1)
        if c.shape != (self.n_cols,):
            raise SpecError(f"objective must have {self.n_cols} entries, got {c.shape[0]}")
        return _replace(self, c=_ro(c.copy()), offset=float(offset))

    # -- export ------------------------------------------------------------------------------
    def to_lp(self, path) -> str:
        """Write the model as a CPLEX LP file (via HiGHS); atomic (temporary file + rename)."""
        return self._write(path, ".lp")

    def to_mps(self, path) -> str:
        """Write the model as a free MPS file (via HiGHS); atomic (temporary file + rename)."""
        return self._write(path, ".mps")

    def _write(self, path, ext: str) -> str:
        from ..solvers.highs import write_model

        path = os.fspath(path)
        if not path.endswith(ext):
            raise SpecError(f"path must end with {ext}, got {path!r}")
        write_model(self, path)
        return path


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


_U = 2.0 ** -53


def _up(a):
    return np.nextafter(a, _INF)


def _down(a):
    return np.nextafter(a, -_INF)


def _sub_up(a, b):
    """A float ``>= a - b`` exactly (``fl(a - b)`` moved up one ulp where it rounded down)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = a - b
    bp = s - a
    e = (a - (s - bp)) + (-b - bp)          # a - b == s + e exactly (TwoSum)
    return np.where(e > 0, _up(s), s)


def _sub_down(a, b):
    """A float ``<= a - b`` exactly."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = a - b
    bp = s - a
    e = (a - (s - bp)) + (-b - bp)
    return np.where(e < 0, _down(s), s)


def _pad(M: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """``M`` with its column count raised to ``n`` (maps stored earlier have fewer columns)."""
    if M.shape[1] == n:
        return M
    M = M.tocoo()
    return sp.csr_matrix((M.data, (M.row, M.col)), shape=(M.shape[0], n))


def _replace(p: MilpProblem, **kw) -> MilpProblem:
    d = {k: getattr(p, k) for k in p.__dataclass_fields__}
    d.update(kw)
    return MilpProblem(**d)


# ---------------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------------
class MilpBuilder:
    """Incremental, array-based construction of a :class:`MilpProblem` over one input box.

    All options are keyword-only and checked on entry.  Methods return column indices (numpy
    int arrays) that later calls refer to.
    """

    def __init__(self, box: Box, *, z_mode: str = "implicit"):
        self.box = check_box(box)
        if z_mode not in Z_MODES:
            raise SpecError(f"z_mode must be one of {', '.join(Z_MODES)}, got z_mode={z_mode!r}")
        self.z_mode = z_mode
        n = box.dim
        self._n = 0
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._cblocks: list[_Block] = []
        self._m = 0
        self._ri: list[np.ndarray] = []
        self._ci: list[np.ndarray] = []
        self._vi: list[np.ndarray] = []
        self._rlo: list[np.ndarray] = []
        self._rhi: list[np.ndarray] = []
        self._rblocks: list[_Block] = []
        self._obj: tuple[np.ndarray, np.ndarray] | None = None
        self._offset = 0.0
        self.nets: dict[str, NetVars] = {}
        self.input_cols = self.add_columns(n, box.lo, box.hi, prefix="x")

    # -- low level ---------------------------------------------------------------------------
    @property
    def n_cols(self) -> int:
        return self._n

    @property
    def n_rows(self) -> int:
        return self._m

    def add_columns(self, n: int, lo, hi, *, integer: bool = False, prefix: str = "aux") -> np.ndarray:
        """``n`` new columns with bounds ``lo, hi`` (scalars or arrays; +-inf allowed)."""
        n = int(n)
        lo = np.broadcast_to(np.asarray(lo, dtype=np.float64), (n,)).copy()
        hi = np.broadcast_to(np.asarray(hi, dtype=np.float64), (n,)).copy()
        if np.any(np.isnan(lo) | np.isnan(hi)) or np.any(lo > hi):
            raise SpecError(f"column bounds for {prefix!r} must satisfy lo <= hi")
        idx = np.arange(self._n, self._n + n, dtype=np.int64)
        if n:
            self._lo.append(lo)
            self._hi.append(hi)
            self._int.append(np.full(n, bool(integer)))
            self._cblocks.append(_Block(self._n, n, prefix))
            self._n += n
        return idx

    def _col_lo_all(self) -> np.ndarray:
        return np.concatenate(self._lo) if self._lo else np.zeros(0)

    def _col_hi_all(self) -> np.ndarray:
        return np.concatenate(self._hi) if self._hi else np.zeros(0)

    def _add_rows(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, lo, hi, count: int,
                  prefix: str) -> np.ndarray:
        """``count`` rows from COO triplets with local row numbers ``0..count-1``."""
        idx = np.arange(self._m, self._m + count, dtype=np.int64)
        if count:
            self._ri.append(np.asarray(rows, dtype=np.int64) + self._m)
            self._ci.append(np.asarray(cols, dtype=np.int64))
            self._vi.append(np.asarray(vals, dtype=np.float64))
            self._rlo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (count,)).copy())
            self._rhi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (count,)).copy())
            self._rblocks.append(_Block(self._m, count, prefix))
            self._m += count
        return idx

    def _terms(self, terms, what: str) -> tuple[np.ndarray, np.ndarray]:
        """``{col: coef}`` or ``(cols, coefs)`` -> arrays (duplicate columns summed)."""
        if isinstance(terms, Mapping):
            cols = np.fromiter((int(k) for k in terms.keys()), dtype=np.int64, count=len(terms))
            vals = np.fromiter((float(v) for v in terms.values()), dtype=np.float64, count=len(terms))
        else:
            try:
                cols_, vals_ = terms
                cols = np.asarray(cols_, dtype=np.int64).reshape(-1)
                vals = np.asarray(vals_, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise SpecError(f"{what} must be a {{column: coefficient}} mapping or a (cols, coefs) pair") from None
            if cols.shape != vals.shape:
                raise SpecError(f"{what} has {cols.size} columns but {vals.size} coefficients")
        if cols.size and (cols.min() < 0 or cols.max() >= self._n):
            bad = int(cols[(cols < 0) | (cols >= self._n)][0])
            raise SpecError(f"{what} refers to column {bad}, but the model has {self._n} columns")
        if not np.all(np.isfinite(vals)):
            raise SpecError(f"{what} coefficients must be finite")
        if cols.size != np.unique(cols).size:
            u, inv = np.unique(cols, return_inverse=True)
            vals = np.bincount(inv, weights=vals, minlength=u.size)
            cols = u
        return cols, vals

    # -- networks ----------------------------------------------------------------------------
    def add_network(self, net: Network, bounds, *, tag: str, output_bounds=None, pair_cuts: bool = True) -> NetVars:
        """Encode ``net`` on the shared input columns.

        ``bounds``: one ``(lo, hi)`` pair of float arrays per hidden layer (the pre-activation
        bounds, sound over the box), optionally followed by one pair for the outputs, which then
        bound the output columns (as does ``output_bounds``; give at most one of the two).
        Output columns are otherwise free.  With ``pair_cuts``, unstable neurons of a layer with
        equal weight rows are tied by the rows of :meth:`_add_pair_cuts` (ramps).
        """
        check_network(net, self.box, what=repr(tag))
        check_tag(tag, self.nets)
        hidden_b, out_b = check_bounds(net, bounds)
        if output_bounds is not None:
            if out_b is not None:
                raise SpecError("give output bounds either as the last entry of bounds or as output_bounds, not both")
            _, out_b = check_bounds(net, list(hidden_b) + [output_bounds])
        explicit = self.z_mode == "explicit"

        n0 = self.box.dim
        H = sp.csr_matrix((np.ones(n0), (np.arange(n0), self.input_cols)), shape=(n0, self._n))
        hc = np.zeros(n0)
        hidden, binaries, phases, pre_cols, pre_maps, post_maps = [], [], [], [], [], []
        for l, L in enumerate(net.layers[:-1]):
            lo, hi = hidden_b[l]
            Z, zc = self._affine(L, H, hc)
            pre_maps.append((Z, zc))
            m = L.n_out
            ph = relu_phases(lo, hi)
            phases.append(_ro(ph))
            u = np.flatnonzero(ph == UNSTABLE)
            act = ph == ACTIVE
            zcol = np.full(m, -1, dtype=np.int64)
            if explicit:
                # materialize z for every non-dead neuron: z - W h_prev = b
                live = np.flatnonzero(ph != -1)
                zcol[live] = self.add_columns(live.size, lo[live], hi[live], prefix=f"{tag}_z{l + 1}")
                Zl = Z[live].tocoo()
                self._add_rows(np.concatenate([np.arange(live.size), Zl.row]),
                               np.concatenate([zcol[live], Zl.col]),
                               np.concatenate([np.ones(live.size), -Zl.data]),
                               zc[live], zc[live], live.size, f"{tag}_zdef{l + 1}")
                Z = sp.csr_matrix((np.ones(live.size), (live, zcol[live])), shape=(m, self._n))
                zc = np.zeros(m)
            pre_cols.append(_ro(zcol))
            # unstable by a hair only (|lo| or hi below NEAR_STABLE relative; typically a rounding
            # hair of an exact 0): the binary-free relaxation max(z, 0) <= h <= min(z - lo, hi)
            # (valid on all of [lo, hi], and within the hair of relu)
            near = (np.minimum(-lo[u], hi[u]) <= NEAR_STABLE * np.maximum(1.0, np.maximum(-lo[u], hi[u])))
            un = u[near]
            u = u[~near]
            k = u.size
            hcol = np.full(m, -1, dtype=np.int64)
            dcol = np.full(m, -1, dtype=np.int64)
            if un.size:
                kn = un.size
                hcol[un] = self.add_columns(kn, 0.0, hi[un], prefix=f"{tag}_hn{l + 1}")
                Zn = Z[un].tocoo()
                arn = np.arange(kn)
                # h - z >= 0  and  h - z <= -lo
                self._add_rows(np.concatenate([arn, Zn.row]), np.concatenate([hcol[un], Zn.col]),
                               np.concatenate([np.ones(kn), -Zn.data]), zc[un], _sub_up(zc[un], lo[un]), kn,
                               f"{tag}_near{l + 1}")
            if k:
                hcol[u] = self.add_columns(k, 0.0, hi[u], prefix=f"{tag}_h{l + 1}")
                dcol[u] = self.add_columns(k, 0.0, 1.0, integer=True, prefix=f"{tag}_d{l + 1}")
                Zu = Z[u].tocoo()
                ar = np.arange(k)
                hu, du, lu, uu, cu = hcol[u], dcol[u], lo[u], hi[u], zc[u]
                # (1) h - z >= 0            ->  h - Zv >= zc
                self._add_rows(np.concatenate([ar, Zu.row]), np.concatenate([hu, Zu.col]),
                               np.concatenate([np.ones(k), -Zu.data]), cu, _INF, k, f"{tag}_ge{l + 1}")
                # (2) h <= z - lo (1 - d)   ->  h - Zv - lo d <= zc - lo
                self._add_rows(np.concatenate([ar, Zu.row, ar]), np.concatenate([hu, Zu.col, du]),
                               np.concatenate([np.ones(k), -Zu.data, -lu]), -_INF, _sub_up(cu, lu), k, f"{tag}_ub{l + 1}")
                # (3) h <= hi d             ->  h - hi d <= 0
                self._add_rows(np.concatenate([ar, ar]), np.concatenate([hu, du]),
                               np.concatenate([np.ones(k), -uu]), -_INF, 0.0, k, f"{tag}_on{l + 1}")
            if pair_cuts and k >= 2:
                self._add_pair_cuts(L, lo, hi, ph, hcol, dcol, f"{tag}_pair{l + 1}")
            if explicit:
                hcol[act] = zcol[act]
                sel = np.flatnonzero(hcol >= 0)
                H = sp.csr_matrix((np.ones(sel.size), (sel, hcol[sel])), shape=(m, self._n))
                hc = np.zeros(m)
            else:
                Zc = Z.tocoo()
                keep = act[Zc.row]
                hv = np.flatnonzero(hcol >= 0)
                H = sp.csr_matrix((np.concatenate([Zc.data[keep], np.ones(hv.size)]),
                                   (np.concatenate([Zc.row[keep], hv]), np.concatenate([Zc.col[keep], hcol[hv]]))),
                                  shape=(m, self._n))
                hc = np.where(act, zc, 0.0)
            post_maps.append((H, _ro(hc.copy())))
            hidden.append(_ro(hcol))
            binaries.append(_ro(dcol))

        Lout = net.layers[-1]
        Z, zc = self._affine(Lout, H, hc)
        p = Lout.n_out
        ylo, yhi = (np.full(p, -_INF), np.full(p, _INF)) if out_b is None else out_b
        ycol = self.add_columns(p, ylo, yhi, prefix=f"{tag}_y")
        Zo = Z.tocoo()
        self._add_rows(np.concatenate([np.arange(p), Zo.row]), np.concatenate([ycol, Zo.col]),
                       np.concatenate([np.ones(p), -Zo.data]), zc, zc, p, f"{tag}_out")
        nv = NetVars(tag=tag, net=net, outputs=_ro(ycol), hidden=tuple(hidden), binaries=tuple(binaries),
                     phases=tuple(phases), pre_cols=tuple(pre_cols), pre_maps=tuple(pre_maps),
                     post_maps=tuple(post_maps))
        self.nets[tag] = nv
        return nv

    def _add_pair_cuts(self, L, lo, hi, ph, hcol, dcol, prefix: str) -> int:
        """Rows tying unstable neurons with equal weight rows (``z_i = z_j + c``, ``c >= 0``):
        ``c d_j <= h_i - h_j <= c d_i`` and ``d_j <= d_i``, for consecutive neurons of each group
        sorted by bias (a ramp ``relu(s + 1) - relu(s)`` is then 0, ``s + 1`` or 1 as its
        binaries say, instead of anything in a triangle of the width of ``s``'s range).

        Valid for every input: ``h_i - h_j = relu(z_j + c) - relu(z_j)`` is 0 when ``z_i <= 0``
        and ``c`` when ``z_j >= 0``, and the phase binaries ``d = [z > 0]`` satisfy every big-M
        row and ``d_j <= d_i``.  ``c`` is bracketed by outward rounding.  Returns the rows added."""
        from .obbt import neuron_groups

        uns = dcol >= 0
        rows, cols, vals, rlo, rhi = [], [], [], [], []
        r = 0
        for g in neuron_groups(L.weight):
            g = g[uns[g]]
            if g.size < 2:
                continue
            g = g[np.argsort(-L.bias[g], kind="stable")]
            for i, j in zip(g[:-1], g[1:]):
                bi, bj = float(L.bias[i]), float(L.bias[j])
                c_lo = float(_sub_down(bi, bj))
                c_hi = float(_sub_up(bi, bj))
                hi_, hj, di, dj = int(hcol[i]), int(hcol[j]), int(dcol[i]), int(dcol[j])
                # h_i - h_j - c d_j >= 0 ; h_i - h_j - c d_i <= 0 ; d_i - d_j >= 0
                rows += [r, r, r, r + 1, r + 1, r + 1, r + 2, r + 2]
                cols += [hi_, hj, dj, hi_, hj, di, di, dj]
                vals += [1.0, -1.0, -max(c_lo, 0.0), 1.0, -1.0, -c_hi, 1.0, -1.0]
                rlo += [0.0, -_INF, 0.0]
                rhi += [_INF, 0.0, _INF]
                r += 3
        if r:
            self._add_rows(np.array(rows), np.array(cols), np.array(vals), np.array(rlo), np.array(rhi), r, prefix)
        return r

    @staticmethod
    def _affine(L, H: sp.csr_matrix, hc: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """``z = W (H v + hc) + b`` as ``(W H, W hc + b)`` (sparse, explicit zeros removed)."""
        Z = (sp.csr_matrix(L.weight) @ H).tocsr()
        Z.eliminate_zeros()
        zc = L.weight @ hc + L.bias if hc.any() else L.bias.copy()
        return Z, zc

    def add_difference_bounds(self, F: NetVars, G: NetVars, diff_bounds, *, post: bool = True) -> int:
        """Couple two encoded networks of equal layer sizes with bounds on their difference.

        ``diff_bounds``: one ``(lo, hi)`` pair per hidden layer with
        ``lo <= z^G_l - z^F_l <= hi`` on the whole box (*sound* differential bounds, e.g. from
        :mod:`relucert.bounds.differential`), optionally followed by a pair for the outputs
        (``y^G - y^F``).  Non-finite entries are skipped.  With ``post``, the implied
        ``min(lo, 0) <= h^G_l - h^F_l <= max(hi, 0)`` (ReLU is monotone and 1-Lipschitz) is added
        too.  These rows cut no point of the true graph but make the LP relaxation of ``f - g``
        far tighter when the two networks are close.  Returns the number of rows added.
        """
        if F.net.sizes != G.net.sizes:
            raise SpecError(f"difference bounds need equal layer sizes, got {F.net.sizes} and {G.net.sizes}")
        d = F.net.depth
        try:
            pairs = list(diff_bounds)
        except TypeError:
            raise SpecError("diff_bounds must be a list of (lo, hi) pairs") from None
        if len(pairs) not in (d, d + 1):
            raise SpecError(f"diff_bounds must hold {d} or {d + 1} (lo, hi) pairs, got {len(pairs)}")
        sizes = F.net.widths + [F.net.n_outputs]
        added = 0

        def rows(Mf, cf, Mg, cg, lo, hi, name):
            n = self._n
            D = (_pad(Mg, n) - _pad(Mf, n)).tocsr()
            D.eliminate_zeros()
            const = cg - cf
            ok = np.flatnonzero((np.isfinite(lo) | np.isfinite(hi)) & (np.diff(D.indptr) > 0))
            if ok.size == 0:
                return 0
            # D and const are float differences: widen the row by a rigorous bound of their
            # rounding error (|fl(a - b) - (a - b)| <= u |fl(a - b)| per entry) times max |v|
            vmax = np.maximum(np.abs(self._col_lo_all()), np.abs(self._col_hi_all()))
            Dabs = abs(D[ok])
            err = _up(2 * _U * (Dabs @ vmax + np.abs(const[ok])) + 1e-300)
            ok = ok[np.isfinite(err)]
            if ok.size == 0:
                return 0
            err = err[np.isfinite(err)]
            Dk = D[ok].tocoo()
            self._add_rows(Dk.row, Dk.col, Dk.data, _down(_sub_down(lo[ok], const[ok]) - err),
                           _up(_sub_up(hi[ok], const[ok]) + err), ok.size, name)
            return int(ok.size)

        for l, p in enumerate(pairs):
            try:
                lo, hi = (np.asarray(a, dtype=np.float64).reshape(-1) for a in p)
            except (TypeError, ValueError):
                raise SpecError(f"diff_bounds[{l}] must be a (lo, hi) pair of arrays") from None
            if lo.shape != (sizes[l],) or hi.shape != (sizes[l],) or np.any(lo > hi):
                raise SpecError(f"diff_bounds[{l}] must hold {sizes[l]} entries each with lo <= hi")
            tag = f"{F.tag}_{G.tag}"
            if l < d:
                # in explicit mode the z columns give two-entry rows; elsewhere the affine maps
                both = (F.pre_cols[l] >= 0) & (G.pre_cols[l] >= 0)
                Mf, cf = self._z_map(F, l, both)
                Mg, cg = self._z_map(G, l, both)
                if l > 0 or both.any():
                    # (the first layer's difference bounds over a box are implied by the box,
                    # unless z columns carry them)
                    added += rows(Mf, cf, Mg, cg, lo, hi, f"{tag}_dz{l + 1}")
                if post:
                    added += rows(*F.post_maps[l], *G.post_maps[l], np.minimum(lo, 0.0), np.maximum(hi, 0.0),
                                  f"{tag}_dh{l + 1}")
            else:
                p_ = sizes[l]
                Mf = sp.csr_matrix((np.ones(p_), (np.arange(p_), F.outputs)), shape=(p_, self._n))
                Mg = sp.csr_matrix((np.ones(p_), (np.arange(p_), G.outputs)), shape=(p_, self._n))
                added += rows(Mf, np.zeros(p_), Mg, np.zeros(p_), lo, hi, f"{tag}_dy")
        return added

    def _z_map(self, NV: NetVars, l: int, both: np.ndarray):
        """``z_l`` as ``(M, c)``; rows in ``both`` read the explicit z column instead."""
        M, c = NV.pre_maps[l]
        M = _pad(M, self._n)
        if not both.any():
            return M, c
        m = M.shape[0]
        keep = sp.diags((~both).astype(np.float64))
        r = np.flatnonzero(both)
        S = sp.csr_matrix((np.ones(r.size), (r, NV.pre_cols[l][r])), shape=(m, self._n))
        return (keep @ M + S).tocsr(), np.where(both, 0.0, c)

    # -- constraints and objective -----------------------------------------------------------
    def add_linear_constraint(self, terms, lo: float = -_INF, hi: float = _INF, *, name: str = "lin") -> int:
        """Row ``lo <= sum coef * v[col] <= hi``; ``terms`` is ``{col: coef}`` or ``(cols, coefs)``.

        Returns the row index.
        """
        lo, hi = float(lo), float(hi)
        if np.isnan(lo) or np.isnan(hi) or lo > hi or lo == _INF or hi == -_INF:
            raise SpecError(f"constraint {name!r} needs -inf <= lo <= hi <= inf, got lo={lo}, hi={hi}")
        cols, vals = self._terms(terms, f"constraint {name!r}")
        return int(self._add_rows(np.zeros(cols.size), cols, vals, lo, hi, 1, name)[0])

    def set_objective(self, terms, *, offset: float = 0.0) -> None:
        """Maximize ``sum coef * v[col] + offset`` (replaces any previous objective)."""
        self._obj = self._terms(terms, "objective")
        offset = float(offset)
        if not np.isfinite(offset):
            raise SpecError(f"objective offset must be finite, got offset={offset}")
        self._offset = offset

    def set_max_objective(self, exprs: Sequence, *, lower, upper, prefix: str = "max") -> int:
        """Maximize ``t = max_k e_k`` over expressions ``e_k`` (each ``{col: coef}`` or ``(cols, coefs)``).

        ``lower[k] <= e_k <= upper[k]`` must hold on the whole feasible set (sound bounds); they
        size the big-M rows ``t <= e_k + (U - lower[k]) (1 - s_k)``, ``sum_k s_k = 1`` with
        ``U = max(upper)``.  Returns the column of ``t``.  With one expression no binary is used.
        """
        exprs = list(exprs)
        K = len(exprs)
        if K == 0:
            raise SpecError("set_max_objective needs at least one expression")
        lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (K,))
        upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (K,))
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))) or np.any(lower > upper):
            raise SpecError("set_max_objective needs finite bounds with lower <= upper for every expression")
        parsed = [self._terms(e, f"expression {k}") for k, e in enumerate(exprs)]
        U = float(upper.max())
        t = int(self.add_columns(1, float(lower.max()), U, prefix=f"{prefix}_t")[0])
        if K == 1:
            cols, vals = parsed[0]
            self._add_rows(np.zeros(cols.size + 1), np.append(cols, t), np.append(-vals, 1.0), -_INF, 0.0, 1,
                           f"{prefix}_le")
        else:
            s = self.add_columns(K, 0.0, 1.0, integer=True, prefix=f"{prefix}_s")
            M = (U - lower) * (1 + 1e-12) + 1e-12  # a hair larger: never cut a feasible point
            rows = [np.zeros(cols.size + 2, dtype=np.int64) + k for k, (cols, _) in enumerate(parsed)]
            cols = [np.concatenate([[t], c, [s[k]]]) for k, (c, _) in enumerate(parsed)]
            vals = [np.concatenate([[1.0], -v, [M[k]]]) for k, (_, v) in enumerate(parsed)]
            # t - e_k + M_k s_k <= M_k
            self._add_rows(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), -_INF, M, K,
                           f"{prefix}_le")
            self._add_rows(np.zeros(K), s, np.ones(K), 1.0, 1.0, 1, f"{prefix}_one")
        self.set_objective({t: 1.0})
        return t

    def add_excluded_polytopes(self, polytopes, *, margin: float = 0.0) -> None:
        """Require the input to lie outside each polytope ``P = {x : A x <= b}``.

        Encoded as: some row ``i`` of ``P`` with ``a_i x >= b_i + margin`` (one binary per row,
        ``sum_i s_i >= 1``, big-M from the box).  With ``margin = 0`` the feasible set is the box
        minus the *interior-like* open set ``{A x < b}``: points on the boundary of ``P`` stay
        feasible, so for a full-dimensional ``P`` this is the closure of ``box \\ P``.  With
        ``margin > 0`` the input must violate some row by at least ``margin``.

        ``polytopes``: objects with ``.A`` and ``.b`` (e.g. :class:`relucert.verify.Polytope`)
        or ``(A, b)`` pairs with ``A`` of shape ``(rows, box.dim)``.  A polytope none of whose
        rows can be violated inside the box makes the problem infeasible; one with a row that
        is violated on the whole box adds nothing.
        """
        margin = float(margin)
        if not (np.isfinite(margin) and margin >= 0):
            raise SpecError(f"margin must be a finite number >= 0, got margin={margin}")
        lo, hi = self.box.lo, self.box.hi
        for i, (A, b) in enumerate(polytope_arrays(polytopes)):
            if A.shape[1] != self.box.dim:
                raise SpecError(f"polytope {i} has {A.shape[1]} columns but the box has {self.box.dim} inputs")
            rhs = _sub_down(b, -margin)  # never above b + margin: cuts no point it should keep
            amin = np.minimum(A * lo, A * hi).sum(axis=1)
            amax = np.maximum(A * lo, A * hi).sum(axis=1)
            slack = 1e-12 * (np.abs(A) * np.maximum(np.abs(lo), np.abs(hi))).sum(axis=1) + 1e-300
            if np.any(amin >= rhs + slack):
                continue  # a row is violated everywhere on the box: P excludes nothing here
            rows_ok = np.flatnonzero(amax >= rhs - slack)
            pre = f"excl{i}"
            if rows_ok.size == 0:
                # no row can be violated: P covers the box -> infeasible (s fixed to 0, sum s >= 1)
                s = self.add_columns(1, 0.0, 0.0, integer=True, prefix=f"{pre}_s")
                self._add_rows(np.zeros(1), s, np.ones(1), 1.0, _INF, 1, f"{pre}_one")
                continue
            k = rows_ok.size
            s = self.add_columns(k, 0.0, 1.0, integer=True, prefix=f"{pre}_s")
            Ak = A[rows_ok]
            M = (rhs[rows_ok] - amin[rows_ok]) * (1 + 1e-12) + slack[rows_ok]
            # a_i x >= rhs_i - M_i (1 - s_i)  ->  a_i x - M_i s_i >= rhs_i - M_i
            r, c = np.nonzero(Ak)
            self._add_rows(np.concatenate([r, np.arange(k)]), np.concatenate([self.input_cols[c], s]),
                           np.concatenate([Ak[r, c], -M]), _sub_down(rhs[rows_ok], M), _INF, k, f"{pre}_row")
            self._add_rows(np.zeros(k), s, np.ones(k), 1.0, _INF, 1, f"{pre}_one")

    # -- result ------------------------------------------------------------------------------
    def build(self) -> MilpProblem:
        """Snapshot the model as a :class:`MilpProblem` (the builder can keep growing)."""
        n, m = self._n, self._m
        c = np.zeros(n)
        if self._obj is not None:
            c[self._obj[0]] = self._obj[1]
        cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dtype=dt)  # noqa: E731
        A = sp.csr_matrix((cat(self._vi, np.float64), (cat(self._ri, np.int64), cat(self._ci, np.int64))),
                          shape=(m, n))
        A.sum_duplicates()
        A.eliminate_zeros()
        return MilpProblem(
            c=_ro(c), offset=self._offset, A=A, row_lo=_ro(cat(self._rlo, np.float64)),
            row_hi=_ro(cat(self._rhi, np.float64)), col_lo=_ro(cat(self._lo, np.float64)),
            col_hi=_ro(cat(self._hi, np.float64)), integer=_ro(cat(self._int, bool)),
            input_cols=_ro(self.input_cols.copy()), box=self.box, nets=dict(self.nets),
            col_blocks=tuple(self._cblocks), row_blocks=tuple(self._rblocks))
