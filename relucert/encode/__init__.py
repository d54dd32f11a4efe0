"""Encodings of ReLU networks for solvers.

* :mod:`relucert.encode.milp` - :class:`MilpBuilder` / :class:`MilpProblem` (arrays, big-M from
  pre-activation bounds), consumed by every backend in :mod:`relucert.solvers`;
* :mod:`relucert.encode.obbt` - :func:`tighten_bounds_lp`, LP bound tightening (float bounds);
* :mod:`relucert.encode.smt` - :class:`SmtBuilder`, exact rational z3 encoding (imports z3).

Importing this package does not import any solver; ``SmtBuilder`` and friends load z3 on first
access.
"""

from __future__ import annotations

from .milp import MilpBuilder, MilpProblem, NetVars, Z_MODES
from .obbt import tighten_bounds_lp

__all__ = ["MilpBuilder", "MilpProblem", "NetVars", "Z_MODES", "tighten_bounds_lp",
           "SmtBuilder", "SmtProblem", "SmtNetVars", "OPS"]

_SMT = ("SmtBuilder", "SmtProblem", "SmtNetVars", "OPS")


def __getattr__(name):
    if name in _SMT:
        from . import smt

        return getattr(smt, name)
    raise AttributeError(f"module 'relucert.encode' has no attribute {name!r}")
