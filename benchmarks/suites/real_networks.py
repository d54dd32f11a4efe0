"""Real networks: ACAS Xu against their 16-bit truncations, the MNIST 3x100 pair, and the seeded
2-20-20-1 net against a noisy copy.

ACAS semantics follow ``/work/shared/data/acas-neurodiff/README.md``: each ``.nnet`` is the bare
network on normalised inputs (no folding, no output de-normalisation), the box is
``box_lo_norm``/``box_hi_norm``; the *target* reading bounds ``|g_t - f_t|`` for the property's
target output only (the reading the peer tool NeuroDiff checks), the *all* reading bounds
``max_k |g_k - f_k|``.  relucert checks ``sup <= eps`` (the README's strict ``<`` differs only on a
measure-zero boundary).  Every net is loaded once per process; the per-case time is the
``relucert.verify`` call only.
"""

from __future__ import annotations

import csv
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ..runner import Case, register_suite

DATA = Path(os.environ.get("RELUCERT_ACAS_DATA", "/work/shared/data/acas-neurodiff"))
QUICK_ACAS = ("acas-0.05-009", "acas-0.05-050", "acas-0.05-060", "acas-0.05-070",
              "acas-0.05-090", "acas-0.05-100", "acas-0.05-110")

_NETS: dict = {}
LOAD_TIMES: dict = {}


def _net(path: Path):
    key = str(path)
    if key not in _NETS:
        from relucert.io.nnet import load_nnet

        t = time.perf_counter()
        _NETS[key] = load_nnet(path)
        LOAD_TIMES[key] = time.perf_counter() - t
    return _NETS[key]


def _use_clock(options: dict) -> str:
    """The clock for time limits and reported times: ``cpu`` (process time, the default: the
    machine is shared, and waiting for a core is not the verifier's time) or ``wall``."""
    from relucert.verify.bab import DistanceBaB

    clock = options.get("clock") or "cpu"
    DistanceBaB.clock = staticmethod(time.process_time if clock == "cpu" else time.perf_counter)
    return clock


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the search's helper processes)."""
    try:
        import resource
    except ImportError:  # not on this platform: no helpers either (they need fork)
        return 0.0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _timed(clock: str, call):
    """Run ``call()`` (a ``relucert.verify``) and return its record with both times; ``time_s``
    is the chosen clock's.  ``cpu_s`` includes the CPU time of the call's helper processes
    (``workers`` > 1), which have ended when it returns."""
    w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    res = call()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0 + (_children_cpu() - k0)
    rec = {"verdict": res.verdict.name, "time_s": cpu if clock == "cpu" else wall, "wall_s": wall, "cpu_s": cpu,
           "lower": float(res.lower), "upper": float(res.upper), "nodes": int(res.stats.get("nodes", 0) or 0)}
    if res.verdict.name == "UNKNOWN":
        rec["detail"] = str(res.reason)
    return rec


def _instances():
    with open(DATA / "instances.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _peer_times():
    p = DATA / "peer-times-neurodiff.csv"
    if not p.exists():
        return {}
    with open(p, newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def _acas_cases(eps: str, reading: str, quick: bool, options: dict):
    import relucert
    from relucert.box import Box

    tl = float(options.get("time_limit") or 120.0)
    clock = _use_clock(options)
    workers = int(options.get("workers") or 1)
    rows = [r for r in _instances() if r["eps"] == eps]
    if quick:
        want = {q.replace("0.05", eps) for q in QUICK_ACAS}
        rows = [r for r in rows if r["id"] in want]
    cases = []
    for r in rows:
        f = _net(DATA / "nnet" / r["net"])
        g = _net(DATA / "compressed_nnets" / r["net2"])
        lo = np.array([float(v) for v in r["box_lo_norm"].split(";")])
        hi = np.array([float(v) for v in r["box_hi_norm"].split(";")])
        outputs = [int(r["target_output"])] if reading == "target" else None

        def run(f=f, g=g, lo=lo, hi=hi, outputs=outputs, e=float(eps)):
            box = Box(lo, hi)
            spec = relucert.EpsEquivalence(e, outputs=outputs)
            return _timed(clock, lambda: relucert.verify(f, g, box, spec, method="bab", time_limit=tl,
                                                         workers=workers))

        name = r["id"] + ("" if reading == "target" else "-all")
        cases.append(Case(name, ("EQUIVALENT",), run, group=f"eps={eps} {reading}",
                          info={"property": int(r["property"]), "net": r["net"], "time_limit_s": tl,
                                "clock": clock, "workers": workers}))
    return cases


def _acas_headline(records, data):
    """The table of :func:`_acas_summary` without its explanations (for RESULTS.md's summary)."""
    lines = _acas_summary(records, data)
    return [ln for ln in lines[lines.index("") + 1:] if not ln.startswith("Loading the")]


def _acas_summary(records, data):
    peer = _peer_times()
    tl = max((r.get("time_limit_s", 120.0) for r in records), default=120.0)
    groups: dict = {}
    for r in records:
        groups.setdefault(r["group"], []).append(r)
    clock = records[0].get("clock", "wall") if records else "wall"
    lines = [f"relucert times are **{'CPU (process) time' if clock == 'cpu' else 'wall time'}** of the verify call; "
             f"the time limit ({tl:g} s) is on the same clock.  Time-outs count at the limit, as in the peer's total.  "
             "Peer: NeuroDiff "
             "(C, OpenBLAS, 2 threads, float32 without outward rounding, so its 'proved' is not float-sound), "
             "target-output reading, times from `peer-times-neurodiff.csv` (another run on a machine of the same "
             "kind; compare totals and counts, not single timings).", "",
             "| set | tool | instances | decided | EQUIVALENT | NOT_EQUIVALENT | undecided | total (s) | median (s) | max (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for gname, rs in groups.items():
        eq = sum(r["verdict"] == "EQUIVALENT" for r in rs)
        ne = sum(r["verdict"] == "NOT_EQUIVALENT" for r in rs)
        ts = [r["time_s"] if r["verdict"] in ("EQUIVALENT", "NOT_EQUIVALENT") else tl for r in rs]
        nw = max(int(r.get("workers", 1) or 1) for r in rs)
        who = f", {nw} processes" if nw > 1 else ""
        lines.append(f"| {gname} | relucert ({clock} time{who}) | {len(rs)} | {eq + ne} | {eq} | {ne} | {len(rs) - eq - ne} | "
                     f"{sum(ts):.1f} | {statistics.median(ts):.3f} | {max(ts):.2f} |")
        other = "wall_s" if clock == "cpu" else "cpu_s"
        if all(other in r for r in rs):
            ws = [r[other] for r in rs]
            what = "wall time" if clock == "cpu" else ("CPU time, helpers included" if nw > 1 else "CPU time")
            lines.append(f"| {gname} | relucert ({what}, same run) | {len(rs)} | {eq + ne} | {eq} | {ne} | "
                         f"{len(rs) - eq - ne} | {sum(ws):.1f} | {statistics.median(ws):.3f} | {max(ws):.2f} |")
        if gname.endswith("target") and peer:
            ids = [r["name"] for r in rs]
            pr = [peer[i] for i in ids if i in peer]
            if pr:
                pt = [float(p["wall_s"]) if p["verdict"] != "timeout" else float(p["limit_s"]) for p in pr]
                dec = sum(p["verdict"] != "timeout" for p in pr)
                lines.append(f"| {gname} | NeuroDiff (peer) | {len(pr)} | {dec} | {sum(p['verdict'] == 'proved' for p in pr)} "
                             f"| 0 | {len(pr) - dec} | {sum(pt):.1f} | {statistics.median(pt):.3f} | {max(pt):.2f} |")
                both = [(r["time_s"], float(peer[r["name"]]["wall_s"])) for r in rs
                        if r["name"] in peer and r["verdict"] == "EQUIVALENT" and peer[r["name"]]["verdict"] != "timeout"]
                if both:
                    ratios = sorted(a / b for a, b in both if b > 0)
                    lines.append("")
                    lines.append(f"{gname}: on the {len(both)} instances both decide, relucert/NeuroDiff time ratio: "
                                 f"median {statistics.median(ratios):.2f}, min {ratios[0]:.2f}, max {ratios[-1]:.2f}; "
                                 f"relucert faster on {sum(x < 1 for x in ratios)}.")
                    lines.append("")
    if LOAD_TIMES:
        lines.append(f"Loading the {len(LOAD_TIMES)} .nnet files (once each, not counted above): "
                     f"{sum(LOAD_TIMES.values()):.2f} s.")
    return lines


@register_suite("acas", "ACAS Xu nets vs 16-bit truncations, eps=0.05, target-output reading (peer comparison)",
                summarize=_acas_summary, headline=_acas_headline)
def acas(quick: bool, options: dict):
    return _acas_cases("0.05", "target", quick, options)


@register_suite("acas-0.01", "ACAS Xu nets vs 16-bit truncations, eps=0.01, target-output reading",
                summarize=_acas_summary, headline=_acas_headline)
def acas_001(quick: bool, options: dict):
    return _acas_cases("0.01", "target", quick, options)


@register_suite("acas-all", "ACAS Xu nets vs 16-bit truncations, eps=0.05, all five outputs",
                summarize=_acas_summary, headline=_acas_headline)
def acas_all(quick: bool, options: dict):
    return _acas_cases("0.05", "all", quick, options)


@register_suite("acas-all-0.01", "ACAS Xu nets vs 16-bit truncations, eps=0.01, all five outputs",
                summarize=_acas_summary, headline=_acas_headline)
def acas_all_001(quick: bool, options: dict):
    return _acas_cases("0.01", "all", quick, options)


# -- 2-20-20-1 vs a noisy copy ---------------------------------------------------------------------

def noisy_pair(seed: int = 0, sigma: float = 1e-3):
    """A seeded random 2-20-20-1 ReLU net (standard normal weights / sqrt(fan-in), normal biases
    scaled by 0.1) and a copy with N(0, sigma^2) noise added to every weight and bias."""
    from relucert.network import Network

    rng = np.random.default_rng(seed)
    sizes = [2, 20, 20, 1]
    Ws = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.normal(size=m) for m in sizes[1:]]
    f = Network.from_weights(Ws, bs)
    g = Network.from_weights([W + sigma * rng.normal(size=W.shape) for W in Ws],
                             [b + sigma * rng.normal(size=b.shape) for b in bs])
    return f, g


@register_suite("noisy", "seeded 2-20-20-1 net vs a copy with N(0, 1e-3^2) weight noise, eps at 1.02x and "
                "0.98x the true sup distance on [-1, 1]^2")
def noisy(quick: bool, options: dict):
    import relucert
    from relucert.box import Box

    clock = _use_clock(options)
    f, g = noisy_pair(0)
    box = Box(-np.ones(2), np.ones(2))
    ref = relucert.distance(f, g, box, atol=0.0, rtol=1e-5, time_limit=60)
    lo, hi = float(ref.lower), float(ref.upper)
    cases = []
    for factor, expected in ((1.02, "EQUIVALENT"), (0.98, "NOT_EQUIVALENT")):
        eps = factor * (hi if factor > 1 else lo)

        def run(eps=eps):
            return _timed(clock, lambda: relucert.verify(f, g, box, relucert.EpsEquivalence(eps), time_limit=60))

        cases.append(Case(f"noisy-2-20-20-1-eps{factor:.2f}x", (expected,), run, group="2-20-20-1 noisy copy",
                          info={"eps": eps, "true_distance_bracket": [lo, hi]}))
    return cases


# -- MNIST 3x100 -------------------------------------------------------------------------------------

def mnist_points(k: int = 3, seed: int = 0) -> np.ndarray:
    """The documented synthetic inputs: the constant image 0.5, then ``k - 1`` points drawn
    uniformly from [0, 1]^784 with ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return np.vstack([np.full(784, 0.5), rng.uniform(0.0, 1.0, size=(k - 1, 784))])


@register_suite("mnist", "MNIST 784-100-100-10-10 vs its 16-bit copy on small L-inf boxes (clipped to [0,1]) "
                "around documented synthetic inputs")
def mnist(quick: bool, options: dict):
    import relucert
    from relucert.box import Box

    clock = _use_clock(options)
    f = _net(DATA / "nnet" / "mnist_relu_3_100.nnet")
    g = _net(DATA / "compressed_nnets" / "mnist_relu_3_100_16bit.nnet")
    pts = mnist_points(2 if quick else 3)
    settings = [(0.005, 0.01, "EQUIVALENT"), (0.01, 0.01, "EQUIVALENT"), (0.02, 0.05, "EQUIVALENT"),
                (0.005, 1e-4, "NOT_EQUIVALENT")]
    if quick:
        settings = [settings[0], settings[3]]
    cases = []
    for i, c in enumerate(pts):
        for r, eps, expected in settings:
            box = Box(np.clip(c - r, 0.0, 1.0), np.clip(c + r, 0.0, 1.0))

            def run(box=box, eps=eps):
                return _timed(clock, lambda: relucert.verify(f, g, box, relucert.EpsEquivalence(eps), method="bab",
                                                             time_limit=60))

            cases.append(Case(f"mnist-p{i}-r{r:g}-eps{eps:g}", (expected,), run, group=f"L-inf radius {r:g}, eps {eps:g}",
                              info={"point": "constant 0.5" if i == 0 else f"uniform seed 0 #{i}"}))
    return cases
