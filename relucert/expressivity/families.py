"""Depth-separation families of Arora, Basu, Mianjy & Mukherjee (ICLR 2018), as networks.

* :func:`zigzag` -- the CPWL map ``h_a : [0, 1] -> [0, 1]`` through ``(0, 0), (a_1, 1),
  (a_2, 0), ..., (1, w mod 2)``: ``w`` monotone pieces, each onto ``[0, 1]``; one hidden layer
  of ``w`` units (reference B.5 with B.2).
* :func:`hard_function` -- ``H = h^k o ... o h^1``: ``k`` hidden layers of width ``w`` and
  exactly ``w**k`` affine pieces on ``[0, 1]`` (each piece of the inner map sweeps ``[0, 1]``
  once, so the piece counts multiply).  :func:`hard_function_breakpoints` gives them exactly.
* :func:`sawtooth` -- Telgarsky's tent map composed ``k`` times (the ``w = 2``, ``a = 1/2`` case).
* :func:`shallow_hard_function` -- the matching construction with fewer hidden layers: blocks of
  consecutive zig-zags are merged into one zig-zag with ``w**k_j`` pieces (``k_j`` zig-zags),
  realised with ``w**k_j`` units.
* :func:`zonotope_function` -- ``F = H o gamma_Z`` with ``gamma_Z(x) = sum_i |<b_i, x>|``;
  :func:`zonotope_ws_rewrite` -- its Wang-Sun rewrite with ``ceil(log2(n+1))`` hidden layers
  (reference row B-zono-n2), built with :mod:`relucert.transforms`.
* Size bounds: :func:`max_pieces_1d` (``prod (w_i + 1)``), :func:`arora_max_pieces`,
  :func:`size_lower_bound` (``k'(p**(1/k') - 1)``, the exact integer minimum, and the paper's
  ``k' w**(k/k') / 2 - 1``), :func:`depth_separation`.
* The approximation bound: any ``g`` with ``sup |g - H| < 1/2`` on ``[0, 1]`` has at least
  ``ceil((w**k + 1) / 2) >= w**k / 2`` pieces (:func:`approx_piece_lower_bound`);
  :func:`too_small_candidate` builds a candidate below that count and
  :func:`refute_approximation` lets the verifier refute it with an exact counterexample.

Default breakpoints are dyadic with power-of-two piece widths, so every weight, every breakpoint
of the composition and every slope is a float64 exactly and piece counts are checkable exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import comb, prod
from typing import Sequence

import numpy as np

from ..errors import SpecError
from ..network import Network

__all__ = [
    "dyadic_breakpoints",
    "uniform_breakpoints",
    "zigzag",
    "compose_zigzags",
    "hard_function",
    "hard_function_breakpoints",
    "sawtooth",
    "tent_map",
    "block_sizes",
    "shallow_hard_function",
    "max_pieces_1d",
    "arora_max_pieces",
    "SizeBound",
    "size_lower_bound",
    "DepthSeparation",
    "depth_separation",
    "default_generators",
    "zonotope_gamma",
    "zonotope_function",
    "zonotope_vertex_count",
    "zonotope_piece_lower_bound",
    "approx_piece_lower_bound",
    "too_small_candidate",
    "random_feature_fit",
    "refute_approximation",
    "ZonotopeRewrite",
    "zonotope_ws_rewrite",
]


def _int_at_least(name: str, v, low: int) -> int:
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be an integer >= {low}, got {name}={v!r}") from None
    if iv != v or iv < low:
        raise SpecError(f"{name} must be an integer >= {low}, got {name}={v!r}")
    return iv


def _frac(name: str, v) -> Fraction:
    try:
        if isinstance(v, Fraction):
            return v
        if isinstance(v, (int, np.integer)):
            return Fraction(int(v))
        if isinstance(v, str):
            return Fraction(v.strip())
        f = float(v)
    except (TypeError, ValueError, ZeroDivisionError):
        raise SpecError(f"{name} must be a number, got {v!r}") from None
    if not np.isfinite(f):
        raise SpecError(f"{name} must be finite, got {v!r}")
    return Fraction(f)


# -- breakpoints --------------------------------------------------------------------------------
def dyadic_breakpoints(w: int) -> list[Fraction]:
    """Interior breakpoints of a ``w``-piece zig-zag whose pieces have power-of-two widths.

    ``2**e <= w`` equal pieces of width ``2**-e``, the first ``w - 2**e`` of them halved (w = 3:
    widths 1/4, 1/4, 1/2).  All slopes are then powers of two and the compositions stay dyadic.
    """
    w = _int_at_least("w", w, 1)
    e = w.bit_length() - 1
    base = 1 << e
    widths = [Fraction(1, 2 * base)] * (2 * (w - base)) + [Fraction(1, base)] * (base - (w - base))
    pts, acc = [], Fraction(0)
    for wd in widths[:-1]:
        acc += wd
        pts.append(acc)
    return pts


def uniform_breakpoints(w: int) -> list[Fraction]:
    """``i / w`` for ``i = 1 .. w-1`` (exact as floats only when ``w`` is a power of two)."""
    w = _int_at_least("w", w, 1)
    return [Fraction(i, w) for i in range(1, w)]


def _check_breakpoints(bps, name="breakpoints") -> list[Fraction]:
    pts = [_frac(f"{name}[{i}]", v) for i, v in enumerate(bps)]
    prev = Fraction(0)
    for i, a in enumerate(pts):
        if not prev < a < 1:
            raise SpecError(f"{name} must increase strictly inside (0, 1), got {name}[{i}]={a} after {prev}")
        prev = a
    return pts


def _zigzag_coefficients(pts: Sequence[Fraction]) -> tuple[list[Fraction], list[Fraction]]:
    """Unit offsets ``a_0 = 0, a_1, ...`` and output coefficients ``c`` with
    ``h(x) = sum_i c_i relu(x - a_i)``, exact."""
    knots = [Fraction(0)] + list(pts) + [Fraction(1)]
    vals = [Fraction(i % 2) for i in range(len(knots))]
    slopes = [(vals[i + 1] - vals[i]) / (knots[i + 1] - knots[i]) for i in range(len(knots) - 1)]
    coef = [slopes[0]] + [slopes[i] - slopes[i - 1] for i in range(1, len(slopes))]
    return knots[:-1], coef


def _float_exact(name: str, v: Fraction) -> float:
    f = float(v)
    if Fraction(f) != v:
        raise SpecError(f"{name} = {v} is not exactly a float64; use dyadic breakpoints (the default) "
                        f"or exact=False")
    return f


def compose_zigzags(layers: Sequence[Sequence], *, exact: bool = True, name: str | None = None) -> Network:
    """``h^K o ... o h^1`` for zig-zags with the given interior breakpoints, one hidden layer
    each (layer ``j`` has ``len(layers[j]) + 1`` units).

    With ``exact=True`` (default) every weight must be exactly a float64 (dyadic breakpoints), so
    the network *is* the zig-zag composition; otherwise weights are rounded.
    """
    if not layers:
        raise SpecError("compose_zigzags needs at least one zig-zag")
    conv = (lambda n, v: _float_exact(n, v)) if exact else (lambda n, v: float(v))
    net_layers = []
    prev_c = None
    for j, bps in enumerate(layers):
        pts = _check_breakpoints(bps, name=f"layers[{j}]")
        offs, coef = _zigzag_coefficients(pts)
        bias = np.array([conv(f"layer {j} offset", -a) for a in offs])
        if prev_c is None:
            W = np.ones((len(offs), 1))
        else:
            row = np.array([conv(f"layer {j - 1} coefficient", c) for c in prev_c])
            W = np.tile(row, (len(offs), 1))
        net_layers.append((W, bias))
        prev_c = coef
    out = np.array([[conv(f"layer {len(layers) - 1} coefficient", c) for c in prev_c]])
    net_layers.append((out, np.zeros(1)))
    return Network(net_layers, name=name)


def zigzag(breakpoints: Sequence | None = None, *, w: int | None = None, exact: bool = True) -> Network:
    """One zig-zag ``h_a`` as a 1-hidden-layer net with ``w`` units (dyadic breakpoints by default)."""
    if breakpoints is None:
        if w is None:
            raise SpecError("zigzag needs breakpoints or w")
        breakpoints = dyadic_breakpoints(w)
    bps = _check_breakpoints(list(breakpoints))
    return compose_zigzags([bps], exact=exact, name=f"zigzag-w{len(bps) + 1}")


def _layer_breakpoints(w: int, k: int, breakpoints) -> list[list[Fraction]]:
    w = _int_at_least("w", w, 1)
    k = _int_at_least("k", k, 1)
    if breakpoints is None:
        return [dyadic_breakpoints(w)] * k
    bl = list(breakpoints)
    if bl and isinstance(bl[0], (list, tuple, np.ndarray)):
        if len(bl) != k:
            raise SpecError(f"per-layer breakpoints must give {k} lists, got {len(bl)}")
        out = [_check_breakpoints(b, name=f"breakpoints[{j}]") for j, b in enumerate(bl)]
    else:
        out = [_check_breakpoints(bl)] * k
    for j, b in enumerate(out):
        if len(b) != w - 1:
            raise SpecError(f"a {w}-piece zig-zag needs {w - 1} breakpoints, got {len(b)} in layer {j}")
    return out


def hard_function(w: int, k: int, *, breakpoints=None, exact: bool = True) -> Network:
    """Arora et al.'s hard function ``H``: ``k`` hidden layers of width ``w``, ``w**k`` pieces on [0, 1].

    ``breakpoints``: one list of ``w - 1`` interior breakpoints for every layer, or ``k`` lists.
    """
    layers = _layer_breakpoints(w, k, breakpoints)
    return compose_zigzags(layers, exact=exact, name=f"hard-w{w}-k{k}")


def hard_function_breakpoints(w: int, k: int, *, breakpoints=None) -> list[Fraction]:
    """All ``w**k + 1`` breakpoints of ``H`` on [0, 1] (with 0 and 1), exactly.

    ``H`` alternates ``0, 1, 0, ...`` on them.  Computed outermost-first by pulling the knots of
    ``h^k o ... o h^{j+1}`` back through each monotone piece of ``h^j``.
    """
    layers = _layer_breakpoints(w, k, breakpoints)
    return _composed_knots(layers)


def _composed_knots(layers: Sequence[Sequence[Fraction]]) -> list[Fraction]:
    knots = [Fraction(0)] + list(layers[-1]) + [Fraction(1)]
    for bps in reversed(layers[:-1]):
        ks = [Fraction(0)] + list(bps) + [Fraction(1)]
        new = []
        for i in range(len(ks) - 1):
            a, b = ks[i], ks[i + 1]
            width = b - a
            if i % 2 == 0:      # increasing piece: x = a + t * width
                seg = [a + t * width for t in knots]
            else:               # decreasing piece: x = b - t * width
                seg = [b - t * width for t in reversed(knots)]
            new.extend(seg if not new else seg[1:])
        knots = new
    return knots


def tent_map() -> Network:
    """The tent ``t(x) = 1 - 2 relu(x - 1/2) - 2 relu(1/2 - x)`` (reference 1.5)."""
    return Network([(np.array([[1.0], [-1.0]]), np.array([-0.5, 0.5])),
                    (np.array([[-2.0, -2.0]]), np.array([1.0]))], name="tent")


def sawtooth(k: int) -> Network:
    """The tent map composed ``k`` times: ``k`` hidden layers of width 2, ``2**k`` pieces on [0, 1]."""
    k = _int_at_least("k", k, 1)
    layers = [(np.array([[1.0], [-1.0]]), np.array([-0.5, 0.5]))]
    for _ in range(k - 1):
        # next input z = 1 - 2 u1 - 2 u2; units relu(z - 1/2), relu(1/2 - z)
        layers.append((np.array([[-2.0, -2.0], [2.0, 2.0]]), np.array([0.5, -0.5])))
    layers.append((np.array([[-2.0, -2.0]]), np.array([1.0])))
    return Network(layers, name=f"sawtooth-k{k}")


# -- the shallower matching construction ------------------------------------------------------
def block_sizes(k: int, depth: int) -> list[int]:
    """Split ``k`` zig-zag layers into ``depth`` consecutive blocks as evenly as possible."""
    k = _int_at_least("k", k, 1)
    depth = _int_at_least("depth", depth, 1)
    if depth > k:
        raise SpecError(f"depth must be <= k, got depth={depth} > k={k}")
    q, r = divmod(k, depth)
    return [q + 1] * r + [q] * (depth - r)


def shallow_hard_function(w: int, k: int, depth: int, *, breakpoints=None, exact: bool = True) -> Network:
    """``H`` with only ``depth`` hidden layers: each block of ``k_j`` consecutive zig-zags is one
    zig-zag with ``w**k_j`` pieces (its knots are the block composition's), so the hidden widths
    are ``w**k_j`` and the size is ``sum_j w**k_j`` (k=9, w=3, depth=3: 81)."""
    layers = _layer_breakpoints(w, k, breakpoints)
    blocks, start = [], 0
    for kj in block_sizes(k, depth):
        knots = _composed_knots(layers[start:start + kj])
        blocks.append(knots[1:-1])
        start += kj
    return compose_zigzags(blocks, exact=exact, name=f"hard-w{w}-k{k}-depth{depth}")


# -- size bounds ------------------------------------------------------------------------------
def max_pieces_1d(widths: Sequence[int]) -> int:
    """Upper bound ``prod (w_i + 1)`` on the pieces of any net R -> R with these hidden widths [C]."""
    return prod(_int_at_least("width", v, 0) + 1 for v in widths)


def arora_max_pieces(widths: Sequence[int]) -> int:
    """Arora et al.'s piece lemma ``2**(k'-1) (w_1 + 1) w_2 ... w_k'`` [R] (weaker than the above)."""
    ws = [_int_at_least("width", v, 1) for v in widths]
    if not ws:
        return 1
    return 2 ** (len(ws) - 1) * (ws[0] + 1) * prod(ws[1:])


@dataclass(frozen=True)
class SizeBound:
    """Lower bounds on the size (hidden units) of a net R -> R with ``depth`` hidden layers and
    ``pieces`` affine pieces."""

    pieces: int
    depth: int
    real: float          # k'(p**(1/k') - 1), from prod(w_i + 1) >= p and AM-GM
    integer: int         # the least s >= depth with max over widths summing to s of prod(w_i + 1) >= p
    paper: float | None  # k' w**(k/k') / 2 - 1 (Arora et al.'s form, for p = w**k)

    def to_dict(self) -> dict:
        return {"pieces": self.pieces, "depth": self.depth, "real": self.real, "integer": self.integer,
                "paper": self.paper}


def _balanced_max_pieces(s: int, depth: int) -> int:
    q, r = divmod(s, depth)
    return (q + 2) ** r * (q + 1) ** (depth - r)


def size_lower_bound(pieces: int, depth: int, *, w: int | None = None, k: int | None = None) -> SizeBound:
    """How many hidden units a ``depth``-hidden-layer net needs for ``pieces`` pieces.

    The integer bound is exact for the ``prod (w_i + 1)`` inequality: balanced widths maximise the
    product for a given sum.  Give ``w`` and ``k`` (``pieces = w**k``) to add the paper's form.
    """
    p = _int_at_least("pieces", pieces, 1)
    d = _int_at_least("depth", depth, 1)
    real = d * (p ** (1.0 / d) - 1.0)
    s = max(0, int(np.floor(real)) - 2)      # the true minimum is >= real (AM-GM)
    while _balanced_max_pieces(s, d) < p:
        s += 1
    s = max(s, d)                             # every hidden layer has at least one unit
    paper = None
    if w is not None and k is not None:
        if w ** k != p:
            raise SpecError(f"pieces must equal w**k for the paper's form, got {p} != {w}**{k}")
        paper = 0.5 * d * w ** (k / d) - 1.0
    return SizeBound(pieces=p, depth=d, real=real, integer=s, paper=paper)


@dataclass(frozen=True)
class DepthSeparation:
    """The hard function with ``k`` layers of width ``w`` against nets with ``depth`` hidden layers."""

    w: int
    k: int
    depth: int
    pieces: int                # w**k
    deep_size: int             # k * w
    bound: SizeBound           # any depth-hidden-layer net needs at least this many units
    construction_widths: tuple  # the matching construction
    construction_size: int

    def to_dict(self) -> dict:
        return {"w": self.w, "k": self.k, "depth": self.depth, "pieces": self.pieces, "deep_size": self.deep_size,
                "lower_bound": self.bound.to_dict(), "construction_widths": list(self.construction_widths),
                "construction_size": self.construction_size}


def depth_separation(w: int, k: int, depth: int) -> DepthSeparation:
    """Numbers for the gap theorem instance (reference B.5 corollary: w=3, k=9, depth=3 gives
    19683 pieces, size >= 78 (ours) / >= 40 (paper), construction of size 81)."""
    w = _int_at_least("w", w, 2)
    k = _int_at_least("k", k, 1)
    blocks = block_sizes(k, depth)
    widths = tuple(w ** kj for kj in blocks)
    return DepthSeparation(w=w, k=k, depth=depth, pieces=w ** k, deep_size=k * w,
                           bound=size_lower_bound(w ** k, depth, w=w, k=k),
                           construction_widths=widths, construction_size=sum(widths))


# -- zonotope family ---------------------------------------------------------------------------
def default_generators(m: int, n: int = 2) -> np.ndarray:
    """``m`` integer generators in general position that include the unit vectors (so the
    sublevel set ``gamma_Z <= 1`` lies in ``[-1, 1]**n``)."""
    m = _int_at_least("m", m, 1)
    n = _int_at_least("n", n, 1)
    gens = [np.eye(n, dtype=np.int64)[i] for i in range(min(m, n))]
    if n == 2:
        cand = [(1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1), (1, 3), (3, 1), (1, -3), (3, -1)]
        for c in cand:
            if len(gens) >= m:
                break
            gens.append(np.array(c, dtype=np.int64))
    rng = np.random.default_rng(12345)
    while len(gens) < m:
        gens.append(rng.integers(-3, 4, size=n).astype(np.int64))
        G = np.array(gens)
        if n <= len(gens):
            # general position: every n of them independent (checked for small m)
            from itertools import combinations
            if any(abs(np.linalg.det(G[list(c)].astype(float))) < 0.5 for c in combinations(range(len(gens)), n)):
                gens.pop()
    return np.array(gens[:m], dtype=np.float64)


def zonotope_gamma(generators) -> Network:
    """``gamma_Z(x) = sum_i |<b_i, x>|``: one hidden layer of ``2 m`` units."""
    G = np.atleast_2d(np.asarray(generators, dtype=np.float64))
    W = np.vstack([G, -G])
    return Network([(W, np.zeros(W.shape[0])), (np.ones((1, W.shape[0])), np.zeros(1))], name="zonotope-gamma")


def zonotope_function(generators, w: int, k: int, *, breakpoints=None, exact: bool = True) -> Network:
    """``F = H o gamma_Z``: ``1 + k`` hidden layers, size ``2 m + k w``."""
    G = np.atleast_2d(np.asarray(generators, dtype=np.float64))
    H = hard_function(w, k, breakpoints=breakpoints, exact=exact)
    first = H.layers[0]           # units relu(z - a_i) with z = gamma_Z(x) = sum of the 2m units
    layers = [(np.vstack([G, -G]), np.zeros(2 * G.shape[0])),
              (np.tile(first.weight[:, :1], (1, 2 * G.shape[0])), first.bias)]
    layers += [(L.weight, L.bias) for L in H.layers[1:]]
    return Network(layers, name=f"zonotope-m{G.shape[0]}-w{w}-k{k}")


def zonotope_vertex_count(m: int, n: int) -> int:
    """Vertices of a zonotope with ``m`` generators in general position in R^n:
    ``2 sum_{i<n} C(m-1, i)``."""
    m = _int_at_least("m", m, 1)
    n = _int_at_least("n", n, 1)
    return 2 * sum(comb(m - 1, i) for i in range(n))


def zonotope_piece_lower_bound(m: int, n: int, w: int, k: int) -> int:
    """``|vert(Z)| * w**k`` pieces of ``F`` in a box containing ``{gamma_Z <= 1}`` [C]."""
    return zonotope_vertex_count(m, n) * w ** k


# -- the sup < 1/2 approximation bound ---------------------------------------------------------
def approx_piece_lower_bound(w: int, k: int) -> int:
    """Pieces any ``g`` with ``sup_[0,1] |g - H| < 1/2`` needs: ``ceil((w**k + 1) / 2)``.

    ``H`` alternates 0, 1 on its ``w**k + 1`` knots, so ``g - 1/2`` alternates in sign there; an
    affine piece covers at most two consecutive knots.  This is at least the ``w**k / 2`` of the
    reference.
    """
    p = _int_at_least("w", w, 1) ** _int_at_least("k", k, 1)
    return (p + 2) // 2


def too_small_candidate(w: int, k: int, units: int, *, breakpoints=None, method: str = "lstsq",
                        grid: int = 4097) -> Network:
    """A 1-hidden-layer candidate for ``H`` with ``units`` units (so at most ``units + 1`` pieces on
    [0, 1], and at most ``units`` inside it), fitted by least squares on a grid (``"lstsq"``) or
    interpolating ``H`` at equally spaced knots (``"interpolate"``)."""
    units = _int_at_least("units", units, 1)
    if method not in ("lstsq", "interpolate"):
        raise SpecError(f"method must be lstsq or interpolate, got method={method!r}")
    H = hard_function(w, k, breakpoints=breakpoints)
    knots = np.arange(units) / units           # relu(x - t_j), t_0 = 0
    if method == "interpolate":
        pts = np.append(knots, 1.0)
        vals = H(pts.reshape(-1, 1))[:, 0]
        slopes = np.diff(vals) / np.diff(pts)
        coef = np.concatenate([[slopes[0]], np.diff(slopes)])
        bias = vals[0]
    else:
        xs = np.linspace(0.0, 1.0, _int_at_least("grid", grid, 2))
        feats = np.maximum(xs[:, None] - knots[None, :], 0.0)
        A = np.hstack([feats, np.ones((xs.size, 1))])
        sol, *_ = np.linalg.lstsq(A, H(xs.reshape(-1, 1))[:, 0], rcond=None)
        coef, bias = sol[:-1], sol[-1]
    return Network([(np.ones((units, 1)), -knots), (coef.reshape(1, -1), np.array([bias]))],
                   name=f"candidate-{method}-{units}")


def random_feature_fit(target, d: int, units: int, *, seed: int = 0, samples: int = 4000,
                       lo: float = -1.0, hi: float = 1.0, name: str | None = None) -> Network:
    """A one-hidden-layer net of ``units`` random ReLU features (weights standard normal, biases
    ``0.5`` times standard normal, from ``numpy.random.default_rng(seed)``) whose output layer is the
    least-squares fit of ``target`` (a function of an ``(N, d)`` array returning ``(N,)``) on
    ``samples`` uniform points of ``[lo, hi]^d``.  A plausible-looking but inexact candidate: e.g.
    64 units for ``max(0, x1, x2)`` (seed reference row B-max3-1HL-neg), which an eps = 0 check must
    refute."""
    d = _int_at_least("d", d, 1)
    units = _int_at_least("units", units, 1)
    samples = _int_at_least("samples", samples, 1)
    if not (hi > lo):
        raise SpecError(f"need lo < hi, got lo={lo!r}, hi={hi!r}")
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=(units, d)), 0.5 * rng.normal(size=units)
    X = rng.uniform(lo, hi, (samples, d))
    A = np.hstack([np.maximum(X @ W.T + b, 0), np.ones((samples, 1))])
    y = np.asarray(target(X), dtype=np.float64).reshape(-1)
    if y.shape != (samples,):
        raise SpecError(f"target must map an ({samples}, {d}) array to ({samples},) values, got shape {y.shape}")
    sol, *_ = np.linalg.lstsq(A, y, rcond=None)
    return Network([(W, b), (sol[:units][None, :], sol[units:])], name=name or f"random-feature-fit-{units}")


def refute_approximation(H: Network, g: Network, *, eps: float = 0.5, time_limit: float | None = 60.0,
                         method: str = "bab"):
    """``relucert.verify(H, g, Box([0], [1]), EpsEquivalence(eps), method=method)``: for a
    candidate below :func:`approx_piece_lower_bound` and ``eps < 1/2`` the answer must be
    NOT_EQUIVALENT with an exact counterexample (for ``eps = 1/2`` the theorem only gives
    ``sup >= 1/2``; a refutation then shows the candidate is strictly worse)."""
    from ..box import Box
    from ..verify import EpsEquivalence, verify

    return verify(H, g, Box([0.0], [1.0]), EpsEquivalence(eps), method=method, time_limit=time_limit)


# -- the Wang-Sun rewrite of the zonotope family (row B-zono-n2) --------------------------------
@dataclass
class ZonotopeRewrite:
    """``F = H o gamma_Z`` and its Wang-Sun (B.4) rewrite with ``ceil(log2(n+1))`` hidden layers.

    ``network`` is the rewrite, exact in float64 (``weights_exact``) and claimed equal to ``F`` on
    ``box``; ``claim`` is the ``arora-maxaffine`` claim for the intermediate ``two_layer`` net
    (``gamma_Z`` followed by the one-hidden-layer form of ``H`` on ``[0, max gamma_Z]``), whose own
    equality with ``F`` holds on the box.  Prove the row with ``relucert.verify(F, network, box,
    EpsEquivalence(0))`` (or :func:`relucert.regions.compare_exact`).
    """

    F: Network
    network: Network
    two_layer: Network
    box: object
    claim: object
    info: dict


def zonotope_ws_rewrite(generators=None, w: int = 2, k: int = 2, *, m: int = 4, n: int = 2, box=None) -> ZonotopeRewrite:
    """Reference row B-zono-n2: ``F = H o gamma_Z`` rewritten as a Wang-Sun sum of maxima of at
    most ``n + 1`` affine pieces, i.e. ``ceil(log2(n+1))`` hidden layers (2 in the plane).

    Done with :mod:`relucert.transforms` as a library, in three exact steps on ``box`` (default
    ``[-1, 1]**n``):

    1. ``arora-1d`` rewrites ``H`` on ``[0, z_max]`` (``z_max`` = a sound bound of ``gamma_Z`` on
       the box) with one hidden layer, so ``gamma_Z`` then ``H`` is a 2-hidden-layer net equal to
       ``F`` on the box (its DC decomposition is smaller than ``F``'s: 16/17 pieces instead of
       24/25 for the default instance, so the rewrite is smaller and quicker to check);
    2. ``arora-maxaffine`` (DC decomposition, then the Wang-Sun triangulation) gives the rewrite;
    3. ``prune`` merges its exact duplicate units (the gadgets share many ``relu(l_i - l_j)``).
    """
    from .. import transforms
    from ..box import Box

    G = default_generators(m, n) if generators is None else np.atleast_2d(np.asarray(generators, dtype=np.float64))
    n = G.shape[1]
    if box is None:
        box = Box([-1.0] * n, [1.0] * n)
    F = zonotope_function(G, w, k)
    # gamma_Z <= sum_i sum_j |b_ij| max(|lo_j|, |hi_j|) on the box (exact: integers times box ends)
    reach = np.maximum(np.abs(box.lo), np.abs(box.hi))
    bound = max(Fraction(1), sum((Fraction(float(abs(b))) * Fraction(float(r)) for row in G for b, r in zip(row, reach)),
                                 Fraction(0)))
    zmax = float(bound)
    if Fraction(zmax) < bound:          # round up, so [0, zmax] contains gamma_Z(box)
        zmax = float(np.nextafter(zmax, np.inf))
    H = hard_function(w, k)
    H1, c1 = transforms.apply("arora-1d", H, Box([0.0], [zmax]))
    if not c1.weights_exact:
        raise SpecError("the one-hidden-layer form of H is not exact in float64")
    L1, L2 = H1.layers
    units = 2 * G.shape[0]
    two = Network([(np.vstack([G, -G]), np.zeros(units)),
                   (np.tile(L1.weight[:, :1], (1, units)), L1.bias),
                   (L2.weight, L2.bias)], name=f"zonotope-m{G.shape[0]}-w{w}-k{k}-2hl")
    R, claim = transforms.apply("arora-maxaffine", two, box)
    P, pclaim = transforms.apply("prune", R, None)
    if not (claim.weights_exact and pclaim.weights_exact):
        raise SpecError("the Wang-Sun rewrite is not exact in float64")
    info = {"z_max": zmax, "pieces_H": c1.info.get("pieces"), "dc_pieces": (claim.info["pieces_g"], claim.info["pieces_h"]),
            "terms": claim.info["terms"], "max_arity": claim.info["max_arity"], "widths_before_prune": R.widths,
            "duplicates_merged": pclaim.info["duplicates"]}
    return ZonotopeRewrite(F=F, network=P, two_layer=two, box=box, claim=claim, info=info)
