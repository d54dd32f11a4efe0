"""Side by side: relucert against the tools a user would otherwise pick, in the same run on the
same machine, on one fixed set of eps-equivalence instances with known answers.

Tools (each gets the same per-instance time limit; see :data:`TOOLS`):

* ``relucert`` - ``relucert.verify(f, g, box, EpsEquivalence(eps, outputs), method="auto")``.
* ``highs-plain`` - what a generic MILP modeller (OMLT-style big-M) gives: both networks encoded
  on shared inputs by :class:`~relucert.encode.milp.MilpBuilder` with explicit pre-activation
  columns and big-M constants from *interval* bounds only (no CROWN, no differential rows, no
  LP tightening), then ``max (f_t - g_t)`` and ``max (g_t - f_t)`` solved to optimality with
  HiGHS's default tolerances and gaps, no early stop, and the optimum compared with eps at the
  end: ``> eps`` is NOT_EQUIVALENT (its argmax the counterexample), ``<= eps`` EQUIVALENT.  After a
  time limit an incumbent above eps still counts as NOT_EQUIVALENT, otherwise UNKNOWN.
* ``cbc-plain`` - the same models through PuLP/CBC (CBC's defaults).
* ``z3`` - z3 alone on relucert's exact SMT encoding (:class:`~relucert.encode.smt.SmtBuilder`,
  interval bounds as lemmas, one query ``exists x: |f_t - g_t| > eps``), no box splitting.
* ``marabou`` - Marabou (``maraboupy``, optional extra ``marabou``) on the product network
  ``f - g`` (:meth:`Network.difference`, exact), two queries per output: ``out >= eps`` and
  ``out <= -eps``; both UNSAT is EQUIVALENT, a SAT is NOT_EQUIVALENT with Marabou's input as the
  counterexample.  Each query runs in its own process (``_marabou_query.py``) under RLIMIT_CPU
  and a wall-clock kill, since Marabou was seen to ignore its own timeout for about 50 minutes.
  Without maraboupy the cases say ``NOT_INSTALLED`` and the rest still runs.

Every counterexample a tool returns is re-evaluated in exact rational arithmetic on the original
weights (:meth:`Network.eval_exact`): ``cex_genuine`` records whether ``|f_k - g_k| > eps`` there.
A verdict that contradicts the instance's known answer is a **wrong answer**: such a case is
*unexpected* (the run exits 1) and the summary lists it in its own section.  A tool running
out of time is UNKNOWN, which is expected for the other tools (not for relucert).

Time: the limits are on the wall clock for every tool (the peers' own limits are wall-clock;
relucert's is put on the same clock here).  Reported times are CPU time (this process plus waited-for
child processes such as CBC) with ``--clock cpu`` (the default), wall time otherwise; both are
recorded.  A peer's time includes building its model; relucert's is its ``verify`` call;
Marabou's excludes the start-up of its query processes (recorded apart as ``startup_cpu_s``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import resource
import statistics
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from ..runner import Case, register_suite

__all__ = ["Instance", "TOOLS", "PEERS", "run_tool", "instances", "tool_cases", "compare_summary", "is_wrong",
           "exact_violation", "marabou_available"]

UNDECIDED = ("UNKNOWN", "NOT_INSTALLED")
DECIDED = ("EQUIVALENT", "NOT_EQUIVALENT")


@dataclass
class Instance:
    """One eps-equivalence question with a known answer ``truth`` (and why it is known)."""

    name: str
    f: object
    g: object
    box: object
    eps: float
    outputs: list | None
    truth: str
    group: str
    why: str = ""
    info: dict = field(default_factory=dict)

    @property
    def outs(self) -> list:
        return list(range(self.f.n_outputs)) if self.outputs is None else list(self.outputs)


# -- exact checks ----------------------------------------------------------------------------------

def exact_violation(inst: Instance, x):
    """``(value, genuine)``: the exact ``max_k |f_k(x) - g_k(x)|`` over the instance's outputs at
    ``x`` (floats taken at their binary value, Fractions as they are) and whether it exceeds eps
    with ``x`` in the box.  ``(None, False)`` when ``x`` is missing or outside the box."""
    if x is None:
        return None, False
    xs = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in list(x)]
    if len(xs) != inst.box.dim or not inst.box.contains(xs):
        return None, False
    fy, gy = inst.f.eval_exact(xs), inst.g.eval_exact(xs)
    v = max(abs(fy[k] - gy[k]) for k in inst.outs)
    return v, v > Fraction(inst.eps)


def is_wrong(rec: dict) -> bool:
    """A decided verdict that contradicts the known answer."""
    return rec.get("verdict") in DECIDED and rec.get("truth") in DECIDED and rec["verdict"] != rec["truth"]


# -- timing ----------------------------------------------------------------------------------------

def _cpu() -> float:
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


class _Deadline:
    def __init__(self, limit: float):
        self.t0, self.limit = time.perf_counter(), float(limit)

    def left(self) -> float:
        return self.limit - (time.perf_counter() - self.t0)


def _finish(rec: dict, inst: Instance, x) -> dict:
    """Attach the exact re-evaluation of a counterexample candidate ``x``."""
    if rec["verdict"] == "NOT_EQUIVALENT" or x is not None:
        v, ok = exact_violation(inst, x)
        rec["cex_value"] = None if v is None else float(v)
        if rec["verdict"] == "NOT_EQUIVALENT":
            rec["cex_genuine"] = bool(ok)
            if not ok:
                rec["detail"] = (rec.get("detail", "") + "; " if rec.get("detail") else "") + \
                    ("counterexample NOT genuine: exact |f - g| = "
                     f"{'n/a (outside the box or missing)' if v is None else f'{float(v):.6g}'} <= eps = {inst.eps:.6g}")
    return rec


# -- the tools -------------------------------------------------------------------------------------

def _tool_relucert(inst: Instance, limit: float, method: str = "auto") -> dict:
    import relucert
    from relucert.verify.bab import DistanceBaB

    old = DistanceBaB.__dict__.get("clock")
    DistanceBaB.clock = staticmethod(time.perf_counter)     # the same (wall) clock as the peers' limits
    try:
        res = relucert.verify(inst.f, inst.g, inst.box, relucert.EpsEquivalence(inst.eps, outputs=inst.outputs),
                              method=method, time_limit=limit)
    finally:
        if old is not None:
            DistanceBaB.clock = old
    rec = {"verdict": res.verdict.name, "method": str(res.method), "lower": float(res.lower),
           "upper": float(res.upper), "soundness": str(res.soundness)}
    if res.verdict.name == "UNKNOWN":
        rec["detail"] = str(res.reason)
    x = res.counterexample.x if res.counterexample is not None else None
    return _finish(rec, inst, x)


def plain_milp_problems(inst: Instance):
    """The OMLT-style models: interval bounds, explicit z columns, one objective per output and sign."""
    from relucert.bounds.interval import interval_bounds
    from relucert.encode.milp import MilpBuilder

    b = MilpBuilder(inst.box, z_mode="explicit")
    F = b.add_network(inst.f, interval_bounds(inst.f, inst.box), tag="f")
    G = b.add_network(inst.g, interval_bounds(inst.g, inst.box), tag="g")
    p = b.build()
    out = []
    for k in inst.outs:
        for sign in (1.0, -1.0):
            c = np.zeros(p.n_cols)
            c[int(F.outputs[k])] = sign
            c[int(G.outputs[k])] = -sign
            out.append((f"{'f - g' if sign > 0 else 'g - f'} at output {k}", p.with_objective(c)))
    return out


def _plain_milp(inst: Instance, limit: float, solver) -> dict:
    """Solve the 2m objective MILPs one after another, each to optimality within an equal share
    of the time left (``left / problems left``: time one does not use passes to the next), so
    that a violation on the second sign is not starved by a first objective that cannot be
    closed in time.  Any optimum or incumbent above eps is NOT_EQUIVALENT (its argmax the
    counterexample); all optima <= eps is EQUIVALENT; otherwise UNKNOWN."""
    dl = _Deadline(limit)
    best_v, best_x, timed_out, nodes, errors = -math.inf, None, False, 0, []
    probs = plain_milp_problems(inst)
    statuses = []
    for i, (label, prob) in enumerate(probs):
        left = dl.left()
        if left <= 0.05:
            timed_out = True
            statuses.append(f"{label}: not started (time limit)")
            continue
        share = left / (len(probs) - i)
        try:
            out = solver.solve(prob, time_limit=max(share, 0.1))      # no early stop: to optimality
        except Exception as exc:  # noqa: BLE001 - a crashed peer is UNKNOWN with the reason
            errors.append(f"{type(exc).__name__}: {exc}")
            statuses.append(f"{label}: crashed")
            continue
        nodes += int(out.nodes or 0)
        statuses.append(f"{label}: {out.status}" + ("" if out.primal_value is None else f" {float(out.primal_value):.6g}"))
        if out.status != "optimal":
            timed_out = timed_out or out.status in ("time_limit", "node_limit")
            if out.status not in ("time_limit", "node_limit"):
                errors.append(f"{out.status}: {out.stop_reason}")
        if out.primal_value is not None and out.primal_value > best_v:
            best_v, best_x = float(out.primal_value), out.input_x
        if best_v > inst.eps:
            break                   # a violation found: the verdict cannot change
    rec = {"nodes": nodes, "solver_value": None if best_v == -math.inf else best_v, "objectives": statuses}
    if best_v > inst.eps:
        rec["verdict"] = "NOT_EQUIVALENT"
    elif timed_out or errors:
        rec["verdict"] = "UNKNOWN"
        rec["detail"] = "; ".join(errors) if errors else "time limit reached"
    else:
        rec["verdict"] = "EQUIVALENT"
    return _finish(rec, inst, best_x)


def _tool_highs(inst: Instance, limit: float) -> dict:
    from relucert.solvers.highs import HighsSolver

    # HiGHS's own defaults (what a modeller passes on): mip_rel_gap 1e-4, mip_abs_gap 1e-6,
    # feasibility tolerances 1e-7 (primal, dual) and 1e-6 (integrality)
    return _plain_milp(inst, limit, HighsSolver(mip_rel_gap=1e-4, mip_abs_gap=1e-6))


def _tool_cbc(inst: Instance, limit: float) -> dict:
    from relucert.solvers.pulp_backend import PulpSolver

    return _plain_milp(inst, limit, PulpSolver(solver="PULP_CBC_CMD", mip_abs_gap=1e-6))


def _tool_z3(inst: Instance, limit: float) -> dict:
    from relucert.bounds.interval import interval_bounds
    from relucert.encode.smt import SmtBuilder
    from relucert.solvers.z3_backend import Z3Solver

    dl = _Deadline(limit)
    b = SmtBuilder(inst.box)
    F = b.add_network(inst.f, interval_bounds(inst.f, inst.box), tag="f")
    G = b.add_network(inst.g, interval_bounds(inst.g, inst.box), tag="g")
    b.add_any([({F.outputs[k]: s, G.outputs[k]: -s}, ">", inst.eps) for k in inst.outs for s in (1.0, -1.0)])
    problem = b.build()
    left = dl.left()
    if left <= 0.05:
        return {"verdict": "UNKNOWN", "detail": "time limit reached while encoding"}
    out = Z3Solver(seed=0).check(problem, time_limit=left)
    if out.status == "unsat":
        return {"verdict": "EQUIVALENT"}
    if out.status == "sat":
        return _finish({"verdict": "NOT_EQUIVALENT"}, inst, out.x)
    return {"verdict": "UNKNOWN", "detail": out.reason}


def marabou_available() -> bool:
    return importlib.util.find_spec("maraboupy") is not None


def marabou_network(D, box, k: int, side: str):
    """A ``MarabouNetwork`` of the product network ``D = f - g`` on ``box`` (the property on
    output ``k`` is left to the caller; ``side`` is kept for the caller's bookkeeping).  Returns
    the network, its input variables and the output variable of ``k``.  The same builder runs in
    the query subprocess (:mod:`._marabou_query`)."""
    from ._marabou_query import build_network

    net, xs, outs = build_network([(L.weight, L.bias) for L in D.layers], list(box.lo), list(box.hi))
    return net, xs, outs[k]


MARABOU_CHILD = Path(__file__).resolve().with_name("_marabou_query.py")
# past Marabou's own timeout (floor of the time left): RLIMIT_CPU at ceil(left) + MARABOU_CPU_GRACE_S
# CPU seconds (SIGXCPU; SIGKILL 2 s later), and a kill of the process group at left + MARABOU_WALL_GRACE_S
# on the wall clock (for a loaded machine or a child that does not use the CPU)
MARABOU_CPU_GRACE_S = 2.0
MARABOU_WALL_GRACE_S = 5.0


def _marabou_query_json(D, box, k: int, side: str, eps: float, timeout_s: int) -> dict:
    # float64 values go through JSON as their shortest repr, which reads back to the same double
    return {"layers": [{"shape": list(np.shape(L.weight)), "W": np.asarray(L.weight, dtype=float).ravel().tolist(),
                        "b": np.asarray(L.bias, dtype=float).tolist()} for L in D.layers],
            "lo": [float(v) for v in box.lo], "hi": [float(v) for v in box.hi], "k": int(k), "side": side,
            "eps": float(eps), "timeout_s": int(timeout_s)}


def _marabou_solve(query: dict, left: float) -> dict:
    """One Marabou query in a fresh ``python _marabou_query.py`` process with Marabou's own
    timeout ``floor(left)`` s, RLIMIT_CPU of ``ceil(left) + MARABOU_CPU_GRACE_S`` s (SIGXCPU ends
    it; SIGKILL at the hard limit 2 s later) and a wall-clock kill of its process group at
    ``left + MARABOU_WALL_GRACE_S`` s: Marabou was seen to ignore its own timeout (a query ran
    on for 50 minutes with ``timeoutInSeconds=60``; on ``f - g`` for pairs sharing neurons its
    local search loops well past the timeout).  Returns the child's record (``code``, ``x``,
    ``solve_cpu_s``, ...) plus ``child_cpu_s`` and ``child_wall_s`` (the whole process,
    start-up included); a killed or crashed child gives ``code`` ``"TIMEOUT (...)"`` or
    ``"ERROR (...)"``."""
    import signal
    import subprocess
    import sys
    import tempfile

    query = dict(query, timeout_s=max(1, int(math.floor(left))))
    soft = max(1, int(math.ceil(left + MARABOU_CPU_GRACE_S)))
    wall = left + MARABOU_WALL_GRACE_S

    def limit_cpu():            # runs in the child between fork and exec: keep it to the one call
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 2))

    with tempfile.TemporaryDirectory(prefix="relucert-marabou-") as tmp:
        src, dst = os.path.join(tmp, "query.json"), os.path.join(tmp, "result.json")
        with open(src, "w") as fh:
            json.dump(query, fh)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, str(MARABOU_CHILD), src, dst], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                             preexec_fn=limit_cpu, start_new_session=True)
        killed = False
        try:
            _, err = p.communicate(timeout=wall)
        except subprocess.TimeoutExpired:
            killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rec = {"child_wall_s": time.perf_counter() - w0,
               "child_cpu_s": (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)}
        got = None
        if not killed and p.returncode == 0 and os.path.exists(dst):
            with contextlib.suppress(OSError, ValueError):
                with open(dst) as fh:
                    got = json.load(fh)
    if got is not None:
        got.update(rec)
        return got
    tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
    if killed:
        code = f"TIMEOUT (killed at the wall-clock limit {wall:.1f} s)"
    elif p.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        code = f"TIMEOUT (killed at the CPU limit {soft} s)"
    else:
        code = f"ERROR (exit {p.returncode}: {tail[0][:200]})"
    rec["code"] = code
    return rec


def _tool_marabou(inst: Instance, limit: float) -> dict:
    """Two queries per output on the product network, each in its own process; the time
    reported is relucert's side (building ``f - g`` and the query files) plus Marabou's own
    build-and-solve time in the child: the children's interpreter start-up and imports are
    recorded apart (``startup_cpu_s``, ``startup_wall_s``) and taken out of ``time_s``."""
    if not marabou_available():
        return {"verdict": "NOT_INSTALLED", "detail": "maraboupy not installed (optional extra: pip install 'relucert[marabou]')"}
    from relucert.network import Network

    dl = _Deadline(limit)
    D = Network.difference(inst.f, inst.g)
    queries, su_cpu, su_wall = [], 0.0, 0.0

    def rec(**kw):
        return dict(kw, queries=queries, overhead_cpu_s=su_cpu, overhead_wall_s=su_wall,
                    kill_grace_cpu_s=MARABOU_CPU_GRACE_S, kill_grace_wall_s=MARABOU_WALL_GRACE_S)

    todo = [(k, side) for k in inst.outs for side in ("ge", "le")]
    undecided = []
    for i, (k, side) in enumerate(todo):
        label = f"out{k} {'>=' if side == 'ge' else '<='} {'' if side == 'ge' else '-'}eps"
        left = dl.left()
        # an equal share of the time left, as for the plain MILPs, but whole seconds (Marabou's unit)
        share = max(1.0, left / (len(todo) - i))
        if left < 1.0:
            queries.append(f"{label}: not started (time limit)")
            undecided.append("time limit reached")
            continue
        got = _marabou_solve(_marabou_query_json(D, inst.box, k, side, inst.eps, 0), share)
        if "solve_cpu_s" in got:
            su_cpu += max(0.0, got["child_cpu_s"] - got["solve_cpu_s"])
            su_wall += max(0.0, got["child_wall_s"] - got["solve_wall_s"])
        code = got["code"]
        queries.append(f"{label}: {code}")
        if code == "sat":
            r = rec(verdict="NOT_EQUIVALENT", marabou_x=got["x"], marabou_out=got["out"])
            return _finish(r, inst, got["x"])
        if code != "unsat":
            undecided.append(f"Marabou: {code}")
    if undecided:
        return rec(verdict="UNKNOWN", detail="; ".join(dict.fromkeys(undecided)))
    return rec(verdict="EQUIVALENT")


def _tool_relucert_milp(inst: Instance, limit: float) -> dict:
    return _tool_relucert(inst, limit, method="milp")


TOOLS: dict[str, Callable] = {
    "relucert": _tool_relucert,
    "relucert-milp": _tool_relucert_milp,
    "highs-plain": _tool_highs,
    "cbc-plain": _tool_cbc,
    "z3": _tool_z3,
    "marabou": _tool_marabou,
}
PEERS = ("highs-plain", "cbc-plain", "z3", "marabou")
TOOL_LABEL = {
    "relucert": "relucert (verify, method auto)",
    "relucert-milp": "relucert (verify, method milp: sound bounds, early stop, HiGHS)",
    "highs-plain": "plain big-M MILP, HiGHS (interval bounds, no early stop)",
    "cbc-plain": "plain big-M MILP, PuLP/CBC (interval bounds, no early stop)",
    "z3": "z3 alone (same exact encoding, interval lemmas)",
    "marabou": "Marabou (maraboupy) on f - g",
}


def run_tool(tool: str, inst: Instance, limit: float, *, clock: str = "cpu", tools=None) -> dict:
    """Run one tool on one instance; the record has ``verdict``, ``time_s`` (the chosen clock),
    ``cpu_s``, ``wall_s``, ``truth``, ``wrong`` and any counterexample check."""
    fn = (tools or TOOLS)[tool]
    w0, c0 = time.perf_counter(), _cpu()
    try:
        rec = dict(fn(inst, limit))
    except Exception as exc:  # noqa: BLE001 - a peer that crashes has not answered
        rec = {"verdict": "UNKNOWN", "detail": f"crashed: {type(exc).__name__}: {exc}"}
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    # a tool may name time that is not its own (Marabou: the query processes' interpreter start-up)
    o_cpu, o_wall = float(rec.pop("overhead_cpu_s", 0.0)), float(rec.pop("overhead_wall_s", 0.0))
    if o_cpu or o_wall:
        rec.update(startup_cpu_s=o_cpu, startup_wall_s=o_wall, cpu_with_startup_s=cpu, wall_with_startup_s=wall)
        cpu, wall = max(0.0, cpu - o_cpu), max(0.0, wall - o_wall)
    rec.update(tool=tool, instance=inst.name, truth=inst.truth, eps=inst.eps, cpu_s=cpu, wall_s=wall,
               time_s=cpu if clock == "cpu" else wall, time_limit_s=limit, clock=clock)
    rec["wrong"] = is_wrong(rec)
    if rec["wrong"]:
        rec["detail"] = (f"WRONG ANSWER: {tool} says {rec['verdict']}, the known answer is {inst.truth} "
                         f"({inst.why})" + (f"; {rec['detail']}" if rec.get("detail") else ""))
    return rec


def tool_cases(insts, tools, limit: float, clock: str = "cpu", tool_fns=None) -> list[Case]:
    """One case per (instance, tool).  relucert must give the known answer; another tool may
    also be UNKNOWN (out of time) or NOT_INSTALLED, but a contradicting verdict is unexpected."""
    cases = []
    for inst in insts:
        for tool in tools:
            expected = (inst.truth,) if tool == "relucert" else (inst.truth,) + UNDECIDED

            def run(tool=tool, inst=inst):
                return run_tool(tool, inst, limit, clock=clock, tools=tool_fns)

            cases.append(Case(f"{inst.name} [{tool}]", expected, run, group=tool,
                              info={"instance_group": inst.group, "why_known": inst.why, **inst.info}))
    return cases


# -- the instance set ------------------------------------------------------------------------------

ACAS_IDS_FULL = ("acas-0.05-009", "acas-0.05-050")


def _acas_instances(ids):
    import csv

    from relucert.box import Box

    from .real_networks import DATA, _net

    path = DATA / "instances.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    out = []
    for i in ids:
        r = rows.get(i)
        if r is None:
            continue
        f = _net(DATA / "nnet" / r["net"])
        g = _net(DATA / "compressed_nnets" / r["net2"])
        lo = np.array([float(v) for v in r["box_lo_norm"].split(";")])
        hi = np.array([float(v) for v in r["box_hi_norm"].split(";")])
        out.append(Instance(i, f, g, Box(lo, hi), float(r["eps"]), [int(r["target_output"])], "EQUIVALENT",
                            "acas eps=0.05 target output",
                            why="proved by relucert's full acas run and by the peer NeuroDiff (instances.csv)",
                            info={"net": r["net"]}))
    return out


def _noisy_instances():
    import relucert
    from relucert.box import Box

    from .real_networks import noisy_pair

    f, g = noisy_pair(0)
    box = Box(-np.ones(2), np.ones(2))
    ref = relucert.distance(f, g, box, atol=0.0, rtol=1e-5, time_limit=60)
    lo, hi = float(ref.lower), float(ref.upper)
    why = f"true sup distance in [{lo:.9g}, {hi:.9g}] (relucert.distance, lower attained exactly)"
    return [Instance("noisy 2-20-20-1 eps=1.02x", f, g, box, 1.02 * hi, None, "EQUIVALENT", "noisy copy", why=why),
            Instance("noisy 2-20-20-1 eps=0.98x", f, g, box, 0.98 * lo, None, "NOT_EQUIVALENT", "noisy copy", why=why)]


def _rewrite_instance(label, transform, sizes, seed, eps=1e-3):
    """An exact rewrite from the papers' suites: reference net vs rewrite, eps small (the truth is
    sup |f - g| = 0, so EQUIVALENT for every eps > 0)."""
    from relucert import Box, transforms
    from relucert.examples import small_regressor

    net = small_regressor(tuple(sizes), seed=seed)
    box = Box.cube(net.n_inputs, -1.0, 1.0)
    new, claim = transforms.apply(transform, net, box)
    ref = claim.reference if claim.reference is not None else net
    e = max(float(eps), float(claim.eps or 0.0))
    return Instance(f"{label} eps={e:g}", ref, new, box, e, None, "EQUIVALENT", "exact rewrite",
                    why=f"{transform} is an exact rewrite (sup |f - g| = 0)",
                    info={"sizes_out": "-".join(map(str, new.sizes))})


def _bad_instance(label, transform, sizes, seed):
    """A known-bad rewrite: eps at half the exactly witnessed distance, so NOT_EQUIVALENT."""
    import relucert
    from relucert import Box, transforms
    from relucert.examples import small_regressor

    net = small_regressor(tuple(sizes), seed=seed)
    box = Box.cube(net.n_inputs, -1.0, 1.0)
    new, claim = transforms.apply(transform, net, box)
    ref = claim.reference if claim.reference is not None else net
    d = relucert.distance(ref, new, box, atol=1e-6, rtol=1e-3, time_limit=60)
    lower = float(d.lower)
    if not lower > 0:
        raise RuntimeError(f"{label}: no positive witnessed distance (got {d.lower}); cannot make a NOT_EQUIVALENT case")
    return Instance(f"{label} eps=0.5x", ref, new, box, 0.5 * lower, None, "NOT_EQUIVALENT", "known-bad rewrite",
                    why=f"|f - g| = {lower:.6g} is attained exactly at an input (relucert.distance witness)",
                    info={"witnessed_distance": lower})


def instances(quick: bool) -> list[Instance]:
    out = list(_noisy_instances())
    out.append(_bad_instance("mutate-perturb 2-16-16-1", "mutate-perturb", (2, 16, 16, 1), 4))
    if not quick:
        out.append(_rewrite_instance("vardi-narrow 2-8-1", "vardi-narrow", (2, 8, 1), 8))
        out.append(_rewrite_instance("vardi-narrow 2-8-1", "vardi-narrow", (2, 8, 1), 8, eps=1e-6))
        out.append(_rewrite_instance("permute 2-32-32-1", "permute", (2, 32, 32, 1), 11))
        out.append(_rewrite_instance("fan-deep 2-4-4-1", "fan-deep", (2, 4, 4, 1), 3))
        out.append(_rewrite_instance("arora-1d 1-8-8-1", "arora-1d", (1, 8, 8, 1), 8))
        out.append(_bad_instance("arora-1d-short 1-8-8-1", "arora-1d-short", (1, 8, 8, 1), 3))
        out += _acas_instances(ACAS_IDS_FULL)
    return out


@register_suite("compare", "side by side on eps-equivalence instances with known answers: relucert, plain big-M "
                "MILP (HiGHS, PuLP/CBC), z3 alone, Marabou; wrong answers are unexpected",
                summarize=lambda recs, data: compare_summary(recs, data),
                headline=lambda recs, data: compare_headline(recs, data))
def compare(quick: bool, options: dict) -> list[Case]:
    limit = float(options.get("time_limit") or (10.0 if quick else 60.0))
    clock = options.get("clock") or "cpu"
    return tool_cases(instances(quick), list(TOOLS), limit, clock)


# -- summary ---------------------------------------------------------------------------------------

def _fmt_t(t):
    return "-" if t is None or t != t else (f"{t:.3f}" if t < 10 else f"{t:.1f}")


def compare_headline(records: list, data: dict | None = None) -> list:
    """The wrong answers (loudly) and the per-tool table."""
    recs = [r for r in records if "tool" in r]
    if not recs:
        return ["(no records)"]
    return _wrong_lines(recs) + _tool_table(recs)


def compare_summary(records: list, data: dict | None = None) -> list:
    """The headline, then one row per instance and how each answer is known."""
    recs = [r for r in records if "tool" in r]
    if not recs:
        return ["(no records)"]
    return compare_headline(recs, data) + _instance_table(recs)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _wrong_lines(recs) -> list:
    wrong = [r for r in recs if r.get("wrong")]
    spurious = [r for r in recs if r.get("verdict") == "NOT_EQUIVALENT" and r.get("cex_genuine") is False]
    lines = []
    if wrong:
        lines += [f"#### WRONG ANSWERS: {len(wrong)}", "",
                  "**A verdict that contradicts the known answer.** Each is listed here and counted as unexpected above.", "",
                  "| tool | instance | said | known answer | why known | detail |", "|---|---|---|---|---|---|"]
        for r in wrong:
            lines.append(f"| **{r['tool']}** | {r['instance']} | **{r['verdict']}** | {r['truth']} | "
                         f"{_cell(r.get('why_known', ''))} | {_cell(r.get('detail', ''))} |")
        lines.append("")
    else:
        lines += ["**Wrong answers: none** (no tool gave a verdict contradicting a known answer).", ""]
    if spurious:
        lines += [f"**Counterexamples that fail the exact re-evaluation: {len(spurious)}** ("
                  + "; ".join(f"{r['tool']} on {r['instance']}: exact |f - g| = "
                              + ("n/a" if r.get("cex_value") is None else f"{r['cex_value']:.15g}")
                              + f" <= eps = {r['eps']:.15g}" for r in spurious)
                  + ").  Each is a NOT_EQUIVALENT whose evidence is not a counterexample: a wrong answer when the "
                  "known answer is EQUIVALENT, and on a NOT_EQUIVALENT instance a right verdict without a valid "
                  "witness (column 'spurious cex').", ""]
    else:
        lines += ["Every counterexample returned was re-evaluated in exact rational arithmetic on the original weights "
                  "and is genuine.", ""]
    return lines


def _tool_table(recs) -> list:
    clock = recs[0].get("clock", "cpu")
    limit = max(r.get("time_limit_s", 0.0) for r in recs)
    tools = list(dict.fromkeys(r["tool"] for r in recs))
    rel = {r["instance"]: r for r in recs if r["tool"] == "relucert"}
    mar = [r for r in recs if r["tool"] == "marabou" and "startup_cpu_s" in r]
    lines = [f"Times are **{'CPU time (process + waited-for children)' if clock == 'cpu' else 'wall time'}**; "
              f"every tool had the same limit of {limit:g} s per instance on the wall clock"
              + (f" (Marabou: its own timeout is the time left, floored to whole seconds; a query process still "
                 f"running is ended {mar[0].get('kill_grace_cpu_s', MARABOU_CPU_GRACE_S):g} CPU s or "
                 f"{mar[0].get('kill_grace_wall_s', MARABOU_WALL_GRACE_S):g} wall s past it; the "
                 f"start-up of its query processes, {sum(r['startup_cpu_s'] for r in mar):.1f} s CPU in all, is "
                 "not counted)" if mar else "") + ".  Undecided "
              f"instances count at the limit in the totals; the median is over decided instances.  "
              "'ratio' is the tool's time divided by relucert's on the instances both decide correctly "
              "(> 1: relucert faster).", "",
              "| tool | instances | decided | correct | WRONG | spurious cex | undecided | correct where relucert is undecided | median (s) | total (s) | ratio to relucert: median [min, max] (n) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in tools:
        rs = [r for r in recs if r["tool"] == t]
        if all(r["verdict"] == "NOT_INSTALLED" for r in rs):
            lines.append(f"| {TOOL_LABEL.get(t, t)} | {len(rs)} | not installed | - | - | - | - | - | - | - | - |")
            continue
        dec = [r for r in rs if r["verdict"] in DECIDED]
        ok = [r for r in dec if not r.get("wrong")]
        spur = sum(r["verdict"] == "NOT_EQUIVALENT" and r.get("cex_genuine") is False for r in rs)
        beyond = [r["instance"] for r in ok if rel.get(r["instance"]) is not None
                  and rel[r["instance"]]["verdict"] not in DECIDED]
        tot = sum((r["time_s"] if r["verdict"] in DECIDED else max(r["time_s"], r.get("time_limit_s", limit)))
                  for r in rs)
        med = statistics.median([r["time_s"] for r in dec]) if dec else float("nan")
        ratios = []
        for r in ok:
            q = rel.get(r["instance"])
            if q is not None and q["verdict"] == r["verdict"] and not q.get("wrong") and q["time_s"] > 0:
                ratios.append(r["time_s"] / q["time_s"])
        rtxt = "-" if t == "relucert" else (
            f"{statistics.median(ratios):.3g} [{min(ratios):.3g}, {max(ratios):.3g}] ({len(ratios)})" if ratios else "- (0)")
        lines.append(f"| {TOOL_LABEL.get(t, t)} | {len(rs)} | {len(dec)} | {len(ok)} | "
                     f"{'**' + str(len(dec) - len(ok)) + '**' if len(dec) > len(ok) else 0} | "
                     f"{'**' + str(spur) + '**' if spur else 0} | {len(rs) - len(dec)} | "
                     f"{'-' if t == 'relucert' else (str(len(beyond)) + (' (' + ', '.join(beyond) + ')' if beyond else ''))} | "
                     f"{_fmt_t(med)} | {tot:.1f} | {rtxt} |")
    return lines + [""]


def _instance_table(recs) -> list:
    tools = list(dict.fromkeys(r["tool"] for r in recs))
    insts = list(dict.fromkeys(r["instance"] for r in recs))
    by = {(r["instance"], r["tool"]): r for r in recs}
    lines = ["Per instance (verdict, time in s; EQ = EQUIVALENT, NE = NOT_EQUIVALENT, ? = UNKNOWN, "
              "n/i = not installed, **WRONG** marks a wrong answer, (spurious cex) a counterexample failing the exact check):", "",
              "| instance | eps | known answer | " + " | ".join(tools) + " |", "|---|---|---|" + "---|" * len(tools)]
    short = {"EQUIVALENT": "EQ", "NOT_EQUIVALENT": "NE", "UNKNOWN": "?", "NOT_INSTALLED": "n/i"}
    for i in insts:
        any_r = next(r for r in recs if r["instance"] == i)
        cells = []
        for t in tools:
            r = by.get((i, t))
            if r is None:
                cells.append("")
                continue
            s = short.get(r["verdict"], r["verdict"])
            if r.get("wrong"):
                s = f"**WRONG {s}**"
            if r.get("verdict") == "NOT_EQUIVALENT" and r.get("cex_genuine") is False:
                s += " (spurious cex)"
            cells.append(s if r["verdict"] == "NOT_INSTALLED" else f"{s} {_fmt_t(r['time_s'])}")
        lines.append(f"| {i} | {any_r['eps']:.6g} | {short.get(any_r['truth'], any_r['truth'])} | " + " | ".join(cells) + " |")
    lines += ["", "Known answers: " + "; ".join(dict.fromkeys(f"{r['instance']}: {r.get('why_known', '')}" for r in recs
                                                      if r["tool"] == tools[0])) + "."]
    return lines
