"""HiGHS backend (highspy): the model is passed in one call as CSC arrays.

Early stop uses the MIP interrupt callback (``cbMipInterrupt``), which HiGHS calls regularly
during branch and bound with the current dual bound and incumbent; the callback sets
``user_interrupt`` when ``dual < stop_if_dual_below`` or ``primal > stop_if_primal_above``.
An improving-solution callback (``cbMipImprovingSolution``) records each incumbent's value, so
a refutation stops at the next interrupt check after the first good incumbent.  The options
``objective_bound`` / ``objective_target`` are *not* used: ``objective_bound`` acts as a cutoff
that turns "max < t" into an ``infeasible`` status without a dual bound, and we want the bound.

For a pure LP (no integer column) the outcome's dual bound is the LP optimum.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from ..errors import SolverError
from .base import MilpOutcome, MilpSolver, check_solve_options, clip_input, feasible_point, gap_of

__all__ = ["HighsSolver", "write_model", "load_problem"]


_QUIET = False


def _hs():
    """highspy, with the one-time banner HiGHS prints on its first instance sent to /dev/null."""
    global _QUIET
    import highspy

    if not _QUIET:
        _QUIET = True
        import sys

        try:
            sys.stdout.flush()
            fd = os.dup(1)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 1)
                highspy.Highs()
            finally:
                os.dup2(fd, 1)
                os.close(fd)
                os.close(null)
        except OSError:  # pragma: no cover - no file descriptors to juggle
            pass
    return highspy


def load_problem(h, problem, *, names: bool = False) -> None:
    """Pass ``problem`` to the ``highspy.Highs`` instance ``h`` in one bulk call (CSC arrays)."""
    hs = _hs()
    A = problem.A.tocsc()
    A.sort_indices()
    n, m = problem.n_cols, problem.n_rows
    inf = hs.kHighsInf
    st = h.passModel(
        n, m, int(A.nnz), int(hs.MatrixFormat.kColwise), int(hs.ObjSense.kMaximize), float(problem.offset),
        np.ascontiguousarray(problem.c, dtype=np.float64),
        np.clip(problem.col_lo, -inf, inf), np.clip(problem.col_hi, -inf, inf),
        np.clip(problem.row_lo, -inf, inf), np.clip(problem.row_hi, -inf, inf),
        A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64),
        problem.integer.astype(np.int32),
    )
    if st == hs.HighsStatus.kError:
        raise SolverError(f"HiGHS rejected the model ({n} columns, {m} rows)")
    if names:
        for j, nm in enumerate(problem.col_names()):
            h.passColName(j, nm)
        for i, nm in enumerate(problem.row_names()):
            h.passRowName(i, nm)


def write_model(problem, path: str) -> None:
    """Write ``problem`` to ``path`` (format from the extension: ``.lp`` or ``.mps``), atomically."""
    hs = _hs()
    h = hs.Highs()
    h.silent()
    load_problem(h, problem, names=True)
    folder = os.path.dirname(os.path.abspath(path))
    ext = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=".relucert-", suffix=ext, dir=folder)
    os.close(fd)
    try:
        st = h.writeModel(tmp)
        if st == hs.HighsStatus.kError:
            raise SolverError(f"HiGHS could not write the model to {path}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class HighsSolver(MilpSolver):
    """HiGHS branch and cut.  ``mip_rel_gap`` (default 0) and ``mip_abs_gap`` (default 1e-9): an
    ``"optimal"`` outcome has ``dual_bound - primal_value <= max(mip_abs_gap, mip_rel_gap * |dual|)``
    up to HiGHS's LP tolerances (``primal_/dual_feasibility_tolerance``)."""

    name = "highs"
    supports_early_stop = True
    supports_dual_bound = True
    exact = False

    def __init__(self, *, mip_abs_gap: float = 1e-9, mip_rel_gap: float = 0.0,
                 mip_feasibility_tolerance: float = 1e-6, primal_feasibility_tolerance: float = 1e-7,
                 dual_feasibility_tolerance: float = 1e-7, seed: int = 0, presolve: bool = True):
        for nm, v in (("mip_abs_gap", mip_abs_gap), ("mip_rel_gap", mip_rel_gap),
                      ("mip_feasibility_tolerance", mip_feasibility_tolerance),
                      ("primal_feasibility_tolerance", primal_feasibility_tolerance),
                      ("dual_feasibility_tolerance", dual_feasibility_tolerance)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
                raise SolverError(f"{nm} must be a finite number >= 0, got {nm}={v!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise SolverError(f"seed must be an integer >= 0, got seed={seed!r}")
        self.options = {
            "mip_rel_gap": float(mip_rel_gap),
            "mip_abs_gap": float(mip_abs_gap),
            "mip_feasibility_tolerance": float(mip_feasibility_tolerance),
            "primal_feasibility_tolerance": float(primal_feasibility_tolerance),
            "dual_feasibility_tolerance": float(dual_feasibility_tolerance),
            "random_seed": int(seed),
            "presolve": "on" if presolve else "off",
        }

    @property
    def feasibility_tolerance(self) -> float:
        """Primal plus dual feasibility tolerance: the LP accuracy the dual bound rests on."""
        return self.options["primal_feasibility_tolerance"] + self.options["dual_feasibility_tolerance"]

    def solve(self, problem, *, time_limit=None, node_limit=None, threads=None, stop_if_dual_below=None,
              stop_if_primal_above=None, verbose=False) -> MilpOutcome:
        check_solve_options(time_limit, node_limit, threads, stop_if_dual_below, stop_if_primal_above)
        hs = _hs()
        t0 = time.perf_counter()
        h = hs.Highs()
        h.setOptionValue("output_flag", bool(verbose))
        for k, v in self.options.items():
            h.setOptionValue(k, v)
        if time_limit is not None:
            h.setOptionValue("time_limit", float(time_limit))
        if node_limit is not None:
            h.setOptionValue("mip_max_nodes", int(node_limit))
        # ``threads`` is accepted but not passed on: HiGHS fixes its thread pool at the first
        # instance of the process and refuses a different count later; its MIP search is serial.
        load_problem(h, problem)

        state = {"stopped": None, "dual": None, "primal": -np.inf, "x": None}
        dual_t = None if stop_if_dual_below is None else float(stop_if_dual_below)
        primal_t = None if stop_if_primal_above is None else float(stop_if_primal_above)
        if problem.is_mip and (dual_t is not None or primal_t is not None):
            def on_solution(e):
                val = float(e.data_out.objective_function_value)
                if val > state["primal"]:
                    state["primal"] = val
                    state["x"] = np.array(e.data_out.mip_solution, dtype=np.float64)

            def on_interrupt(e):
                d = float(e.data_out.mip_dual_bound)
                p = float(e.data_out.mip_primal_bound)
                state["dual"] = d
                best = max(state["primal"], p) if np.isfinite(p) else state["primal"]
                if primal_t is not None and best > primal_t:
                    state["stopped"] = "incumbent"
                    e.interrupt()
                elif dual_t is not None and d < dual_t:
                    state["stopped"] = "bound"
                    e.interrupt()

            h.cbMipImprovingSolution.subscribe(on_solution)
            h.cbMipInterrupt.subscribe(on_interrupt)

        h.run()
        return self._outcome(h, problem, state, dual_t, primal_t, time_limit, t0)

    def _outcome(self, h, problem, state, dual_t, primal_t, time_limit, t0) -> MilpOutcome:
        hs = _hs()
        ms = h.getModelStatus()
        info = h.getInfo()
        S = hs.HighsModelStatus
        is_mip = problem.is_mip
        sol = h.getSolution()
        x = None
        if info.primal_solution_status == 2 and sol.value_valid:  # kSolutionStatusFeasible
            x = np.array(sol.col_value, dtype=np.float64)
        elif state["x"] is not None:
            x = feasible_point(problem, state["x"])
        primal = None if x is None else problem.objective_value(x)
        if is_mip:
            dual = float(info.mip_dual_bound)
            nodes = int(info.mip_node_count)
        else:
            dual = primal if ms == S.kOptimal else None
            nodes = 0
        if dual is not None and not np.isfinite(dual):
            dual = None if dual > 0 else dual
        details = {"model_status": h.modelStatusToString(ms),
                   "max_violation": None if x is None else problem.max_violation(x)}
        if ms == S.kOptimal:
            status, why = "optimal", "solved to optimality"
        elif ms == S.kInfeasible:
            status, why, dual, x, primal = "infeasible", "the model is infeasible", -np.inf, None, None
        elif ms in (S.kInterrupt, S.kHighsInterrupt) and state["stopped"] == "bound":
            status, why = "stopped_bound", f"dual bound {dual:.9g} < {dual_t:.9g}"
        elif ms in (S.kInterrupt, S.kHighsInterrupt) and state["stopped"] == "incumbent":
            status, why = "stopped_incumbent", f"incumbent {primal:.9g} > {primal_t:.9g}"
        elif ms == S.kTimeLimit:
            status, why = "time_limit", f"time limit {time_limit:g} s reached"
        elif ms in (S.kSolutionLimit, S.kIterationLimit):
            status, why = "node_limit", f"node/iteration limit reached ({h.modelStatusToString(ms)})"
        else:
            status, why = "error", f"HiGHS ended with status {h.modelStatusToString(ms)}"
        if is_mip and status == "optimal" and dual is None and primal is not None:
            dual = primal
        return MilpOutcome(status=status, stop_reason=why, primal_value=primal, primal_x=x,
                           input_x=clip_input(problem, x), dual_bound=dual, gap=gap_of(primal, dual),
                           nodes=nodes, time_s=time.perf_counter() - t0, solver=self.name, details=details)
