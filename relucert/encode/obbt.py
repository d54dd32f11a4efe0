"""Optimization-based bound tightening (OBBT) with LPs of the big-M relaxation.

For hidden layer ``l``, the network truncated after layer ``l`` is encoded with
:class:`~relucert.encode.milp.MilpBuilder` (the current bounds of layers ``< l``), integrality is
dropped (the LP relaxation of one big-M neuron is the triangle relaxation), and each unstable
neuron's pre-activation is maximized and minimized.  One HiGHS instance per layer is reused:
only two objective coefficients change between LPs, so every LP warm-starts from the previous
basis.

.. warning::
   The returned bounds are **float** LP optima (HiGHS tolerances, padded outward by
   ``pad * (1 + |v|)``), not rigorous bounds.  They make MILPs smaller and faster; they do not
   make a proof sound.  A neuron whose true range crosses 0 by less than the LP error could be
   declared stable.  Feed them to the SMT encoding only if you accept that.
"""

from __future__ import annotations

import time

import numpy as np

from ..box import Box
from ..errors import SpecError
from ..network import Network
from ._common import UNSTABLE, check_bounds, check_box, check_network, relu_phases
from .milp import MilpBuilder

__all__ = ["tighten_bounds_lp"]


def tighten_bounds_lp(net: Network, box: Box, bounds, *, layers=None, only_unstable: bool = True,
                      pad: float = 1e-7, time_limit: float | None = None, threads: int | None = 1,
                      stats: dict | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tighten pre-activation ``bounds`` of ``net`` over ``box`` by solving LPs (float; see module note).

    ``bounds``: ``net.depth`` hidden-layer ``(lo, hi)`` pairs, optionally plus the output pair
    (returned in the same shape).  ``layers``: which layers to tighten (0-based; ``net.depth``
    means the outputs, allowed only if an output pair was given); default all hidden layers but
    the first (over a box, the first layer's interval bounds are already the exact range).
    ``threads`` is accepted for compatibility and ignored (HiGHS fixes its thread pool per process).
    ``only_unstable``: skip neurons already stable (their bounds do not enter the MILP).
    ``time_limit``: overall seconds; layers not reached keep their bounds.  Bounds never get
    looser than the input.  ``stats``, if a dict, receives ``lps`` and ``time_s``.
    """
    check_box(box)
    check_network(net, box)
    hidden, out = check_bounds(net, bounds)
    if not (isinstance(pad, (int, float)) and np.isfinite(pad) and pad >= 0):
        raise SpecError(f"pad must be a finite number >= 0, got pad={pad!r}")
    if time_limit is not None and not (float(time_limit) > 0):
        raise SpecError(f"time_limit must be > 0 seconds, got time_limit={time_limit!r}")
    d = net.depth
    top = d if out is not None else d - 1
    if layers is None:
        layers = range(1, d)
    layers = sorted({int(l) for l in layers})
    for l in layers:
        if not 0 <= l <= top:
            raise SpecError(f"layers must be in 0..{top}, got {l}")

    from ..solvers.highs import _hs, load_problem

    highspy = _hs()
    t0 = time.perf_counter()
    cur = [(lo.copy(), hi.copy()) for lo, hi in hidden] + ([(out[0].copy(), out[1].copy())] if out else [])
    n_lp = 0
    for l in layers:
        if time_limit is not None and time.perf_counter() - t0 >= time_limit:
            break
        lo, hi = cur[l]
        if only_unstable and l < d:
            todo = np.flatnonzero(relu_phases(lo, hi) == UNSTABLE)
        else:
            todo = np.arange(lo.size)
        if todo.size == 0:
            continue
        trunc = Network(net.layers[: l + 1])
        b = MilpBuilder(box)
        nv = b.add_network(trunc, cur[:l], tag="n")
        prob = b.build().relaxed()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        load_problem(h, prob)
        ycols = nv.outputs
        for j in todo:
            col = int(ycols[j])
            for sign in (1.0, -1.0):
                if time_limit is not None:
                    left = time_limit - (time.perf_counter() - t0)
                    if left <= 0:
                        break
                    h.setOptionValue("time_limit", float(left))
                h.changeColCost(col, sign)
                h.run()
                n_lp += 1
                if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                    v = sign * float(h.getInfo().objective_function_value)
                    if sign > 0:
                        hi[j] = min(hi[j], v + pad * (1.0 + abs(v)))
                    else:
                        lo[j] = max(lo[j], v - pad * (1.0 + abs(v)))
                if lo[j] > hi[j]:  # LP noise on a (near) fixed value: keep a valid interval
                    lo[j] = hi[j] = 0.5 * (lo[j] + hi[j])
            h.changeColCost(col, 0.0)
    if stats is not None:
        stats.update({"lps": n_lp, "time_s": time.perf_counter() - t0})
    return cur
