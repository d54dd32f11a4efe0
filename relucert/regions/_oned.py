"""Exact 1D pieces and breakpoints (rational arithmetic, no LP, no sampling).

On an interval where the activation pattern is fixed every pre-activation is ``s x + t`` with
exact rationals; its root ``-t/s`` (when inside) splits the interval.  After the last layer the
intervals carry the exact output map; adjacent intervals with the same map are merged, so a
*piece* is a maximal interval on which the network is affine and a *breakpoint* is a point where
the slope changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import gcd

import numpy as np

from ..errors import BoxError, ShapeError
from ..network import Network
from ._fracs import frac_layers

__all__ = ["Piece1D", "pieces_1d", "breakpoints_1d", "count_pieces", "activation_intervals_1d"]


@dataclass(frozen=True)
class Piece1D:
    """``net(x) = slope * x + intercept`` (per output) for ``lo <= x <= hi`` (exact)."""

    lo: Fraction
    hi: Fraction
    slope: tuple
    intercept: tuple

    def value(self, x) -> list[Fraction]:
        x = Fraction(x)
        return [s * x + t for s, t in zip(self.slope, self.intercept)]


def _as_frac(v, name: str) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, int):
        return Fraction(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise BoxError(f"{name} must be a number, got {name}={v!r}") from None
    if f != f or f in (float("inf"), float("-inf")):
        raise BoxError(f"{name} must be finite, got {name}={v!r}")
    return Fraction(f)


def activation_intervals_1d(net: Network, lo, hi) -> list[tuple]:
    """Intervals of constant activation pattern: ``(a, b, slopes, intercepts)`` per interval.

    ``lo=None`` / ``hi=None`` stand for -inf / +inf (the whole real line): a 1D ReLU net has
    finitely many kinks, all found exactly.
    """
    if not isinstance(net, Network):
        raise ShapeError(f"net must be a relucert.Network, got {type(net).__name__}")
    if net.n_inputs != 1:
        raise ShapeError(f"1D breakpoints need a network with 1 input, got {net.n_inputs}")
    a0 = None if lo is None else _as_frac(lo, "lo")
    b0 = None if hi is None else _as_frac(hi, "hi")
    if a0 is not None and b0 is not None and a0 > b0:
        raise BoxError(f"need lo <= hi, got lo={float(a0)!r} > hi={float(b0)!r}")
    layers = frac_layers(net)
    last = len(layers) - 1
    # exact integer arithmetic: on each interval the hidden vector is h = (s x + t) / D with
    # integer lists s, t and one positive integer denominator D per layer (shared by all intervals);
    # layer l is (Wi, bi) / L with integers, so z = (Wi s x + Wi t + bi D) / (L D)
    work = [(a0, b0, [1], [0])]
    D = 1
    for li, (W, bias) in enumerate(layers):
        L = 1
        for v in list(np.asarray(W).ravel()) + list(bias):
            L = L * Fraction(v).denominator // gcd(L, Fraction(v).denominator)
        Wl = [[int(Fraction(w) * L) for w in row] for row in W]
        bl = [int(Fraction(bb) * L) * D for bb in bias]
        nxt = []
        for a, b, s, t in work:
            act = [(j, sv, tv) for j, (sv, tv) in enumerate(zip(s, t)) if sv or tv]
            zs, zt = [], []
            for row, bb in zip(Wl, bl):
                ss, tt = 0, bb
                for j, sv, tv in act:
                    w = row[j]
                    if w:
                        ss += w * sv
                        tt += w * tv
                zs.append(ss)
                zt.append(tt)
            if li == last:
                nxt.append((a, b, zs, zt))
                continue
            cuts = set()
            for sv, tv in zip(zs, zt):
                if sv:
                    r = Fraction(-tv, sv)
                    if (a is None or a < r) and (b is None or r < b):
                        cuts.add(r)
            pts = [a] + sorted(cuts) + [b]
            for p, q in zip(pts[:-1], pts[1:]):
                if p is None and q is None:
                    mid = Fraction(0)
                elif p is None:
                    mid = q - 1
                elif q is None:
                    mid = p + 1
                else:
                    mid = (p + q) / 2
                mn, md = mid.numerator, mid.denominator
                s2, t2 = [], []
                for sv, tv in zip(zs, zt):
                    if sv * mn + tv * md > 0:
                        s2.append(sv)
                        t2.append(tv)
                    else:
                        s2.append(0)
                        t2.append(0)
                nxt.append((p, q, s2, t2))
        work = nxt
        D = L * D
    work = [(a, b, [Fraction(v, D) for v in s], [Fraction(v, D) for v in t]) for a, b, s, t in work]
    return work


def pieces_1d(net: Network, lo, hi) -> list[Piece1D]:
    """The maximal affine pieces of ``net`` on ``[lo, hi]`` (exact; None = unbounded end)."""
    ivs = activation_intervals_1d(net, lo, hi)
    pieces: list[Piece1D] = []
    for a, b, s, t in ivs:
        s, t = tuple(s), tuple(t)
        if pieces and pieces[-1].slope == s and pieces[-1].intercept == t:
            p = pieces[-1]
            pieces[-1] = Piece1D(p.lo, b, s, t)
        else:
            pieces.append(Piece1D(a, b, s, t))
    return pieces


def breakpoints_1d(net: Network, lo, hi) -> list[Fraction]:
    """Exact points strictly inside ``(lo, hi)`` where the slope of ``net`` changes (any output).

    ``lo=None`` / ``hi=None`` mean -inf / +inf."""
    return [p.lo for p in pieces_1d(net, lo, hi)[1:]]


def count_pieces(net: Network, lo, hi) -> int:
    """Number of maximal affine pieces of the 1D network ``net`` on ``[lo, hi]``."""
    return len(pieces_1d(net, lo, hi))
