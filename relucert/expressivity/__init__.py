"""Expressivity analyses: piece counts, depth-separation families, global ERM, ConvAC ranks.

* :mod:`.families` -- Arora et al.'s zig-zag / sawtooth hard functions with exactly ``w**k``
  pieces, the zonotope family, the size lower bounds for shallower nets and the matching
  shallow constructions, the ``sup < 1/2`` approximation bound with a verifier refutation, and
  the Wang-Sun rewrite of the zonotope family with ``ceil(log2(n+1))`` hidden layers.
* :mod:`.erm` -- the exhaustive globally optimal ERM for one hidden layer, and gradient descent
  from many restarts to compare against.
* :mod:`.convac` -- convolutional arithmetic circuits (Sharir & Shashua), their grid tensors and
  matricization ranks, exact modulo a prime (:mod:`.modrank`); non-overlapping candidates fitted
  to a target by alternating least squares and refuted at an exactly re-evaluated grid point.
* :mod:`.relu_grid` -- exact grid tensors and ranks of ReLU networks on one-hot templates.
* :mod:`.plots` -- optional figures (matplotlib, imported only when drawing).

Only numpy is imported here; the verifier and matplotlib are imported inside the functions that
need them.
"""

from __future__ import annotations

from .convac import (
    PARTITIONS,
    ConvAC,
    GCLayer,
    RankReport,
    ReplicationFit,
    cannot_replicate,
    fit_convac,
    grid_counterexample,
    matricize,
    one_layer_overlap_bound,
    partition,
    rank_report,
    rank_upper_bound,
    refute_replication,
)
from .erm import ERMResult, GDResult, fit_gd, global_erm, tiny_dataset
from .families import (
    approx_piece_lower_bound,
    compose_zigzags,
    depth_separation,
    dyadic_breakpoints,
    hard_function,
    hard_function_breakpoints,
    refute_approximation,
    sawtooth,
    shallow_hard_function,
    size_lower_bound,
    too_small_candidate,
    random_feature_fit,
    zigzag,
    zonotope_function,
    zonotope_piece_lower_bound,
    zonotope_ws_rewrite,
)
from .modrank import DEFAULT_PRIME, rank_exact, rank_float, rank_mod_p

__all__ = [
    "PARTITIONS",
    "ConvAC",
    "GCLayer",
    "RankReport",
    "ReplicationFit",
    "cannot_replicate",
    "fit_convac",
    "grid_counterexample",
    "matricize",
    "one_layer_overlap_bound",
    "partition",
    "rank_report",
    "rank_upper_bound",
    "refute_replication",
    "ERMResult",
    "GDResult",
    "fit_gd",
    "global_erm",
    "tiny_dataset",
    "approx_piece_lower_bound",
    "compose_zigzags",
    "depth_separation",
    "dyadic_breakpoints",
    "hard_function",
    "hard_function_breakpoints",
    "refute_approximation",
    "sawtooth",
    "shallow_hard_function",
    "size_lower_bound",
    "too_small_candidate",
    "random_feature_fit",
    "zigzag",
    "zonotope_function",
    "zonotope_piece_lower_bound",
    "zonotope_ws_rewrite",
    "DEFAULT_PRIME",
    "rank_exact",
    "rank_float",
    "rank_mod_p",
]
