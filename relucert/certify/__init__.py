"""Certified mode: prove or refute a claim about ``f`` and ``g`` and emit a certificate that
:mod:`relucert.check` re-checks without trusting any solver.

>>> res = certify("f.npz", "g.npz", Box.cube(2), EpsEquivalence(0.05))   # doctest: +SKIP
>>> res.write("pair.cert.json")                                         # doctest: +SKIP

Proof routes, tried in this order for ``method="auto"``:

1. ``structural``: g is an exact rewrite of f (unit permutation/duplication/positive scaling,
   inserted identity layers, deepening); proves every eps >= 0 and top-1 agreement.
2. ``bab`` (eps claims): the certified input-split search of :mod:`relucert.certify.search`,
   whose leaves are closed by the checker's own bound, so the certificate is just the tree.
3. ``witness``: a counterexample from the search or, when the search stops at a limit, from
   :func:`relucert.verify` (any method), re-evaluated exactly.

MILP or z3 verdicts are never turned into proofs: a claim the certified search cannot close is
reported UNKNOWN, with no certificate.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..box import Box
from ..errors import CertificateError, SpecError
from ..network import Network
from ..verify.result import Verdict
from ..verify.spec import DecisionEquivalence, Distance, EpsEquivalence, Top1Equivalence
from .format import certificate_document, rational, write_certificate
from .search import CertifiedSearch
from .structural import find_structural_proof

__all__ = ["certify", "CertifyResult", "certificate_from_result", "write_certificate", "METHODS"]

METHODS = ("auto", "structural", "bab")


@dataclass
class CertifyResult:
    verdict: Verdict
    certificate: dict | None          # None when UNKNOWN
    reason: str = ""
    stats: dict = field(default_factory=dict)
    f: Network | None = None
    g: Network | None = None

    def write(self, path, *, save_models: bool = False) -> int:
        """Write the certificate (atomically).  With ``save_models``, or when a network came
        without a file, the models are saved as ``.npz`` next to it.  Returns the size in bytes."""
        if self.certificate is None:
            raise CertificateError(f"no certificate to write: the claim is {self.verdict} ({self.reason})")
        path = Path(os.fspath(path))
        doc = self.certificate
        for key, net in (("f", self.f), ("g", self.g)):
            ent = doc["networks"][key]
            if save_models or not ent["file"]:
                from .. import io as rio

                target = path.with_name(f"{path.name.split('.')[0]}.{key}.npz")
                rio.save(net, target)
                ent["file"] = str(target.resolve())
        n = write_certificate(doc, path)
        self.stats["bytes"] = n
        return n


def _as_net(v, name):
    if isinstance(v, Network):
        return v, None
    if isinstance(v, (str, os.PathLike)):
        from .. import io as rio

        return rio.load(v), os.fspath(v)
    raise SpecError(f"{name} must be a Network or a model path, got {type(v).__name__}")


def _decimal(x: float) -> Fraction:
    """The shortest decimal of a float as an exact rational (``0.05 -> 1/20``)."""
    return Fraction(repr(float(x)))


def _claim(spec, box: Box, n_out: int, *, eps_exact: Fraction | None = None) -> dict:
    b = {"lo": [rational(v) for v in box.lo], "hi": [rational(v) for v in box.hi]}
    if isinstance(spec, EpsEquivalence):
        e = _decimal(spec.eps) if eps_exact is None else eps_exact
        out = {"kind": "eps", "box": b, "eps": rational(e), "outputs": spec.outputs_for(n_out)}
        if spec.excluded:
            out["excluded"] = [{"A": [[rational(v) for v in row] for row in P.A], "b": [rational(v) for v in P.b]}
                               for P in spec.excluded]
        return out
    if isinstance(spec, Distance):      # eps_exact: (lower, upper)
        return {"kind": "distance", "box": b, "lower": rational(eps_exact[0]), "upper": rational(eps_exact[1]),
                "outputs": spec.outputs_for(n_out)}
    if isinstance(spec, Top1Equivalence):
        return {"kind": "top1", "box": b, "margin": rational(_decimal(spec.margin)), "tie_break": "lowest_index"}
    return {"kind": "decision", "box": b, "tau_f": rational(_decimal(spec.tau_f)), "tau_g": rational(_decimal(spec.tau_g)),
            "gamma": rational(_decimal(spec.gamma))}


def _doc(f, g, ffile, gfile, claim, result, *, proof=None, witness=None, producer=None):
    return certificate_document(f_file=ffile or "", f_digest=f.digest, g_file=gfile or "", g_digest=g.digest,
                                claim=claim, result=result, proof=proof, witness=witness, producer=producer,
                                f_sizes=f.sizes, g_sizes=g.sizes)


def certificate_from_result(result, f, g, *, f_file=None, g_file=None) -> dict:
    """A witness certificate from a NOT_EQUIVALENT :class:`~relucert.verify.result.VerificationResult`
    (from any method: its counterexample was already re-evaluated exactly).  EQUIVALENT results
    need :func:`certify`, which runs the search a proof certificate describes."""
    if result.verdict is not Verdict.NOT_EQUIVALENT or result.counterexample is None:
        raise CertificateError(f"only NOT_EQUIVALENT results carry a witness; got {result.verdict}: "
                               "use relucert.certify.certify for proofs")
    ce = result.counterexample
    claim = _claim(result.spec, result.box, f.n_outputs,
                   eps_exact=_eps_for_witness(result.spec, ce.value) if isinstance(result.spec, EpsEquivalence) else None)
    return _doc(f, g, f_file, g_file, claim, "refuted", witness={"x": [rational(v) for v in ce.x]},
                producer={"engine": result.method})


def _eps_for_witness(spec, value: Fraction) -> Fraction:
    e = _decimal(spec.eps)
    return e if value > e else Fraction(float(spec.eps))


def _violates(spec, fy, gy) -> bool:
    """Exact: does the claim fail at a point with outputs ``fy``, ``gy`` (lists of Fractions)?"""
    if isinstance(spec, Top1Equivalence):
        i = max(range(len(fy)), key=lambda k: (fy[k], -k))
        j = max(range(len(gy)), key=lambda k: (gy[k], -k))
        lead = min((fy[i] - fy[k] for k in range(len(fy)) if k != i), default=Fraction(0))
        return i != j and lead >= _decimal(spec.margin)
    tf, tg, gam = _decimal(spec.tau_f), _decimal(spec.tau_g), _decimal(spec.gamma)
    return (fy[0] >= tf + gam and gy[0] <= tg) or (fy[0] <= tf - gam and gy[0] > tg)


def _sample_witness(f, g, box, spec, seed, n=4096):
    """A point of the box where a top-1 / decision claim fails (checked exactly), or None."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = np.vstack([box.center, box.lo, box.hi, box.sample(n, rng)])
    Fy, Gy = f(X), g(X)
    if isinstance(spec, Top1Equivalence):
        cand = np.flatnonzero(Fy.argmax(axis=1) != Gy.argmax(axis=1))
    else:
        cand = np.flatnonzero((Fy[:, 0] > spec.tau_f) != (Gy[:, 0] > spec.tau_g))
    for i in cand[:64]:
        xs = [Fraction(float(v)) for v in X[i]]
        if _violates(spec, f.eval_exact(xs), g.eval_exact(xs)):
            return xs
    return None


def certify(f, g, box: Box, spec, *, method: str = "auto", time_limit: float | None = None,
            node_limit: int | None = 2_000_000, batch: int = 256, seed: int = 0,
            fallback_verify: bool = True, relu_splits: bool = False, hints: bool = False) -> CertifyResult:
    """Prove or refute ``spec`` for ``f`` and ``g`` on ``box`` and build the certificate.

    ``f``, ``g``: Networks or model paths (the certificate binds to the files by weight digest).
    ``relu_splits``: split open nodes on unstable first-layer units (ReLU-phase splits) before
    splitting the input box; without beta multipliers this rarely beats input splitting, so it
    is off by default.  ``hints``: store alternative lower slopes for leaves that close only with
    them (the checker re-computes the bound with the hint).  Off by default: a hint costs one
    byte per hidden unit, a split two bits, so hints cut the leaves (by about a third on lin-v1
    pairs) but grow the certificate.
    """
    t0 = time.perf_counter()
    f, ffile = _as_net(f, "f")
    g, gfile = _as_net(g, "g")
    if method not in METHODS:
        raise SpecError(f"method must be one of {', '.join(METHODS)}, got method={method!r}")
    if time_limit is not None and not float(time_limit) > 0:
        raise SpecError(f"time_limit must be > 0 seconds, got time_limit={time_limit!r}")
    if node_limit is not None and not int(node_limit) >= 1:
        raise SpecError(f"node_limit must be >= 1, got node_limit={node_limit!r}")
    if not isinstance(relu_splits, bool):
        raise SpecError(f"relu_splits must be True or False, got relu_splits={relu_splits!r}")
    if relu_splits and f.depth != g.depth:
        raise SpecError(f"relu_splits needs f and g of the same depth, got {f.depth} and {g.depth}")
    if not isinstance(box, Box):
        raise SpecError(f"box must be a relucert.Box, got {type(box).__name__}")
    if not isinstance(spec, (EpsEquivalence, Distance, Top1Equivalence, DecisionEquivalence)):
        raise SpecError(f"certify supports EpsEquivalence (with or without excluded sets), Distance, "
                        f"Top1Equivalence and DecisionEquivalence, got {spec!r:.80}")
    if f.n_inputs != g.n_inputs or f.n_outputs != g.n_outputs:
        raise SpecError(f"f is {f.n_inputs}->{f.n_outputs} but g is {g.n_inputs}->{g.n_outputs}")
    box.check_dim(f.n_inputs, what="networks")
    stats: dict = {}

    def done(verdict, doc, reason):
        stats["prove_s"] = round(time.perf_counter() - t0, 4)
        return CertifyResult(verdict, doc, reason, stats, f, g)

    if isinstance(spec, Distance):
        return _certify_distance(f, g, ffile, gfile, box, spec, done, stats, time_limit=time_limit,
                                 node_limit=node_limit, batch=batch, seed=seed, hints=hints)
    claim = _claim(spec, box, f.n_outputs)
    structural_ok = not isinstance(spec, DecisionEquivalence) or \
        _decimal(spec.tau_f) - _decimal(spec.gamma) <= _decimal(spec.tau_g) < _decimal(spec.tau_f) + _decimal(spec.gamma)
    if method in ("auto", "structural") and structural_ok:
        proof = find_structural_proof(f, g, box)      # confirmed by the checker's routine
        if proof is not None:
            return done(Verdict.EQUIVALENT, _doc(f, g, ffile, gfile, claim, "proved", proof=proof,
                                                 producer={"engine": "structural"}),
                        "g is an exact rewrite of f")
        if method == "structural":
            return done(Verdict.UNKNOWN, None, "no structural relation between f and g was found")
    if method in ("auto", "bab"):
        from ..check.checker import _claim as _read_claim

        cclaim = _read_claim({"claim": claim}, {"f": f, "g": g})      # the checker's own reading of the claim
        search = CertifiedSearch(f, g, cclaim, batch=batch, seed=seed, relu_splits=relu_splits,
                                 hints=hints, violates=lambda fy, gy: _violates(spec, fy, gy))
        out = search.run(box.lo, box.hi, node_limit=node_limit, time_limit=time_limit)
        stats.update(nodes=out.nodes, leaves=out.leaves, bounded=out.bounded, search=out.status)
        if out.hints:
            stats["hinted_leaves"] = len(out.hints)
        if out.status == "proved":
            given = search.split == "sensitivity"
            proof = {"kind": "bab", "bound": search.bound_name,
                     "split_rule": "given-dim-midpoint-v1" if given else "widest-relative-midpoint-v1",
                     "tree": out.tree(with_dims=given)}
            if out.hints:
                proof["hints"] = out.hint_list()
            if isinstance(spec, EpsEquivalence):
                proof["upper"] = rational(out.upper) if out.leaves and out.upper > -float("inf") else "0"
            return done(Verdict.EQUIVALENT, _doc(f, g, ffile, gfile, claim, "proved", proof=proof,
                                                 producer={"engine": "certified-bab"}),
                        f"{out.leaves} leaves closed" + (f"; sup <= {out.upper:.6g}" if isinstance(spec, EpsEquivalence)
                                                         and out.upper > -float("inf") else ""))
        if out.status == "refuted":
            if isinstance(spec, EpsEquivalence):
                claim = _claim(spec, box, f.n_outputs, eps_exact=_eps_for_witness(spec, out.value))
                why = f"max |f - g| = {float(out.value):.6g} > eps at the witness"
            else:
                why = "the claim fails at the witness (exact)"
            return done(Verdict.NOT_EQUIVALENT,
                        _doc(f, g, ffile, gfile, claim, "refuted", witness={"x": [rational(v) for v in out.witness]},
                             producer={"engine": "certified-bab"}), why)
        reason = f"the certified search stopped ({out.status.replace('_', ' ')}) after {out.nodes} nodes"
    else:
        reason = f"no structural proof of the {spec.kind} claim was found"
    if not isinstance(spec, EpsEquivalence):
        x = _sample_witness(f, g, box, spec, seed)
        if x is not None:
            return done(Verdict.NOT_EQUIVALENT, _doc(f, g, ffile, gfile, claim, "refuted",
                                                     witness={"x": [rational(v) for v in x]},
                                                     producer={"engine": "sampling"}),
                        "sampled counterexample, re-evaluated exactly")
    if fallback_verify:
        from ..verify.api import verify

        left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - t0))
        try:
            res = verify(f, g, box, spec, time_limit=left if left is not None else 60.0)
        except ImportError as exc:       # a backend that is not installed or not built yet
            stats["fallback"] = f"unavailable: {exc}"
            return done(Verdict.UNKNOWN, None, reason)
        stats["fallback"] = f"{res.method}: {res.verdict}"
        on_excluded = res.counterexample is not None and isinstance(spec, EpsEquivalence) and spec.excluded and \
            any(P.contains_exact(res.counterexample.x) for P in spec.excluded)
        if on_excluded:     # on the boundary of an excluded polytope: the checker wants points outside
            reason += "; the verifier's counterexample lies on an excluded polytope"
        elif res.verdict is Verdict.NOT_EQUIVALENT and res.counterexample is not None:
            return done(Verdict.NOT_EQUIVALENT, certificate_from_result(res, f, g, f_file=ffile, g_file=gfile),
                        f"counterexample from {res.method}, re-evaluated exactly")
        if res.verdict is Verdict.EQUIVALENT:
            reason += f"; {res.method} proves it, but that proof is not a certificate"
    return done(Verdict.UNKNOWN, None, reason)


def _certify_distance(f, g, ffile, gfile, box, spec, done, stats, *, time_limit, node_limit, batch, seed, hints):
    """A bracket ``[lower, upper]`` of ``sup_x max_k |f_k - g_k|``: the verifier finds the bracket
    and a point near the sup; the certificate proves ``upper`` by the certified search (``upper``
    is the verifier's upper bound, raised to ``lower + max(atol, rtol * lower)`` when that is
    larger, so the bracket meets the tolerance) and gives the point as the witness of ``lower``
    (the largest float at most the exact value there)."""
    from ..check.checker import _claim as _read_claim, _down
    from ..verify.api import verify

    t0 = time.perf_counter()
    res = verify(f, g, box, spec, time_limit=time_limit if time_limit is not None else 60.0)
    stats["verifier"] = f"{res.method}: [{res.lower:.6g}, {res.upper:.6g}]"
    if res.witness_x is None or not res.upper < float("inf"):
        return done(Verdict.UNKNOWN, None, f"the verifier found no bracket ({res.reason})")
    outs = spec.outputs_for(f.n_outputs)
    x = [Fraction(v) for v in res.witness_x]
    fy, gy = f.eval_exact(x), g.eval_exact(x)
    lower = Fraction(_down(max(abs(fy[k] - gy[k]) for k in outs)))
    upper = Fraction(float(max(res.upper, float(lower) + max(spec.atol, spec.rtol * float(lower)))))
    claim = _claim(spec, box, f.n_outputs, eps_exact=(lower, upper))
    search = CertifiedSearch(f, g, _read_claim({"claim": claim}, {"f": f, "g": g}), batch=batch, seed=seed,
                             hints=hints)
    left = None if time_limit is None else max(1.0, time_limit - (time.perf_counter() - t0))
    out = search.run(box.lo, box.hi, node_limit=node_limit, time_limit=left)
    stats.update(nodes=out.nodes, leaves=out.leaves, bounded=out.bounded, search=out.status)
    if out.status != "proved":
        return done(Verdict.UNKNOWN, None, f"the certified search for the upper end {float(upper):.6g} stopped "
                                           f"({out.status.replace('_', ' ')}) after {out.nodes} nodes")
    given = search.split == "sensitivity"
    proof = {"kind": "bab", "bound": search.bound_name,
             "split_rule": "given-dim-midpoint-v1" if given else "widest-relative-midpoint-v1",
             "tree": out.tree(with_dims=given)}
    if out.hints:
        proof["hints"] = out.hint_list()
    doc = _doc(f, g, ffile, gfile, claim, "proved", proof=proof, witness={"x": [rational(v) for v in x]},
               producer={"engine": "certified-bab"})
    stats.update(lower=float(lower), upper=float(upper))
    return done(Verdict.EQUIVALENT, doc, f"sup in [{float(lower):.6g}, {float(upper):.6g}] "
                                         f"({out.leaves} leaves close the upper end; the witness reaches the lower end)")
