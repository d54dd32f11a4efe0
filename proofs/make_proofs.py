"""Rebuild the certificates in proofs/: ``python proofs/make_proofs.py``.

Every network here is built in code (worked examples of the papers, or seeded random nets and
their rewrites) and saved as ``.npz`` under ``proofs/models/``; each case is certified with
:func:`relucert.certify.certify`, written as ``proofs/<name>.cert.json``, re-checked with the
independent checker, and the figures (prove time, check time, size, leaves) go to
``proofs/results.json`` (the table in ``proofs/README.md`` is copied from it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from relucert import Box, EpsEquivalence, Network, Top1Equivalence
from relucert import io as rio
from relucert.certify import certify
from relucert.check import check_certificate

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"


def _abs_wide():
    """|x| with one hidden layer (seed constructions 1.5)."""
    return Network([([[1.0], [-1.0]], [0.0, 0.0]), ([[1.0, 1.0]], [0.0])], name="abs-wide")


def _abs_deep(out_bias=1.0):
    """|x| on [-1, 1] by the deep exact scheme (seed constructions 2.5): sigma(2x) - x."""
    return Network([([[1.0]], [1.0]), ([[1.0], [2.0]], [0.0, -2.0]), ([[-1.0, 1.0]], [out_bias])],
                   name="abs-deep")


def _max3():
    return Network([([[1.0, -1.0], [0.0, 1.0], [0.0, -1.0]], [0.0, 0.0, 0.0]), ([[1.0, 1.0, -1.0]], [0.0])],
                   name="max-3unit")


def _max4():
    return Network([([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]], [0.0] * 4),
                    ([[0.5, -0.5, 0.5, 0.5]], [0.0])], name="max-4unit")


def _net221(swap=False):
    W1 = [[1.0, -1.0], [1.0, 1.0]] if swap else [[1.0, 1.0], [1.0, -1.0]]
    W2 = [[-1.0, 1.0]] if swap else [[1.0, -1.0]]
    return Network([(W1, [0.0, 0.0]), (W2, [0.0])], name="net221" + ("-swapped" if swap else ""))


def _perm_scale(f: Network, seed: int) -> Network:
    """Permute every hidden layer's units and scale them by positive powers of two (exact)."""
    rng = np.random.default_rng(seed)
    layers, prev_p, prev_s = [], np.arange(f.n_inputs), np.ones(f.n_inputs)
    for k, L in enumerate(f.layers):
        W = L.weight[:, prev_p] / prev_s[None, :]
        if k == f.depth:
            layers.append((W, L.bias))
            break
        p = rng.permutation(L.n_out)
        s = 2.0 ** rng.integers(-3, 4, L.n_out)
        layers.append((W[p] * s[:, None], L.bias[p] * s))
        prev_p, prev_s = p, s
    return Network(layers, name=f"{f.name}-perm-scale")


def _pruned(f: Network, thresh: float) -> Network:
    return Network([(np.where(np.abs(L.weight) < thresh, 0.0, L.weight), L.bias) for L in f.layers],
                   name=f"{f.name}-pruned{thresh:g}")


def _quantized(f: Network, bits: int) -> Network:
    q = 2.0 ** -bits
    return Network([(np.round(L.weight / q) * q, np.round(L.bias / q) * q) for L in f.layers],
                   name=f"{f.name}-q{bits}")


def cases():
    r1 = Network.random([2, 16, 16, 1], seed=11, name="rand-2-16-16-1")
    r2 = Network.random([3, 12, 12, 2], seed=12, name="rand-3-12-12-2")
    r3 = Network.random([2, 8, 8, 3], seed=13, name="rand-2-8-8-3")
    return [
        # name, f, g, box, spec, what
        ("abs-wide-vs-deep", _abs_wide(), _abs_deep(), Box([-1.0], [0.7]), EpsEquivalence(1e-6),
         "|x|: 1 hidden layer vs the deep exact scheme (2 hidden layers); exact CPWL rewrite"),
        ("abs-deep-missing-bias", _abs_wide(), _abs_deep(out_bias=0.0), Box.cube(1), EpsEquivalence(0.1),
         "bad transform: the deep |x| without its output bias (refuted)"),
        ("max-3unit-vs-4unit", _max3(), _max4(), Box.cube(2), EpsEquivalence(1e-3),
         "max(x1, x2): two exact one-layer formulas"),
        ("net221-relabel", _net221(), _net221(swap=True), Box.cube(2), EpsEquivalence(0.0),
         "sigma(x1+x2) - sigma(x1-x2) and its unit relabelling (structural, eps = 0)"),
        ("rand-perm-scale", r1, _perm_scale(r1, 1), Box.cube(2), EpsEquivalence(0.0),
         "hidden units permuted and scaled by powers of two (structural, eps = 0)"),
        ("rand-deepen", r2, r2.deepen(2), Box.cube(3), EpsEquivalence(0.0),
         "two identity-carry layers appended (Network.deepen; structural, eps = 0)"),
        ("rand-top1-perm", r3, _perm_scale(r3, 2), Box.cube(2), Top1Equivalence(),
         "classifier and its permuted/scaled rewrite agree on the top class (structural)"),
        ("rand-prune", r1, _pruned(r1, 0.05), Box.cube(2), None,
         "weights below 0.05 pruned; eps = 1.5 x the sound distance bound"),
        ("rand-quantize", r2, _quantized(r2, 6), Box.cube(3), None,
         "weights rounded to multiples of 2^-6, all outputs; eps = 1.5 x the sound distance bound"),
        ("rand-prune-aggressive", r1, _pruned(r1, 0.5), Box.cube(2), EpsEquivalence(0.05),
         "bad transform: weights below 0.5 pruned (refuted)"),
    ]


def _auto_eps(f, g, box):
    from relucert import distance

    d = distance(f, g, box, atol=1e-5, rtol=1e-2)
    eps = float(f"{1.5 * d.upper:.2g}")
    return EpsEquivalence(eps)


def main(argv=None) -> int:
    MODELS.mkdir(exist_ok=True)
    results = []
    for name, f, g, box, spec, what in cases():
        if spec is None:
            spec = _auto_eps(f, g, box)
        fp, gp = MODELS / f"{name}.f.npz", MODELS / f"{name}.g.npz"
        rio.save(f, fp)
        rio.save(g, gp)
        t0 = time.perf_counter()
        res = certify(fp, gp, box, spec)
        prove_s = time.perf_counter() - t0
        cert = HERE / f"{name}.cert.json"
        size = res.write(cert)
        t0 = time.perf_counter()
        rep = check_certificate(cert)
        check_s = time.perf_counter() - t0
        proof = res.certificate.get("proof", {})
        row = {"name": name, "what": what, "claim": rep.claim, "verdict": rep.verdict,
               "route": proof.get("kind", "witness"), "leaves": rep.stats.get("leaves", 0),
               "bytes": size, "prove_s": round(prove_s, 3), "check_s": round(check_s, 3)}
        results.append(row)
        print(f"{name:24s} {rep.verdict:9s} {row['route']:10s} leaves {row['leaves']:6d} "
              f"{size:6d} B  prove {prove_s:7.3f} s  check {check_s:7.3f} s")
        if not rep.holds:
            print(rep, file=sys.stderr)
            return 1
    (HERE / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
