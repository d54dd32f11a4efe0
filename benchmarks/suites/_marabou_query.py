"""One Marabou query in its own process (the compare suite's ``marabou`` tool runs one per query).

``python _marabou_query.py QUERY.json RESULT.json``: reads the product network ``f - g`` (its
layers' weights and biases as exact float64 values), the box, the output index ``k``, the side
(``"ge"``: ``out_k >= eps``; ``"le"``: ``out_k <= -eps``), ``eps`` and Marabou's own timeout;
solves with Marabou's defaults (:func:`maraboupy.Marabou.createOptions` values, one worker,
verbosity 0) and writes ``{"code", "x", "out", "solve_cpu_s", "solve_wall_s"}`` to RESULT.json.

Run by the parent (``compare._marabou_solve``) under RLIMIT_CPU and a wall-clock kill: Marabou
was seen to ignore its own timeout for about 50 minutes on some instances.  This module imports
only numpy and maraboupy's core (not relucert, not ``maraboupy.Marabou``, whose ONNX import alone
costs over a second), and it has no relative imports, so it also runs as a plain script.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

import numpy as np


def build_network(layers, lo, hi):
    """A ``MarabouNetwork`` of the feed-forward ReLU net ``layers`` (``[(W, b), ...]``, ReLU
    after every layer but the last) on the box ``[lo, hi]``.  Returns ``(net, input vars,
    output vars)``; each pre-activation is its own variable tied by one equation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from maraboupy.MarabouNetwork import MarabouNetwork

    net = MarabouNetwork()
    xs = [net.getNewVariable() for _ in range(len(lo))]
    for v, a, b in zip(xs, lo, hi):
        net.setLowerBound(v, float(a))
        net.setUpperBound(v, float(b))
    h = xs
    for li, (W, bias) in enumerate(layers):
        last = li == len(layers) - 1
        W, bias = np.asarray(W, dtype=float), np.asarray(bias, dtype=float)
        nxt = []
        for j in range(W.shape[0]):
            z = net.getNewVariable()
            nz = np.flatnonzero(W[j])
            net.addEquality([h[i] for i in nz] + [z], [float(W[j, i]) for i in nz] + [-1.0], -float(bias[j]))
            if last:
                nxt.append(z)
            else:
                r = net.getNewVariable()
                net.addRelu(z, r)
                nxt.append(r)
        h = nxt
    net.inputVars = [np.array(xs)]
    net.outputVars = [np.array(h)]
    return net, xs, h


def default_options(timeout_s: int, verbosity: int | None = None):
    """Marabou's defaults as :func:`maraboupy.Marabou.createOptions` sets them (maraboupy 2.0),
    with ``timeoutInSeconds=timeout_s`` and ``verbosity=0`` (or ``$RELUCERT_MARABOU_VERBOSITY``,
    for looking into a query by hand)."""
    from maraboupy import MarabouCore

    if verbosity is None:
        verbosity = int(os.environ.get("RELUCERT_MARABOU_VERBOSITY", "0"))

    o = MarabouCore.Options()
    o._numWorkers, o._initialTimeout, o._initialDivides, o._onlineDivides = 1, 5, 0, 2
    o._timeoutInSeconds, o._timeoutFactor, o._verbosity, o._snc = int(timeout_s), 1.5, verbosity, False
    o._splittingStrategy, o._sncSplittingStrategy, o._restoreTreeStates = "auto", "auto", False
    o._splitThreshold, o._solveWithMILP, o._preprocessorBoundTolerance = 20, False, 1e-10
    o._dumpBounds, o._tighteningStrategy, o._milpTightening, o._milpSolverTimeout = False, "deeppoly", "none", 0
    o._numSimulations, o._numBlasThreads, o._performLpTighteningAfterSplit = 10, 1, False
    o._lpSolver, o._produceProofs = "", False
    return o


def solve_query(q: dict) -> dict:
    c0, w0 = time.process_time(), time.perf_counter()
    layers = [(np.array(L["W"], dtype=float).reshape(L["shape"]), np.array(L["b"], dtype=float)) for L in q["layers"]]
    net, xs, outs = build_network(layers, q["lo"], q["hi"])
    out = outs[int(q["k"])]
    if q["side"] == "ge":
        net.setLowerBound(out, float(q["eps"]))
    else:
        net.setUpperBound(out, -float(q["eps"]))
    code, vals, _ = net.solve(options=default_options(q["timeout_s"]), verbose=False)
    rec = {"code": str(code), "solve_cpu_s": time.process_time() - c0, "solve_wall_s": time.perf_counter() - w0}
    if str(code) == "sat":
        rec["x"] = [float(vals[v]) for v in xs]
        rec["out"] = float(vals[out])
    return rec


def main(argv) -> int:
    src, dst = argv
    with open(src) as fh:
        q = json.load(fh)
    rec = solve_query(q)
    with open(dst, "w") as fh:
        json.dump(rec, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
