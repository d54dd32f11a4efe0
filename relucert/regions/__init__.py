"""Linear regions of ReLU networks, exactly (Arora et al. B.1): the shared primitive.

Public API (stable signatures)::

    linear_regions(net, box) -> list[Region]     # activation pattern, exact affine map, interior point
    count_regions(net, box) -> int
    breakpoints_1d(net, lo, hi) -> list[Fraction]
    pieces_1d(net, lo, hi) -> list[Piece1D]
    count_pieces(net, lo, hi) -> int
    dc_decomposition(net, output=0) -> (MaxAffine g, MaxAffine h)   # net = g - h on R^n
    compare_exact(f, g, box, spec) -> VerificationResult             # exact prover, low dimension

Regions are found by refining the box layer by layer with LP-checked splits: a region is kept when
an LP finds a ball inside it (its centre checked strictly inside in rational arithmetic) and a
side is dropped only with an exact dual certificate that its interior is empty. Never sampling.
"""

from __future__ import annotations

from ._compare import allowed_intervals_1d, compare_exact
from ._dc import MaxAffine, dc_decomposition
from ._enum import Region, RegionLimitError, linear_regions
from ._oned import Piece1D, activation_intervals_1d, breakpoints_1d, count_pieces, pieces_1d

__all__ = [
    "Region",
    "linear_regions",
    "count_regions",
    "breakpoints_1d",
    "pieces_1d",
    "Piece1D",
    "count_pieces",
    "activation_intervals_1d",
    "MaxAffine",
    "dc_decomposition",
    "compare_exact",
    "allowed_intervals_1d",
    "RegionLimitError",
]


def count_regions(net, box, *, tol: float = 1e-9, max_regions: int | None = None) -> int:
    """Number of full-dimensional activation regions of ``net`` on ``box``."""
    return len(linear_regions(net, box, tol=tol, max_regions=max_regions))
