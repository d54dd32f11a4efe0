"""The solver interface: one :class:`MilpSolver` ABC, one :class:`MilpOutcome` record.

Every backend solves the same :class:`~relucert.encode.milp.MilpProblem` (maximization) and
reports what it knows, never just a status: the incumbent value and point, and the dual
(upper) bound when the backend exposes one.  The caller decides what that proves.

Early stop (backends with ``supports_early_stop``):

* ``stop_if_dual_below=t`` - stop as soon as the dual bound is ``< t`` (the max is below ``t``:
  status ``"stopped_bound"``);
* ``stop_if_primal_above=s`` - stop as soon as an incumbent with value ``> s`` exists (status
  ``"stopped_incumbent"``).

Backends without early stop accept these arguments and run to their normal end; the outcome
still carries the values, so the caller can apply the same tests.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SpecError

__all__ = ["STATUSES", "MilpOutcome", "MilpSolver", "check_solve_options"]

STATUSES = ("optimal", "stopped_bound", "stopped_incumbent", "infeasible", "time_limit", "node_limit", "error")


@dataclass(frozen=True, eq=False)
class MilpOutcome:
    """What a backend found.

    ``primal_value``/``primal_x``: best feasible point found (objective incl. offset; full column
    vector) or ``None``.  ``input_x``: its input columns, clipped to the box.  ``dual_bound``: an
    upper bound of the maximum as claimed by the solver (float, subject to its tolerances), or
    ``None`` if unknown; for ``"infeasible"`` it is ``-inf``.  ``gap = dual_bound - primal_value``
    when both exist.  ``stop_reason`` is a short human-readable sentence.
    """

    status: str
    stop_reason: str
    primal_value: float | None
    primal_x: np.ndarray | None
    input_x: np.ndarray | None
    dual_bound: float | None
    gap: float | None
    nodes: int | None
    time_s: float
    solver: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def has_incumbent(self) -> bool:
        return self.primal_x is not None

    def to_dict(self) -> dict:
        return {
            "status": self.status, "stop_reason": self.stop_reason, "primal_value": self.primal_value,
            "input_x": None if self.input_x is None else [float(v) for v in self.input_x],
            "dual_bound": self.dual_bound, "gap": self.gap, "nodes": self.nodes, "time_s": self.time_s,
            "solver": self.solver, **{k: v for k, v in self.details.items() if isinstance(v, (int, float, str))},
        }


def check_solve_options(time_limit, node_limit, threads, stop_if_dual_below, stop_if_primal_above) -> None:
    """Shared validation of :meth:`MilpSolver.solve` options (raises :class:`SpecError`)."""
    if time_limit is not None:
        try:
            ok = float(time_limit) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise SpecError(f"time_limit must be a number of seconds > 0, got time_limit={time_limit!r}")
    if node_limit is not None and not (isinstance(node_limit, (int, np.integer)) and node_limit >= 1):
        raise SpecError(f"node_limit must be an integer >= 1, got node_limit={node_limit!r}")
    if threads is not None and not (isinstance(threads, (int, np.integer)) and threads >= 1):
        raise SpecError(f"threads must be an integer >= 1, got threads={threads!r}")
    for nm, v in (("stop_if_dual_below", stop_if_dual_below), ("stop_if_primal_above", stop_if_primal_above)):
        if v is not None:
            try:
                f = float(v)
            except (TypeError, ValueError):
                f = float("nan")
            if not np.isfinite(f):
                raise SpecError(f"{nm} must be a finite number, got {nm}={v!r}")


def gap_of(primal, dual) -> float | None:
    if primal is None or dual is None:
        return None
    return float(dual) - float(primal)


def feasible_point(problem, x, tol: float = 1e-5):
    """``x`` if it violates no bound, row or integrality by more than ``tol`` (scaled by the
    magnitude of the bounds), else ``None``.  Guards against solvers that hand back an LP point
    or garbage after a time limit."""
    if x is None:
        return None
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (problem.n_cols,) or not np.all(np.isfinite(x)):
        return None
    fin = np.concatenate([problem.row_lo, problem.row_hi, problem.col_lo, problem.col_hi])
    fin = fin[np.isfinite(fin)]
    scale = 1.0 + (float(np.abs(fin).max()) if fin.size else 0.0)
    return x if problem.max_violation(x) <= tol * scale else None


def clip_input(problem, x: np.ndarray | None) -> np.ndarray | None:
    if x is None:
        return None
    return problem.box.clip(np.asarray(x, dtype=np.float64)[problem.input_cols])


class MilpSolver(abc.ABC):
    """A MILP backend.  Subclasses set the capability flags and implement :meth:`solve`.

    ``name``: registry name.  ``supports_early_stop``: honours ``stop_if_dual_below`` /
    ``stop_if_primal_above`` during the search.  ``supports_dual_bound``: reports a dual bound
    also when stopped early.  ``exact``: solves the problem's float coefficients in exact
    rational arithmetic (no tolerances).
    """

    name: str = "abstract"
    supports_early_stop: bool = False
    supports_dual_bound: bool = False
    exact: bool = False

    @abc.abstractmethod
    def solve(self, problem, *, time_limit: float | None = None, node_limit: int | None = None,
              threads: int | None = None, stop_if_dual_below: float | None = None,
              stop_if_primal_above: float | None = None, verbose: bool = False) -> MilpOutcome:
        """Maximize ``problem`` and return a :class:`MilpOutcome`."""

    def capabilities(self) -> dict:
        return {"supports_early_stop": self.supports_early_stop, "supports_dual_bound": self.supports_dual_bound,
                "exact": self.exact}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
