"""The papers' suites: exact rewrites of seeded random networks (``regression``), De Morgan
classifiers (``classification``), known-bad rewrites (``negative``) and the papers' checkable
counts (``claims``).  Every case states its expected verdict.

Each rewrite case applies a transform of :mod:`relucert.transforms` and proves or refutes the
claim the transform makes (``transforms.check``); time is the whole check, rewrite included.
"""

from __future__ import annotations

import time

from ..runner import Case, register_suite


def _net(sizes, seed):
    from relucert.examples import small_regressor

    return small_regressor(tuple(sizes), seed=seed)


def _box(d, r=1.0):
    from relucert import Box

    return Box.cube(d, -r, r)


def _rewrite_case(name, transform, build, box, expected, *, group, time_limit):
    def run():
        from relucert import transforms

        t0, c0 = time.perf_counter(), time.process_time()
        net = build()
        new, claim = transforms.apply(transform, net, box)
        res = transforms.check(new, claim, time_limit=time_limit)
        rec = {"verdict": res.verdict.name, "time_s": time.process_time() - c0,
               "wall_s": time.perf_counter() - t0, "method": res.method,
               "sizes_in": "-".join(map(str, net.sizes)), "width_out": new.width, "depth_out": new.depth,
               "claim": claim.kind}
        if res.counterexample is not None:
            rec["detail"] = res.counterexample.detail
        elif res.verdict.name == "UNKNOWN":
            rec["detail"] = res.reason
        return rec

    return Case(name, (expected,), run, group=group, info={"transform": transform})


@register_suite("regression", "exact rewrites of seeded random networks (eps = 0 claims)")
def regression(quick: bool, options: dict) -> list[Case]:
    tl = float(options.get("time_limit") or 120.0)
    cases = []
    widths_1d = (4, 8) if quick else (4, 8, 16, 32)
    for w in widths_1d:
        cases.append(_rewrite_case(f"arora-1d 1-{w}-{w}-1", "arora-1d", lambda w=w: _net([1, w, w, 1], w),
                                   _box(1), "EQUIVALENT", group="arora", time_limit=tl))
    for w in ((4, 8) if quick else (4, 8, 12, 16)):
        cases.append(_rewrite_case(f"vardi-narrow 2-{w}-1", "vardi-narrow", lambda w=w: _net([2, w, 1], w),
                                   _box(2), "EQUIVALENT", group="vardi", time_limit=tl))
    for d in ((2, 4) if quick else (2, 4, 6, 8)):
        sizes = [d, 32, 32, 1]
        for t in ("permute", "deepen", "widen"):
            cases.append(_rewrite_case(f"{t} {'-'.join(map(str, sizes))}", t, lambda s=sizes: _net(s, 11),
                                       _box(d), "EQUIVALENT", group="structural", time_limit=tl))
    if not quick:
        cases.append(_rewrite_case("fan-deep 2-4-4-1", "fan-deep", lambda: _net([2, 4, 4, 1], 3), _box(2),
                                   "EQUIVALENT", group="fan", time_limit=tl))
    return cases


@register_suite("classification", "De Morgan wide (OR of ANDs) and deep (AND of ORs) classifiers, margin claims")
def classification(quick: bool, options: dict) -> list[Case]:
    from relucert.examples import xor_classifier

    tl = float(options.get("time_limit") or 120.0)
    cases = []
    for t in ("demorgan-wide", "demorgan-deep"):
        cases.append(_rewrite_case(f"{t} xor 2-4-1", t, xor_classifier, _box(2), "EQUIVALENT",
                                   group="demorgan", time_limit=tl))
        for seed in ((1,) if quick else (1, 2)):
            cases.append(_rewrite_case(f"{t} 2-6-1 seed {seed}", t, lambda s=seed: _net([2, 6, 1], s), _box(2),
                                       "EQUIVALENT", group="demorgan", time_limit=tl))
    return cases


@register_suite("negative", "known-bad rewrites: each must be refuted with an exact counterexample")
def negative(quick: bool, options: dict) -> list[Case]:
    tl = float(options.get("time_limit") or 120.0)
    cases = [
        _rewrite_case("arora-1d-short 1-8-8-1", "arora-1d-short", lambda: _net([1, 8, 8, 1], 3), _box(1),
                      "NOT_EQUIVALENT", group="arora", time_limit=tl),
        _rewrite_case("vardi-lemma16-printed 2-12-1", "vardi-lemma16-printed", lambda: _net([2, 12, 1], 2), _box(2),
                      "NOT_EQUIVALENT", group="vardi", time_limit=tl),
        _rewrite_case("fan-simplex-sup 1-4-1", "fan-simplex-sup", lambda: _net([1, 4, 1], 5), _box(1),
                      "NOT_EQUIVALENT", group="fan", time_limit=tl),
    ]
    for kind in ("drop", "perturb", "bias", "offset"):
        for d in ((2,) if quick else (2, 5)):
            sizes = [d, 16, 16, 1]
            cases.append(_rewrite_case(f"mutate-{kind} {'-'.join(map(str, sizes))}", f"mutate-{kind}",
                                       lambda s=sizes: _net(s, 4), _box(d), "NOT_EQUIVALENT", group="mutate",
                                       time_limit=tl))
    if not quick:
        cases.append(_rewrite_case("demorgan-sampled 2-6-1", "demorgan-sampled", lambda: _net([2, 6, 1], 9), _box(2),
                                   "NOT_EQUIVALENT", group="demorgan", time_limit=tl))
    return cases


@register_suite("claims", "the papers' checkable counts: w^k pieces, ConvAC ranks")
def claims(quick: bool, options: dict) -> list[Case]:
    def pieces(w, k):
        def run():
            from relucert.expressivity import hard_function
            from relucert.regions import count_pieces

            t0 = time.process_time()
            n = count_pieces(hard_function(w, k), 0.0, 1.0)
            return {"verdict": "HOLDS" if n == w**k else "FAILS", "time_s": time.process_time() - t0,
                    "detail": f"{n} pieces, w^k = {w**k}"}

        return Case(f"hard function w={w} k={k}: w^k pieces", ("HOLDS",), run, group="arora-pieces")

    def rank(name, layers, kind, expected):
        def run():
            from relucert.expressivity import ConvAC, rank_report

            t0 = time.process_time()
            r = rank_report(ConvAC.random((4, 4), 2, layers, seed=1), kind).rank
            return {"verdict": "HOLDS" if r == expected else "FAILS", "time_s": time.process_time() - t0,
                    "detail": f"rank {r}, expected {expected}"}

        return Case(f"ConvAC 4x4, M=2, {name}, {kind}: rank {expected}", ("HOLDS",), run, group="convac")

    cases = [pieces(2, 3), pieces(3, 3), pieces(4, 3)]
    if not quick:
        cases += [pieces(3, 5), pieces(5, 3)]
    # reference 4.7 (2D, H = 4, M = 2; the maximum is M^(H*H/2) = 256)
    cases += [rank("non-overlapping 2x2/2 twice", [(2, 2, 4), (2, 2, 4)], "left-right", 4),
              rank("overlapping 3x3/1", [(3, 1, 4)], "left-right", 256),
              rank("overlapping 2x2/1 twice", [(2, 1, 4), (2, 1, 4)], "left-right", 256)]
    return cases
