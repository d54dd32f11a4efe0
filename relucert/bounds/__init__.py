"""Sound bound propagation (float64 with rigorous error accounting).

* :mod:`.interval` — interval bounds;
* :mod:`.linear` — CROWN-style back-substitution;
* :mod:`.symbolic` — forward symbolic (ReluVal / NeuroDiff style) bounds, cheap per box;
* :mod:`.differential` — bounds on ``g - f`` layer by layer for pairs with equal shapes.

All engines take batches of boxes ``lo, hi`` of shape (B, n) and return bounds valid for the exact
real function of the stored float64 weights.
"""

from .differential import DiffPair, diff_bounds, diff_bounds_batch
from .interval import affine_interval, interval_bounds, interval_bounds_batch
from .linear import crown_bounds, crown_bounds_batch, objective_bounds
from .symbolic import SymbolicDiff, symbolic_bounds_batch, symbolic_diff_batch

__all__ = ["DiffPair", "diff_bounds", "diff_bounds_batch", "affine_interval", "interval_bounds",
           "interval_bounds_batch", "crown_bounds", "crown_bounds_batch", "objective_bounds", "SymbolicDiff",
           "symbolic_bounds_batch", "symbolic_diff_batch"]
