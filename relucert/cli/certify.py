"""Certificate commands: ``relucert certify`` (prove or refute, write a certificate) and
``relucert check`` (re-check a certificate with the independent checker)."""

from __future__ import annotations

import json
import sys

from . import EXIT_ERROR, EXIT_FALSE, EXIT_OK, EXIT_UNKNOWN, UsageError
from ..errors import CertificateError

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "certify", help="prove or refute f ~ g and write a re-checkable certificate",
        description="Run certified mode (structural rewrite check, then the certified input-split "
                    "search; counterexamples are re-evaluated exactly) and write a certificate that "
                    "`relucert check` verifies without any solver.  Exit 0 proved, 1 refuted, "
                    "3 unknown (no certificate written).")
    p.add_argument("f", metavar="F", help="first model (.npz, .nnet, .onnx)")
    p.add_argument("g", metavar="G", help="second model")
    p.add_argument("--box", required=True, metavar="LO:HI,...",
                   help="input box, e.g. -1:1,0:0.5 (one interval is repeated for every input)")
    p.add_argument("--eps", metavar="EPS", help="claim max_k |f_k - g_k| <= EPS on the box")
    p.add_argument("--outputs", metavar="K,K,...", help="only these outputs (eps claims)")
    p.add_argument("--top1", action="store_true", help="claim argmax f = argmax g instead")
    p.add_argument("--margin", default="0", help="--top1: only where f leads by >= MARGIN (default 0)")
    p.add_argument("--decision", metavar="TAU_F,TAU_G,GAMMA",
                   help="claim f >= TAU_F+GAMMA => g > TAU_G and f <= TAU_F-GAMMA => g <= TAU_G (single output)")
    p.add_argument("--distance", action="store_true",
                   help="bracket sup max_k |f_k - g_k| (proof of the upper end, witness of the lower end)")
    p.add_argument("--atol", type=float, default=1e-4, help="--distance: absolute tolerance of the bracket")
    p.add_argument("--rtol", type=float, default=1e-3, help="--distance: relative tolerance of the bracket")
    p.add_argument("--hints", action="store_true",
                   help="store alpha hints at leaves that close only with them (fewer leaves, bigger certificate)")
    p.add_argument("--method", choices=("auto", "structural", "bab"), default="auto")
    p.add_argument("--time-limit", type=float, metavar="S", help="seconds for the search")
    p.add_argument("--node-limit", type=int, default=2_000_000, metavar="N", help="nodes for the search")
    p.add_argument("--relu-splits", action="store_true",
                   help="also split on unstable first-layer ReLUs (phase splits; rarely better than input splits)")
    p.add_argument("-o", "--output", required=True, metavar="CERT", help="certificate file to write")
    p.add_argument("--save-models", action="store_true",
                   help="copy the models as .npz next to the certificate (else it refers to F and G)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=cmd_certify)

    p = subparsers.add_parser(
        "check", help="re-check a certificate (VERIFIED / REFUTED / INVALID)",
        description="Independent checker: loads and hashes the model files itself and replays the "
                    "proof with exact rationals or outward-rounded float64.  Exit 0 when the "
                    "certificate holds (VERIFIED or REFUTED), 1 when it is INVALID, 4 on errors "
                    "such as a missing model file.")
    p.add_argument("certificate", metavar="CERT", nargs="+", help="one or more certificate files")
    p.add_argument("--models", metavar="DIR", help="look for the model files in DIR first")
    p.add_argument("--exact", action="store_true",
                   help="reference mode: replay every leaf in exact rationals (slow; same verdicts)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_check)


def cmd_certify(args) -> int:
    from fractions import Fraction

    from ..box import Box
    from ..certify import certify
    from ..errors import BoxError, SpecError
    from ..verify.result import Verdict
    from ..verify.spec import DecisionEquivalence, Distance, EpsEquivalence, Top1Equivalence
    from .. import io as rio

    if sum([args.eps is not None, bool(args.top1), args.decision is not None, bool(args.distance)]) != 1:
        raise UsageError("give exactly one claim: --eps EPS, --top1, --decision TAU_F,TAU_G,GAMMA or --distance")
    f, g = rio.load(args.f), rio.load(args.g)
    try:
        box = Box.from_string(args.box, dim=f.n_inputs)
    except BoxError as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.outputs and (args.top1 or args.decision is not None):
            raise UsageError("--outputs applies to --eps and --distance claims only")
        if args.top1:
            spec = Top1Equivalence(margin=float(args.margin))
        elif args.decision is not None:
            parts = [float(Fraction(v)) for v in args.decision.split(",")]
            if len(parts) != 3:
                raise UsageError(f"--decision needs TAU_F,TAU_G,GAMMA, got {args.decision!r}")
            spec = DecisionEquivalence(tau_f=parts[0], tau_g=parts[1], gamma=parts[2])
        elif args.distance:
            outs = None if not args.outputs else [int(k) for k in args.outputs.split(",")]
            spec = Distance(atol=args.atol, rtol=args.rtol, outputs=outs)
        else:
            outs = None if not args.outputs else [int(k) for k in args.outputs.split(",")]
            spec = EpsEquivalence(float(Fraction(args.eps)), outputs=outs)
    except (ValueError, ZeroDivisionError, SpecError) as exc:
        raise UsageError(str(exc)) from None
    if args.time_limit is not None and not args.time_limit > 0:
        raise UsageError(f"--time-limit must be > 0 seconds, got {args.time_limit}")
    if args.node_limit < 1:
        raise UsageError(f"--node-limit must be >= 1, got {args.node_limit}")
    try:
        res = certify(args.f, args.g, box, spec, method=args.method, time_limit=args.time_limit,
                      node_limit=args.node_limit, relu_splits=args.relu_splits, hints=args.hints)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    if res.certificate is not None:
        res.write(args.output, save_models=args.save_models)
    if args.json:
        print(json.dumps({"verdict": str(res.verdict), "reason": res.reason, "stats": res.stats,
                          "certificate": args.output if res.certificate is not None else None}))
    else:
        print(f"verdict: {res.verdict}")
        print(f"reason: {res.reason}")
        print("stats: " + ", ".join(f"{k} {v}" for k, v in res.stats.items()))
        if res.certificate is not None:
            print(f"certificate: {args.output} ({res.stats.get('bytes', 0)} bytes); re-check with "
                  f"`relucert check {args.output}`")
        else:
            print("no certificate written")
    return {Verdict.EQUIVALENT: EXIT_OK, Verdict.NOT_EQUIVALENT: EXIT_FALSE}.get(res.verdict, EXIT_UNKNOWN)


def _check_one(path, args) -> int:
    from ..check import MissingModelError, check_certificate

    prefix = f"{path}: " if len(args.certificate) > 1 else ""
    try:
        rep = check_certificate(path, models_dir=args.models, exact=args.exact)
    except MissingModelError as exc:
        print(f"relucert check: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except CertificateError as exc:
        if args.json:
            print(json.dumps({"certificate": path, "verdict": "INVALID", "path": None, "slack": None,
                              "reason": f"malformed: {exc}"}))
        else:
            print(f"{prefix}INVALID: malformed certificate: {exc}")
        return EXIT_FALSE
    print(json.dumps({"certificate": path, **rep.to_dict()}) if args.json else prefix + str(rep))
    return EXIT_OK if rep.holds else EXIT_FALSE


def cmd_check(args) -> int:
    """Check every certificate; the exit code is the worst one (4 error > 1 invalid > 0)."""
    codes = [_check_one(p, args) for p in args.certificate]
    return max(codes, key=lambda c: {EXIT_OK: 0, EXIT_FALSE: 1, EXIT_ERROR: 2}[c])
