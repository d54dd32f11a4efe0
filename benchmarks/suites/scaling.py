"""Scaling: time of the transform checks against network size, with the fitted growth exponent.

Families (every case is an exact rewrite, expected EQUIVALENT, checked by
``transforms.check(new, claim)`` with its default method, which for these low-dimensional
``eps = 0`` claims is the exact region prover):

* ``vardi-narrow d=1``: Vardi-Yehudai-Shamir deep narrow rewrite (corrected Lemma 16) of a
  seeded shallow ``1-w-1`` net; the rewrite has ``w + 1`` hidden layers of width 4;
* ``vardi-narrow d=2``: the same for ``2-w-1`` nets (rewrite width ``d + 3`` on a box);
* ``fan-deep d=1`` / ``d=2``: Fan et al.'s deep rewrite of ``d-w-1`` nets.

The growth exponent ``k`` of ``time ~ c * w^k`` is the least-squares slope of ``log(time)``
against ``log(w)`` over the family's cases (``time`` the check's time on the chosen clock:
CPU by default).  The rewrite's own construction time is recorded apart (``apply_s``).
"""

from __future__ import annotations

import math
import time

from ..runner import Case, register_suite

FAMILIES = {
    # family: (transform, input dim, widths full, widths quick)
    "vardi-narrow d=1": ("vardi-narrow", 1, (10, 30, 100, 300, 1000), (10, 30, 100)),
    "vardi-narrow d=2": ("vardi-narrow", 2, (10, 15, 20, 30, 40), (10, 15)),
    "fan-deep d=1": ("fan-deep", 1, (4, 16, 64, 128, 256), (4, 16, 64)),
    "fan-deep d=2": ("fan-deep", 2, (4, 6, 8, 12, 16), (4, 8)),
}


def _case(family, transform, d, w, clock, tl):
    def run():
        from relucert import Box, transforms
        from relucert.examples import small_regressor

        net = small_regressor((d, w, 1), seed=w)
        box = Box.cube(d, -1.0, 1.0)
        c0, w0 = time.process_time(), time.perf_counter()
        new, claim = transforms.apply(transform, net, box)
        c1, w1 = time.process_time(), time.perf_counter()
        res = transforms.check(new, claim, time_limit=tl)
        cpu, wall = time.process_time() - c1, time.perf_counter() - w1
        rec = {"verdict": res.verdict.name, "time_s": cpu if clock == "cpu" else wall, "cpu_s": cpu, "wall_s": wall,
               "apply_s": (c1 - c0) if clock == "cpu" else (w1 - w0), "method": res.method, "width_in": w,
               "depth_out": new.depth, "width_out": new.width, "relus_out": new.n_relus, "family": family,
               "clock": clock}
        if res.verdict.name == "UNKNOWN":
            rec["detail"] = str(res.reason)
        return rec

    return Case(f"{family} w={w}", ("EQUIVALENT",), run, group=family, info={"transform": transform})


@register_suite("scaling", "time of the transform checks against width (Vardi deep-narrow rewrites of 1-w-1 nets "
                "up to w = 1000, of 2-w-1 nets; Fan deep rewrites), fitted growth exponent",
                summarize=lambda recs, data: scaling_summary(recs, data),
                headline=lambda recs, data: scaling_summary(recs, data))
def scaling(quick: bool, options: dict) -> list[Case]:
    clock = options.get("clock") or "cpu"
    tl = float(options.get("time_limit") or 600.0)
    cases = []
    for fam, (t, d, full, q) in FAMILIES.items():
        for w in (q if quick else full):
            cases.append(_case(fam, t, d, w, clock, tl))
    return cases


def fit_exponent(xs, ys):
    """Least-squares ``(k, c)`` of ``log y = k log x + log c`` (positive pairs only); ``None``
    with fewer than two points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    k = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    return k, math.exp(my - k * mx)


def scaling_summary(records, data=None):
    clock = records[0].get("clock", "cpu") if records else "cpu"
    lines = [f"Check times are **{'CPU' if clock == 'cpu' else 'wall'} time** of `transforms.check` (the rewrite's "
             "construction is the `apply` column); exponent k: least-squares fit of log(time) = k log(w) + log(c) over "
             "the family's decided cases.", "",
             "| family | widths w | check time (s) per w | apply (s) per w | rewrite depth x width | method | fitted k | fitted k, largest 3 w |",
             "|---|---|---|---|---|---|---|---|"]
    fams: dict = {}
    for r in records:
        fams.setdefault(r.get("family", r.get("group")), []).append(r)
    for fam, rs in fams.items():
        ok = [r for r in rs if r["verdict"] == "EQUIVALENT"]
        fit = fit_exponent([r["width_in"] for r in ok], [r["time_s"] for r in ok])
        tail = ok[-3:]
        fit3 = fit_exponent([r["width_in"] for r in tail], [r["time_s"] for r in tail]) if len(tail) == 3 else None
        widths = ", ".join(str(r["width_in"]) for r in rs)
        times = ", ".join(format(r["time_s"], ".3g") for r in rs)
        applies = ", ".join(format(r["apply_s"], ".2g") for r in rs)
        shapes = ", ".join(f"{r['depth_out']}x{r['width_out']}" for r in rs)
        methods = ", ".join(sorted({str(r.get("method")) for r in rs}))
        k_all = "-" if fit is None else format(fit[0], ".2f")
        k_3 = "-" if fit3 is None else format(fit3[0], ".2f")
        lines.append(f"| {fam} | {widths} | {times} | {applies} | {shapes} | {methods} | {k_all} | {k_3} |")
    return lines
