"""PuLP backend: the same :class:`~relucert.encode.milp.MilpProblem` through PuLP (CBC by default).

Rows are read from the CSR matrix and turned into ``LpAffineExpression`` objects (PuLP has no
array interface, so this is one Python object per column and per row).  Ranged rows become two
constraints, ``lo == hi`` rows equalities.

Status: PuLP reports CBC runs stopped by the time limit as "Optimal" with an integer-feasible
solution status.  We report ``time_limit`` when the solution status says "integer feasible"
(stopped), when CBC's log says it stopped on time, or when the solve time reached 99% of the
limit.  For CBC the log (written to a temporary file) is parsed for the best bound ("Lower/Upper
bound" of the result block, in the maximization sense) and the node count; for other PuLP
solvers ``dual_bound`` is only known when the status is optimal (then it is the primal value
plus the absolute gap tolerance).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import warnings

import numpy as np

from ..errors import SolverError
from .base import MilpOutcome, MilpSolver, check_solve_options, clip_input, feasible_point, gap_of

__all__ = ["PulpSolver", "to_pulp"]


def to_pulp(problem, name: str = "relucert"):
    """``(LpProblem, [LpVariable per column])`` for ``problem`` (maximization)."""
    import pulp

    lp = pulp.LpProblem(name, pulp.LpMaximize)
    n = problem.n_cols
    lo, hi, integer = problem.col_lo, problem.col_hi, problem.integer
    # PuLP >= 3.3 attaches variables to the model (``add_variable``) and deprecates the bare
    # ``LpVariable(...)`` constructor; older PuLP has only the constructor.
    make = lp.add_variable if hasattr(lp, "add_variable") else pulp.LpVariable
    xs = [
        make(f"c{j}", None if lo[j] == -np.inf else float(lo[j]),
             None if hi[j] == np.inf else float(hi[j]),
             cat=pulp.LpInteger if integer[j] else pulp.LpContinuous)
        for j in range(n)
    ]
    nz = np.flatnonzero(problem.c)
    lp += pulp.LpAffineExpression([(xs[j], float(problem.c[j])) for j in nz], constant=float(problem.offset)), "obj"
    A = problem.A
    ptr, idx, val = A.indptr, A.indices, A.data
    rlo, rhi = problem.row_lo, problem.row_hi
    for i in range(problem.n_rows):
        s, e = ptr[i], ptr[i + 1]
        expr = pulp.LpAffineExpression([(xs[j], float(v)) for j, v in zip(idx[s:e].tolist(), val[s:e].tolist())])
        a, b = float(rlo[i]), float(rhi[i])
        if a == b:
            lp += pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"r{i}", a)
            continue
        if a > -np.inf:
            lp += pulp.LpConstraint(expr, pulp.LpConstraintGE, f"r{i}_lo", a)
        if b < np.inf:
            lp += pulp.LpConstraint(expr, pulp.LpConstraintLE, f"r{i}_hi", b)
    return lp, xs


_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf(?:inity)?)"


def parse_cbc_log(text: str) -> dict:
    """Result block of a CBC log: ``result`` line, ``objective``, ``bound``, ``nodes``."""
    out: dict = {}
    m = re.search(r"^Result - (.+)$", text, re.M)
    if m:
        out["result"] = m.group(1).strip()
    m = re.search(r"^Objective value:\s+" + _NUM, text, re.M)
    if m:
        out["objective"] = float(m.group(1))
    m = re.search(r"^(?:Lower|Upper) bound:\s+" + _NUM, text, re.M)
    if m:
        out["bound"] = float(m.group(1))
    m = re.search(r"^Enumerated nodes:\s+(\d+)", text, re.M)
    if m:
        out["nodes"] = int(m.group(1))
    return out


class PulpSolver(MilpSolver):
    """MILP through PuLP.  ``solver``: a PuLP solver name (``pulp.listSolvers()``), default CBC.

    ``solver_options`` are passed to ``pulp.getSolver`` unchanged.
    """

    supports_early_stop = False
    supports_dual_bound = True  # CBC: parsed from its log; other solvers only when optimal
    exact = False

    def __init__(self, *, solver: str = "PULP_CBC_CMD", mip_abs_gap: float = 1e-9,
                 solver_options: dict | None = None):
        import pulp

        if solver.upper() in ("CBC", "PULP-CBC"):
            solver = "PULP_CBC_CMD"
        names = pulp.listSolvers()
        match = [s for s in names if s.lower() == solver.lower()]
        if not match:
            raise SolverError(f"unknown PuLP solver {solver!r}; PuLP knows {', '.join(names)}")
        self.solver = match[0]
        if self.solver not in pulp.listSolvers(onlyAvailable=True):
            raise SolverError(f"PuLP solver {self.solver} is not available in this environment")
        if not (isinstance(mip_abs_gap, (int, float)) and np.isfinite(mip_abs_gap) and mip_abs_gap >= 0):
            raise SolverError(f"mip_abs_gap must be a finite number >= 0, got mip_abs_gap={mip_abs_gap!r}")
        self.mip_abs_gap = float(mip_abs_gap)
        self.solver_options = dict(solver_options or {})
        self.name = "pulp-cbc" if self.solver == "PULP_CBC_CMD" else f"pulp:{self.solver}"

    @property
    def _is_cbc(self) -> bool:
        return self.solver in ("PULP_CBC_CMD", "COIN_CMD")

    def solve(self, problem, *, time_limit=None, node_limit=None, threads=None, stop_if_dual_below=None,
              stop_if_primal_above=None, verbose=False) -> MilpOutcome:
        import pulp

        check_solve_options(time_limit, node_limit, threads, stop_if_dual_below, stop_if_primal_above)
        t0 = time.perf_counter()
        lp, xs = to_pulp(problem)
        opts = {"msg": bool(verbose), "gapRel": 0.0, "gapAbs": self.mip_abs_gap}
        if time_limit is not None:
            opts["timeLimit"] = float(time_limit)
        if threads is not None:
            opts["threads"] = int(threads)
        log_path = None
        if self._is_cbc:
            if node_limit is not None:
                opts["maxNodes"] = int(node_limit)
            if not verbose:
                fd, log_path = tempfile.mkstemp(prefix="relucert-cbc-", suffix=".log")
                os.close(fd)
                opts["logPath"] = log_path
        opts.update(self.solver_options)
        try:
            with warnings.catch_warnings():
                # PuLP 3.3 deprecates its bundled-CBC class for PuLP 4 (we pin pulp < 4)
                warnings.filterwarnings("ignore", message="PULP_CBC_CMD is deprecated", category=DeprecationWarning)
                solver = pulp.getSolver(self.solver, **opts)
            lp.solve(solver)
            log = {}
            if log_path is not None:
                with open(log_path, encoding="utf-8", errors="replace") as fh:
                    log = parse_cbc_log(fh.read())
        except pulp.PulpSolverError as exc:
            return MilpOutcome(status="error", stop_reason=f"PuLP/{self.solver} failed: {exc}", primal_value=None,
                               primal_x=None, input_x=None, dual_bound=None, gap=None, nodes=None,
                               time_s=time.perf_counter() - t0, solver=self.name)
        finally:
            if log_path is not None and os.path.exists(log_path):
                os.unlink(log_path)
        return self._outcome(lp, xs, problem, log, time_limit, node_limit, t0)

    def _outcome(self, lp, xs, problem, log, time_limit, node_limit, t0) -> MilpOutcome:
        import pulp

        st, sst = lp.status, getattr(lp, "sol_status", None)
        vals = [v.varValue for v in xs]
        # PuLP leaves columns that appear in no row and not in the objective unset: any value in
        # their bounds is optimal, take the one closest to 0
        used = (np.diff(problem.A.tocsc().indptr) > 0) | (problem.c != 0)
        for j in np.flatnonzero(~used):
            if vals[j] is None:
                vals[j] = float(np.clip(0.0, problem.col_lo[j], problem.col_hi[j]))
        x = None
        if st != pulp.LpStatusInfeasible and all(v is not None for v in vals):
            x = feasible_point(problem, np.array(vals, dtype=np.float64))
        primal = None if x is None else problem.objective_value(x)
        result = log.get("result", "")
        stopped_time = ("time" in result.lower()) or (
            time_limit is not None and (lp.solutionTime or 0) >= 0.99 * float(time_limit))
        stopped_nodes = "node" in result.lower()
        stopped = sst == pulp.LpSolutionIntegerFeasible or stopped_time or stopped_nodes or st == pulp.LpStatusNotSolved
        details = {"pulp_status": pulp.LpStatus.get(st, str(st)), "log_result": result or None,
                   "max_violation": None if x is None else problem.max_violation(x)}
        dual = log.get("bound")
        if dual is not None:  # the log prints ~8 significant digits: round the bound outward
            dual = dual + 1e-7 * max(1.0, abs(dual))
        if st == pulp.LpStatusInfeasible:
            return MilpOutcome(status="infeasible", stop_reason="the model is infeasible", primal_value=None,
                               primal_x=None, input_x=None, dual_bound=-np.inf, gap=None, nodes=log.get("nodes"),
                               time_s=time.perf_counter() - t0, solver=self.name, details=details)
        if st == pulp.LpStatusOptimal and not stopped:
            status, why = "optimal", "solved to optimality"
            if primal is not None:
                # the solution file holds ~8 significant digits per value: pad for that rounding
                pad = 1e-7 * (1.0 + float(np.abs(problem.c) @ np.abs(x)))
                dual = primal + (self.mip_abs_gap if problem.is_mip else 0.0) + pad
        elif stopped_nodes and not stopped_time:
            status, why = "node_limit", f"node limit {node_limit} reached"
        elif stopped:
            status, why = "time_limit", f"time limit {time_limit} s reached"
        else:
            status, why = "error", f"PuLP/{self.solver} ended with status {pulp.LpStatus.get(st, st)}"
        return MilpOutcome(status=status, stop_reason=why, primal_value=primal, primal_x=x,
                           input_x=clip_input(problem, x), dual_bound=dual, gap=gap_of(primal, dual),
                           nodes=log.get("nodes"), time_s=time.perf_counter() - t0, solver=self.name,
                           details=details)
