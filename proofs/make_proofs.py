"""Rebuild the certificates in proofs/: ``python proofs/make_proofs.py``
(``--bench``: measure larger trees into ``proofs/bench.json`` instead).

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

from relucert import Box, DecisionEquivalence, Distance, EpsEquivalence, Network, Top1Equivalence
from relucert import io as rio
from relucert.certify import certify
from relucert.check import check_certificate

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
sys.path.insert(0, str(HERE))          # bench_acas (the ACAS instance reader)


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
         "weights below 0.05 pruned; eps = 1.5 x the sampled sup"),
        ("rand-quantize", r2, _quantized(r2, 6), Box.cube(3), None,
         "weights rounded to multiples of 2^-6, all outputs; eps = 1.5 x the sampled sup"),
        ("rand-prune-aggressive", r1, _pruned(r1, 0.5), Box.cube(2), EpsEquivalence(0.05),
         "bad transform: weights below 0.5 pruned (refuted)"),
    ]


def transform_cases():
    """Certificates of relucert's own transforms (relucert.transforms): exact rewrites get
    structural proofs, box-exact ones bab proofs at a stated eps, known-bad ones witnesses.
    The models are saved as built, so these certificates stay valid if the transforms change."""
    from relucert import transforms

    n1 = Network.random([1, 6, 1], seed=3, name="rand-1-6-1")
    n2 = Network.random([2, 6, 6, 1], seed=4, name="rand-2-6-6-1")
    n2s = Network.random([2, 8, 1], seed=5, name="rand-2-8-1")
    b1, b2 = Box.cube(1), Box.cube(2)
    out = []
    for name, net, box, eps, what in [
        ("permute", n2, b2, 0.0, "hidden units permuted (seeded); exact on R^2"),
        ("widen", n2, b2, 0.0, "a hidden unit split into copies with outgoing weights / k; exact"),
        ("deepen", n2, b2, 0.0, "identity-carry layers added; exact"),
        ("vardi-rescale", n2, b2, 0.0, "power-of-two rescaling, output restored by doubling layers; exact"),
        ("prune", n2, b2, 0.0, "units dead on the box removed; exact on the box (structural with f_dead)"),
        ("arora-1d", n1, b1, None, "1D net -> one hidden layer with one unit per piece (Arora et al.), at the claim's eps"),
        ("fan-deep", n2s, b2, 1e-3, "wide -> deep running max of DC pieces (Fan et al.), width d+2; eps 1e-3 certified "
                                    "(the construction's 2e-8 float tolerance is not reached by input splitting)"),
        ("vardi-narrow", n2s, b2, 1e-3, "1 hidden layer -> deep narrow net (Vardi et al., corrected Lemma 16); eps 1e-3"),
        ("mutate-drop", n2, b2, None, "KNOWN-BAD: one neuron alive on the box dropped (refuted)"),
        ("arora-1d-short", n1, b1, None, "KNOWN-BAD: the 1D rewrite with p-2 units (refuted)"),
        ("vardi-lemma16-printed", n2s, b2, None, "KNOWN-BAD: Lemma 16 as printed (refuted)"),
    ]:
        try:
            new, claim = transforms.apply(name, net, box)
        except Exception as exc:       # a transform not available in this checkout
            print(f"skipping transform {name}: {exc}", file=sys.stderr)
            continue
        ref = claim.reference or net
        spec = EpsEquivalence(claim.eps if eps is None else max(eps, claim.eps))
        out.append((f"transform-{name}", ref.with_name(f"{name}-input"), new.with_name(name), box, spec, what))
    return out


def _jitter(f: Network, rel: float, seed: int) -> Network:
    """Every weight times (1 + rel * N(0, 1)), seeded (biases kept)."""
    rng = np.random.default_rng(seed)
    return Network([(L.weight * (1 + rel * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers],
                   name=f"{f.name}-jitter{rel:g}")


def claim_cases():
    """bab certificates of top-1, decision and distance claims (the leaves replay the per-claim
    cases of the checker), and a refuted top-1 claim."""
    from relucert import transforms
    from relucert.examples import small_regressor, xor_classifier

    c3 = Network.random([2, 8, 8, 3], seed=7, name="rand-2-8-8-3c")
    r1 = Network.random([2, 8, 8, 1], seed=8, name="rand-2-8-8-1")
    out = [
        ("top1-bab-jitter", c3, _jitter(c3, 1e-3, 1), Box.cube(2), Top1Equivalence(margin=0.006),
         "3-class net vs its weights x (1 + 1e-3 N(0,1)): same top class where f leads by >= 0.006 (bab)"),
        ("top1-jitter-margin0", c3, _jitter(c3, 1e-3, 1), Box.cube(2), Top1Equivalence(),
         "the same pair with margin 0: refuted near a class boundary"),
        ("decision-bab-jitter", r1, _jitter(r1, 1e-3, 2), Box.cube(2),
         DecisionEquivalence(tau_f=0.0, tau_g=0.0, gamma=0.006), "[f > 0] vs [g > 0] with margin 0.006 (bab)"),
        ("distance-jitter", r1, _jitter(r1, 1e-3, 2), Box.cube(2), Distance(atol=1e-4, rtol=0.05),
         "sup |f - g| bracketed within 5%: bab proof of the upper end, witness of the lower end"),
    ]
    absn = Network([([[1.0], [-1.0]], [0.0, 0.0]), ([[1.0, 1.0]], [0.0])], name="abs")
    try:
        new, claim = transforms.apply("vardi-approx", absn, Box([-1.0], [1.0]), c0=2)
        out.append(("transform-vardi-approx-abs", absn, new.with_name("vardi-approx"), Box([-1.0], [1.0]), claim.spec(),
                    f"|x| -> the VYS Theorem 2 approximation (width {new.width}, depth {new.depth}): within "
                    f"{claim.eps:.4g} off {len(claim.excluded)} excluded bad slabs (bab; excluded leaves close by "
                    f"containment)"))
    except Exception as exc:       # the transform not available in this checkout
        print(f"skipping vardi-approx: {exc}", file=sys.stderr)
    for name, build in (("xor", xor_classifier), ("2-6-1", lambda: small_regressor((2, 6, 1), seed=1))):
        net = build()
        try:
            new, claim = transforms.apply("demorgan-wide", net, Box.cube(2))
        except Exception as exc:       # the transform not available in this checkout
            print(f"skipping demorgan-wide: {exc}", file=sys.stderr)
            continue
        out.append((f"demorgan-wide-{name}", net.with_name(f"{name}-classifier"), new.with_name("demorgan-wide"),
                    Box.cube(2), claim.spec(), f"De Morgan wide rewrite (Fan et al.) of the {name} classifier: "
                    f"decision claim tau_g = 1/2, gamma = {claim.gamma:.4g} (bab, lin-v1)"))
    return out


#: certified with alpha hints (one byte per hidden unit at the leaves that close only with one)
HINTED = {"demorgan-wide-2-6-1"}

#: ACAS Xu pairs certified here: the shared data's network 1_5 and its 16-bit copy (the two
#: .nnet files are copied into models/acas/), instances of properties 1 and 3
ACAS = ("acas-0.05-005", "acas-0.05-050")


def acas_cases():
    import shutil

    from bench_acas import DATA, instance, instances

    if not (DATA / "instances.csv").exists():
        print(f"skipping ACAS: {DATA} not found", file=sys.stderr)
        return []
    rows, out = instances(), []
    (MODELS / "acas").mkdir(parents=True, exist_ok=True)
    for iid in ACAS:
        fp, gp, lo, hi, eps, outs = instance(rows[iid])
        local = []
        for src in (fp, gp):
            dst = MODELS / "acas" / src.name
            if not dst.exists():
                shutil.copyfile(src, dst)
            local.append(dst)
        r = rows[iid]
        out.append((iid, local[0], local[1], Box(lo, hi), EpsEquivalence(eps, outputs=outs),
                    f"ACAS Xu {r['net'][:-5]} vs its 16-bit copy, property {r['property']} box, |f_{outs[0]} - g_{outs[0]}| "
                    f"<= {eps} (diff-v1, recorded split inputs)"))
    return out


def _auto_eps(f, g, box):
    """1.5 x the largest |f - g| seen at 50,000 sampled points, to two digits."""
    X = box.sample(50000, np.random.default_rng(0))
    return EpsEquivalence(float(f"{1.5 * np.abs(f(X) - g(X)).max():.2g}"))


def _cell(v) -> str:
    return str(v).replace("|", "\\|")


def update_readme() -> None:
    """Rewrite the two tables of README.md (between their markers) from results.json and bench.json."""
    readme = HERE / "README.md"
    text = readme.read_text()
    tables = {}
    if (HERE / "results.json").exists():
        rows = json.loads((HERE / "results.json").read_text())
        lines = ["| name | what | route | verdict | leaves | bytes | prove s | check s |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['name']} | {_cell(r['what'])} | {r['route']} | {r['verdict']} | {r['leaves']} | {r['bytes']} "
                  f"| {r['prove_s']} | {r['check_s']} |" for r in rows]
        tables["results"] = lines
    if (HERE / "bench.json").exists():
        rows = json.loads((HERE / "bench.json").read_text())
        lines = ["| case | bound | verdict | leaves | bytes | bytes per 10k leaves | prove s | check s |",
                 "|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if "leaves" in r:
                per = r["bytes_per_10k_leaves"] if r["leaves"] >= 1000 else "-"
                lines.append(f"| {_cell(r['case'])} (eps {r['eps']}) | {r['bound']} | {r['verdict']} | {r['leaves']} "
                             f"| {r['bytes']} | {per} | {r['prove_s']} | {r['check_s']} |")
            else:
                lines.append(f"| {_cell(r['case'])} (eps {r['eps']}) | - | {r['verdict']}: {_cell(r['reason'])} "
                             f"| - | - | - | {r['prove_s']} | - |")
        tables["bench"] = lines
    if (HERE / "acas.json").exists():
        rows = json.loads((HERE / "acas.json").read_text())
        lines = ["| instance | verifier | verifier s (cpu) | certified | leaves | bytes | bytes per 10k leaves "
                 "| prove s (cpu) | check s (cpu) | check / prove (cpu) | agrees |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            ratio = f"{r['check_cpu_s'] / r['prove_cpu_s']:.2f}" if r.get("check_cpu_s") and r.get("prove_cpu_s") else "-"
            per = round(r["bytes"] * 1e4 / r["leaves"]) if r.get("leaves", 0) >= 1000 else "-"
            lines.append(f"| {r['name']} | {r['verifier']} | {r['verifier_s']} ({r.get('verifier_cpu_s', '-')}) "
                         f"| {r.get('check', r['certify'])} | {r.get('leaves', '-')} | {r.get('bytes', '-')} | {per} "
                         f"| {r['prove_s']} ({r.get('prove_cpu_s', '-')}) | {r.get('check_s', '-')} "
                         f"({r.get('check_cpu_s', '-')}) | {ratio} | "
                         f"{'- (verifier undecided)' if r['verifier'] == 'UNKNOWN' else r.get('agrees', '-')} |")
        tables["acas"] = lines
    if (HERE / "suites.json").exists():
        rows = json.loads((HERE / "suites.json").read_text())
        lines = ["| case | claim | verifier | certified | route | leaves | bytes | prove s (cpu) | check s (cpu) | agrees |",
                 "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {_cell(r['name'])} | {r['claim']} | {r['verifier']} | {r.get('check', r['certify'])} "
                         f"| {r.get('route', '-')}{'/' + r['bound'] if r.get('bound') else ''} | {r.get('leaves', '-')} "
                         f"| {r.get('bytes', '-')} | {r['prove_s']} ({r['prove_cpu_s']}) "
                         f"| {r.get('check_s', '-')} ({r.get('check_cpu_s', '-')}) "
                         f"| {'-' if r['agrees'] is None else r['agrees']} |")
        tables["suites"] = lines
    for key, lines in tables.items():
        start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
        if start in text and end in text:
            a, b = text.index(start) + len(start), text.index(end)
            text = text[:a] + "\n" + "\n".join(lines) + "\n" + text[b:]
    readme.write_text(text)


def bench_cases():
    r1 = Network.random([2, 16, 16, 1], seed=11, name="rand-2-16-16-1")
    r4 = Network.random([2, 32, 32, 2], seed=14, name="rand-2-32-32-2")
    r5 = Network.random([3, 20, 20, 20, 1], seed=15, name="rand-3-20-20-20-1")
    r6 = Network.random([5, 50, 50, 50, 5], seed=16, name="rand-5-50-50-50-5")
    return [
        ("max-3unit-vs-4unit eps=1e-3", _max3(), _max4(), Box.cube(2), EpsEquivalence(1e-3)),
        ("max-3unit-vs-4unit eps=3e-4", _max3(), _max4(), Box.cube(2), EpsEquivalence(3e-4)),
        ("max-3unit-vs-4unit eps=1e-4", _max3(), _max4(), Box.cube(2), EpsEquivalence(1e-4)),
        ("rand-2-16-16-1 q8 eps=1.02x sampled sup", r1, _quantized(r1, 8), Box.cube(2), 1.02),
        ("rand-2-32-32-2 prune0.02 eps=1.05x sampled sup", r4, _pruned(r4, 0.02), Box.cube(2), 1.05),
        ("rand-3-20-20-20-1 q7 eps=1.5x sampled sup", r5, _quantized(r5, 7), Box.cube(3), 1.5),
        ("rand-2-32-32-2 q10 eps=1.005x sampled sup", r4, _quantized(r4, 10), Box.cube(2), 1.005),
        ("rand-5-50-50-50-5 q10 eps=2x sampled sup", r6, _quantized(r6, 10), Box.cube(5, -0.5, 0.5), 2.0),
    ]


def bench() -> int:
    """Larger trees (not kept in the repo): prove time, check time and size per 10,000 leaves."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, f, g, box, spec in bench_cases():
            if not isinstance(spec, EpsEquivalence):   # a factor above the sampled sup
                X = box.sample(50000, np.random.default_rng(0))
                spec = EpsEquivalence(float(f"{spec * np.abs(f(X) - g(X)).max():.3g}"))
            t0 = time.perf_counter()
            res = certify(f, g, box, spec, time_limit=60, fallback_verify=False)
            prove_s = time.perf_counter() - t0
            if res.certificate is None:
                row = {"case": name, "eps": spec.eps, "verdict": str(res.verdict), "reason": res.reason,
                       "prove_s": round(prove_s, 3)}
                rows.append(row)
                print(json.dumps(row))
                continue
            prove_s = time.perf_counter() - t0
            path = Path(tmp) / "c.json"
            size = res.write(path, save_models=True)
            t0 = time.perf_counter()
            rep = check_certificate(path)
            check_s = time.perf_counter() - t0
            leaves = rep.stats.get("leaves", 0)
            tree_bytes = len(res.certificate["proof"]["tree"]["bits"]) if "proof" in res.certificate else 0
            row = {"case": name, "eps": spec.eps, "verdict": rep.verdict,
                   "bound": res.certificate.get("proof", {}).get("bound"), "leaves": leaves, "bytes": size,
                   "tree_bytes": tree_bytes, "bytes_per_10k_leaves": round(size * 1e4 / max(leaves, 1)),
                   "prove_s": round(prove_s, 3), "check_s": round(check_s, 3)}
            rows.append(row)
            print(json.dumps(row))
    (HERE / "bench.json").write_text(json.dumps(rows, indent=1) + "\n")
    update_readme()
    return 0


def main(argv=None) -> int:
    if argv and "--bench" in argv:
        return bench()
    MODELS.mkdir(exist_ok=True)
    results = []
    for name, f, g, box, spec, what in cases() + transform_cases() + claim_cases() + acas_cases():
        if spec is None:
            spec = _auto_eps(f, g, box)
        if isinstance(f, Path):      # given model files (ACAS)
            fp, gp = f, g
        else:
            fp, gp = MODELS / f"{name}.f.npz", MODELS / f"{name}.g.npz"
            rio.save(f, fp)
            rio.save(g, gp)
        t0 = time.perf_counter()
        res = certify(fp, gp, box, spec, hints=name in HINTED)
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
    update_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
