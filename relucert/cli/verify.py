"""Verification commands: ``relucert verify A B ...`` and ``relucert distance A B ...``.

``verify`` exit codes: 0 EQUIVALENT, 1 NOT_EQUIVALENT, 3 UNKNOWN, 2 usage error, 4 other error.
``distance`` exits 0 when the bracket reached the tolerance, 3 when it stopped before.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import EXIT_FALSE, EXIT_OK, EXIT_UNKNOWN, UsageError
from .. import io as rio
from ..box import Box
from ..errors import BoxError
from ..network import Network

__all__ = ["register"]


def _add_pair_options(p: argparse.ArgumentParser, *, query: bool = False) -> None:
    p.add_argument("f", metavar="A", nargs="?" if query else None, help="first model (.onnx, .nnet, .npz)")
    p.add_argument("g", metavar="B", nargs="?" if query else None, help="second model")
    if query:
        p.add_argument("--query", metavar="FILE",
                       help="decide a VNN-LIB query (2.0, or 1.0 of one product network) instead of A B: "
                            "sat = counterexample; give the models with --network")
        p.add_argument("--network", action="append", metavar="NAME=FILE",
                       help="with --query: a declared network and its model (repeat for each)")
    where = p.add_mutually_exclusive_group(required=not query)
    where.add_argument("--box", metavar="LO:HI,...",
                       help="input box, one 'lo:hi' per input or one interval for all (write --box=-1:1)")
    where.add_argument("--vnnlib", metavar="FILE", help="take the input box from a VNN-LIB property")
    p.add_argument("--outputs", metavar="K,K,...", help="compare only these outputs (default: all)")
    p.add_argument("--method", default="auto", choices=("auto", "bab", "milp", "smt", "bounds"),
                   help="auto (default): identical nets at once, BaB for <= 8 inputs, else MILP; smt is z3")
    p.add_argument("--solver", default="highs", help="MILP backend: highs (default), pulp, pulp:<NAME>")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="time limit in seconds (wall time)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes sharing the input-splitting search (default 1; the result is the same)")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON to OUT ('-' for stdout)")
    p.add_argument("--fold-normalization", action="store_true",
                   help=".nnet only: boxes in raw units (clipping and normalization folded in)")
    p.add_argument("--quiet", action="store_true", help="no progress line")


def register(subparsers) -> None:
    """Add ``verify`` and ``distance``."""
    p = subparsers.add_parser(
        "verify", help="prove or refute that two models agree on a box",
        description="Prove sup_x max_k |f_k(x) - g_k(x)| <= eps on the box (or top-1 / decision "
                    "agreement), or give an exact counterexample. Exit 0 equivalent, 1 not "
                    "equivalent, 3 unknown.")
    _add_pair_options(p, query=True)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--top1", action="store_true", help="argmax agreement (ties to the lowest index)")
    kind.add_argument("--decision", action="store_true",
                      help="single-output classifiers [h > tau] agree with margin (--margin, --tau-f, --tau-g)")
    p.add_argument("--eps", type=float, default=None, help="sup-norm tolerance (required unless --top1/--decision)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="--top1: only where f's top class leads by >= margin; --decision: gamma")
    p.add_argument("--tau-f", type=float, default=0.0, help="--decision: f's threshold (default 0)")
    p.add_argument("--tau-g", type=float, default=0.0, help="--decision: g's threshold (default 0)")
    p.add_argument("--counterexample", metavar="OUT", help="write the counterexample (exact rationals) as JSON")
    p.add_argument("--certificate", metavar="OUT",
                   help="also write a certificate that `relucert check` re-checks (a witness for a refutation; "
                        "for a proof, certified mode re-runs the search the certificate records)")
    p.set_defaults(func=cmd_verify, _parser=p)

    p = subparsers.add_parser(
        "distance", help="bracket the sup-norm distance of two models on a box",
        description="Bracket sup_x max_k |f_k(x) - g_k(x)|: lower is attained at the reported input "
                    "(exactly), upper is a sound bound.")
    _add_pair_options(p)
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance of the bracket")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance of the bracket")
    p.set_defaults(func=cmd_distance)


# ---------------------------------------------------------------------------------------------
def load_pair(args) -> tuple[Network, Network]:
    nets = []
    for path in (args.f, args.g):
        fmt = rio.model_format(path)
        if args.fold_normalization and fmt != "nnet":
            raise UsageError(f"--fold-normalization applies to .nnet models only, not to {path}")
        nets.append(rio.load(path, fold_normalization=args.fold_normalization) if fmt == "nnet" else rio.load(path))
    f, g = nets
    if f.n_inputs != g.n_inputs or f.n_outputs != g.n_outputs:
        raise UsageError(f"{args.f} is {f.n_inputs}->{f.n_outputs} but {args.g} is {g.n_inputs}->{g.n_outputs}")
    return f, g


def box_from_args(args, n: int) -> Box:
    if args.vnnlib:
        return rio.read_vnnlib_box(args.vnnlib, n)
    try:
        return Box.from_string(args.box, dim=n)
    except BoxError as exc:
        raise UsageError(f"--box: {exc}") from None


def _outputs(text: str | None, m: int):
    if text is None:
        return None
    try:
        ks = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--outputs must be comma-separated indices, got {text!r}") from None
    bad = [k for k in ks if not 0 <= k < m]
    if not ks or bad:
        raise UsageError(f"--outputs must name outputs 0..{m - 1}, got {text!r}")
    return ks


def spec_from_args(args, n_outputs: int | None):
    """The spec of ``--eps/--outputs`` or ``--top1/--decision`` (with ``--margin``, ``--tau-f``,
    ``--tau-g``); usage errors name the option.  With ``n_outputs=None`` (before the models are
    read) ``--outputs`` is not checked against the model."""
    from ..verify import DecisionEquivalence, EpsEquivalence, Top1Equivalence

    if args.top1 or args.decision:
        if args.eps is not None:
            raise UsageError("--eps goes with the sup-norm check, not with --top1/--decision")
        if args.outputs is not None:
            raise UsageError("--outputs goes with the sup-norm check, not with --top1/--decision")
        if args.top1:
            return Top1Equivalence(margin=args.margin)
        return DecisionEquivalence(tau_f=args.tau_f, tau_g=args.tau_g, gamma=args.margin)
    if args.eps is None:
        raise UsageError("give --eps (or --top1 / --decision)")
    if not args.eps >= 0:
        raise UsageError(f"--eps must be >= 0, got {args.eps}")
    if args.margin or args.tau_f or args.tau_g:
        raise UsageError("--margin, --tau-f and --tau-g go with --top1/--decision")
    if n_outputs is None:
        return EpsEquivalence(args.eps)
    return EpsEquivalence(args.eps, outputs=_outputs(args.outputs, n_outputs))


class _Progress:
    """A live ``nodes / bracket`` line on stderr (only on a terminal, at most 5 times a second)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def __call__(self, **info):
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < 0.2:
            return
        self.last = now
        parts = [f"{now - self.t0:7.1f}s"]
        if "nodes" in info:
            parts.append(f"nodes {info['nodes']}")
        if "lower" in info and "upper" in info:
            parts.append(f"bracket [{float(info['lower']):.6g}, {float(info['upper']):.6g}]")
        sys.stderr.write("\r  " + "  ".join(parts) + "   ")
        sys.stderr.flush()
        self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _write_json(path: str, data: dict) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _check_run_options(args) -> None:
    """Usage errors in the options every pair command shares."""
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")


def _run(args, f: Network, g: Network, spec):
    from ..verify import verify

    box = box_from_args(args, f.n_inputs)
    progress = _Progress(not args.quiet)
    try:
        res = verify(f, g, box, spec, method=args.method, time_limit=args.timeout, progress=progress,
                     solver=args.solver, workers=args.workers)
    finally:
        progress.close()
    return f, g, box, res


def _report(args, res) -> None:
    print(f"f: {args.f}\ng: {args.g}")
    print(res.summary())
    if args.json:
        data = res.to_dict()
        data["f"], data["g"] = args.f, args.g
        _write_json(args.json, data)


def cmd_verify(args) -> int:
    from ..verify import Verdict

    if args.query is not None:
        from .vnncomp import cmd_verify_query

        return cmd_verify_query(args)
    if args.network:
        raise UsageError("--network goes with --query")
    missing = [m for m, v in (("A", args.f), ("B", args.g)) if v is None]
    if missing:
        args._parser.error(f"the following arguments are required: {', '.join(missing)}")
    if args.box is None and args.vnnlib is None:
        args._parser.error("one of the arguments --box --vnnlib is required")

    _check_run_options(args)
    spec_from_args(args, None)  # usage errors before any model is read
    f, g = load_pair(args)
    spec = spec_from_args(args, f.n_outputs)
    _, _, box, res = _run(args, f, g, spec)
    _report(args, res)
    if args.certificate:
        _write_certificate(args, f, g, box, spec, res)
    if args.counterexample and res.counterexample is not None:
        ce = res.counterexample.to_dict()
        ce.update({"f_model": args.f, "g_model": args.g, "spec": res.spec.to_dict()})
        _write_json(args.counterexample, ce)
    if res.verdict is Verdict.EQUIVALENT:
        return EXIT_OK
    if res.verdict is Verdict.NOT_EQUIVALENT:
        return EXIT_FALSE
    return EXIT_UNKNOWN


def _write_certificate(args, f, g, box, spec, res) -> None:
    from ..certify import certificate_from_result, certify, write_certificate
    from ..verify import Verdict

    if res.verdict is Verdict.NOT_EQUIVALENT and res.counterexample is not None:
        n = write_certificate(certificate_from_result(res, f, g, f_file=args.f, g_file=args.g), args.certificate)
        print(f"certificate: {args.certificate} (witness, {n} bytes)")
        return
    if res.verdict is not Verdict.EQUIVALENT:
        print(f"certificate: none written (the verdict is {res.verdict})", file=sys.stderr)
        return
    c = certify(args.f, args.g, box, spec, time_limit=args.timeout)
    if c.certificate is None or str(c.verdict) != str(res.verdict):
        print(f"certificate: none written: certified mode could not reproduce the proof ({c.verdict}: "
              f"{c.reason})", file=sys.stderr)
        return
    n = c.write(args.certificate)
    kind = c.certificate.get("proof", {}).get("kind", "proof") if isinstance(c.certificate.get("proof"), dict) else "proof"
    print(f"certificate: {args.certificate} ({kind}, {n} bytes; re-check with `relucert check {args.certificate}`)")


def cmd_distance(args) -> int:
    from ..verify import Distance, StopReason

    _check_run_options(args)
    f, g = load_pair(args)
    spec = Distance(atol=args.atol, rtol=args.rtol, outputs=_outputs(args.outputs, f.n_outputs))
    _, _, _, res = _run(args, f, g, spec)
    print(f"f: {args.f}\ng: {args.g}")
    done = res.stop_reason is StopReason.TOLERANCE
    print(f"distance: sup_x max_k |f_k - g_k| in [{res.lower!r}, {res.upper!r}]"
          f" ({'tolerance reached' if done else 'stopped early: ' + res.reason})")
    if res.witness_x is not None:
        print(f"  lower attained exactly at x = [{', '.join(f'{float(v):.6g}' for v in res.witness_x)}]")
    st = res.stats
    print(f"method: {res.method}; time {res.time_s:.3f}s" + (f"; nodes {st['nodes']}" if "nodes" in st else ""))
    if args.json:
        data = res.to_dict()
        data["f"], data["g"] = args.f, args.g
        _write_json(args.json, data)
    return EXIT_OK if res.stop_reason is StopReason.TOLERANCE else EXIT_UNKNOWN
