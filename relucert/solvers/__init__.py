"""Solver backends behind one interface (:class:`~relucert.solvers.base.MilpSolver`).

``get_solver(name, **options)`` returns a backend instance; ``available_solvers()`` lists the
names usable in this environment.  Names:

* ``"highs"`` - HiGHS via highspy (early stop, dual bounds);
* ``"pulp"`` / ``"pulp-cbc"`` - PuLP with CBC; ``"pulp:<SOLVER>"`` any PuLP solver name
  (e.g. ``"pulp:HiGHS"``);
* ``"z3"`` - z3 ``Optimize`` over the reals (exact rationals; also answers SMT queries built by
  :class:`relucert.encode.smt.SmtBuilder` through :meth:`Z3Solver.check`).

Backends import their solver library only when constructed.
"""

from __future__ import annotations

import warnings
from importlib.util import find_spec

from ..errors import SpecError
from .base import STATUSES, MilpOutcome, MilpSolver

__all__ = ["get_solver", "available_solvers", "SOLVER_NAMES", "MilpSolver", "MilpOutcome", "STATUSES"]

SOLVER_NAMES = ("highs", "pulp", "pulp-cbc", "z3")


def get_solver(name: str = "highs", **options) -> MilpSolver:
    """A backend by name; ``options`` go to its constructor (keyword-only, validated there)."""
    if not isinstance(name, str):
        raise SpecError(f"solver name must be a string, got {type(name).__name__}")
    key = name.strip()
    low = key.lower()
    if low == "highs":
        from .highs import HighsSolver

        return HighsSolver(**options)
    if low in ("pulp", "pulp-cbc", "cbc"):
        from .pulp_backend import PulpSolver

        return PulpSolver(**options)
    if low.startswith("pulp:"):
        from .pulp_backend import PulpSolver

        return PulpSolver(solver=key.split(":", 1)[1], **options)
    if low == "z3":
        from .z3_backend import Z3Solver

        return Z3Solver(**options)
    raise SpecError(f"unknown solver {name!r}; choose one of {', '.join(SOLVER_NAMES)} or 'pulp:<SOLVER>'")


def available_solvers() -> list[str]:
    """Names from :data:`SOLVER_NAMES` whose library is installed (``pulp`` also needs CBC)."""
    out = []
    if find_spec("highspy") is not None:
        out.append("highs")
    if find_spec("pulp") is not None:
        try:
            import pulp

            with warnings.catch_warnings():
                # PuLP 3.3 deprecates its bundled-CBC class for PuLP 4 (we pin pulp < 4)
                warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning)
                cbc = pulp.PULP_CBC_CMD(msg=False).available()
            if cbc:
                out += ["pulp", "pulp-cbc"]
        except Exception:  # pragma: no cover - broken pulp install
            pass
    if find_spec("z3") is not None:
        out.append("z3")
    return out
