"""Certified mode on the benchmark suites: does the checker agree with the verifier, and how do
certificate size and check time compare with prove time?

    python proofs/bench_suites.py [--time-limit S] [--out proofs/suites.json] [--only SUBSTR]

Cases (the quick variants of ``benchmarks/suites``): the papers' ``regression``,
``classification`` and ``negative`` rewrites (``relucert.transforms``: the verifier's verdict
is ``transforms.check``), the ``noisy`` 2-20-20-1 pair at 1.02x / 0.98x its sup distance, and the
``mnist`` 3x100 pair against its 16-bit copy on two L-inf boxes (``relucert.verify``).  ACAS Xu
is in ``bench_acas.py``.  For each case: the verifier's verdict and time; ``certify``'s verdict,
prove time (wall and CPU); and for the written certificate the checker's verdict, check time,
size and leaves.  ``agrees``: the checker's verdict matches the verifier's (VERIFIED =
EQUIVALENT, REFUTED = NOT_EQUIVALENT); a case certified mode leaves UNKNOWN has no certificate
and ``agrees`` null.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def paper_cases():
    from relucert import Box
    from relucert.examples import small_regressor, xor_classifier

    def net(sizes, seed):
        return lambda: small_regressor(tuple(sizes), seed=seed)

    b1, b2 = Box.cube(1), Box.cube(2)
    out = []
    for w in (4, 8):
        out.append((f"arora-1d 1-{w}-{w}-1", "arora-1d", net([1, w, w, 1], w), b1, "EQUIVALENT"))
    for w in (4, 8):
        out.append((f"vardi-narrow 2-{w}-1", "vardi-narrow", net([2, w, 1], w), b2, "EQUIVALENT"))
    for d in (2, 4):
        for t in ("permute", "deepen", "widen"):
            out.append((f"{t} {d}-32-32-1", t, net([d, 32, 32, 1], 11), Box.cube(d), "EQUIVALENT"))
    for t in ("demorgan-wide", "demorgan-deep"):
        out.append((f"{t} xor 2-4-1", t, xor_classifier, b2, "EQUIVALENT"))
        out.append((f"{t} 2-6-1 seed 1", t, net([2, 6, 1], 1), b2, "EQUIVALENT"))
    out += [("arora-1d-short 1-8-8-1", "arora-1d-short", net([1, 8, 8, 1], 3), b1, "NOT_EQUIVALENT"),
            ("vardi-lemma16-printed 2-12-1", "vardi-lemma16-printed", net([2, 12, 1], 2), b2, "NOT_EQUIVALENT"),
            ("fan-simplex-sup 1-4-1", "fan-simplex-sup", net([1, 4, 1], 5), b1, "NOT_EQUIVALENT")]
    for kind in ("drop", "perturb", "bias", "offset"):
        out.append((f"mutate-{kind} 2-16-16-1", f"mutate-{kind}", net([2, 16, 16, 1], 4), b2, "NOT_EQUIVALENT"))
    return out


def _spec_of(ref, claim, box):
    from relucert.transforms.base import float_tolerance
    from relucert.verify.spec import EpsEquivalence

    spec = claim.spec()
    if not claim.weights_exact and claim.box is None and claim.kind == "exact":
        spec = EpsEquivalence(4 * float_tolerance(ref, box))       # as transforms.check reads it
    return spec


def records(time_limit: float, only: str | None):
    """(name, group, f, g, box, spec, verifier call) for every case."""
    import relucert
    from relucert import transforms

    for name, t, build, box, expected in paper_cases():
        if only and only not in name:
            continue
        n = build()
        new, claim = transforms.apply(t, n, box)
        ref = claim.reference or n
        yield (name, "papers", ref, new, box, _spec_of(ref, claim, box),
               lambda new=new, claim=claim: transforms.check(new, claim, time_limit=time_limit), expected)
    from benchmarks.suites.real_networks import DATA, mnist_points, noisy_pair

    if not only or "noisy" in only:
        f, g = noisy_pair(0)
        box = relucert.Box(-np.ones(2), np.ones(2))
        ref = relucert.distance(f, g, box, atol=0.0, rtol=1e-5, time_limit=60)
        for factor, expected in ((1.02, "EQUIVALENT"), (0.98, "NOT_EQUIVALENT")):
            spec = relucert.EpsEquivalence(factor * (float(ref.upper) if factor > 1 else float(ref.lower)))
            yield (f"noisy-2-20-20-1-eps{factor:.2f}x", "noisy", f, g, box, spec,
                   lambda f=f, g=g, box=box, spec=spec: relucert.verify(f, g, box, spec, time_limit=time_limit),
                   expected)
    if (not only or "mnist" in only) and (DATA / "nnet" / "mnist_relu_3_100.nnet").exists():
        from relucert.io.nnet import load_nnet

        f = load_nnet(DATA / "nnet" / "mnist_relu_3_100.nnet")
        g = load_nnet(DATA / "compressed_nnets" / "mnist_relu_3_100_16bit.nnet")
        for i, c in enumerate(mnist_points(2)):
            for r, eps, expected in ((0.005, 0.01, "EQUIVALENT"), (0.005, 1e-4, "NOT_EQUIVALENT")):
                box = relucert.Box(np.clip(c - r, 0.0, 1.0), np.clip(c + r, 0.0, 1.0))
                spec = relucert.EpsEquivalence(eps)
                yield (f"mnist-p{i}-r{r:g}-eps{eps:g}", "mnist", f, g, box, spec,
                       lambda box=box, spec=spec: relucert.verify(f, g, box, spec, method="bab",
                                                                 time_limit=time_limit), expected)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--out", default=str(HERE / "suites.json"))
    ap.add_argument("--only", default=None, help="only cases whose name contains this")
    args = ap.parse_args(argv)
    from relucert.certify import certify
    from relucert.check import check_certificate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, group, f, g, box, spec, verify_call, expected) in enumerate(records(args.time_limit, args.only)):
            t, c = time.perf_counter(), time.process_time()
            v = verify_call()
            rec = {"name": name, "group": group, "claim": spec.kind, "expected": expected, "verifier": v.verdict.name,
                   "verifier_s": round(time.perf_counter() - t, 3), "verifier_cpu_s": round(time.process_time() - c, 3)}
            t, c = time.perf_counter(), time.process_time()
            res = certify(f, g, box, spec, time_limit=args.time_limit, fallback_verify=True)
            rec.update(certify=res.verdict.name, prove_s=round(time.perf_counter() - t, 3),
                       prove_cpu_s=round(time.process_time() - c, 3), reason=res.reason[:200])
            rec["agrees"] = None
            if res.certificate is not None:
                path = Path(tmp) / f"c{k}.cert.json"
                rec["bytes"] = res.write(path, save_models=True)
                proof = res.certificate.get("proof", {})
                rec["route"] = proof.get("kind", "witness")
                rec["bound"] = proof.get("bound")
                t, c = time.perf_counter(), time.process_time()
                rep = check_certificate(path)
                rec.update(check=rep.verdict, check_s=round(time.perf_counter() - t, 3),
                           check_cpu_s=round(time.process_time() - c, 3), leaves=rep.stats.get("leaves", 0))
                rec["agrees"] = {"VERIFIED": "EQUIVALENT", "REFUTED": "NOT_EQUIVALENT"}.get(rep.verdict) == v.verdict.name
            print(json.dumps(rec), flush=True)
            rows.append(rec)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
