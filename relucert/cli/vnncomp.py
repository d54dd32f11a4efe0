"""VNN-LIB queries and the VNN-COMP interface: ``relucert export-query`` and ``relucert vnncomp
run-instance | run-benchmark | inspect``; ``relucert verify --query`` is handled here too.

Exit codes: 0 unsat (equivalent), 1 sat (a counterexample), 3 unknown or timeout, 2 usage error,
4 error (run-instance still writes ``error`` to the result file).  ``verify --query`` exits by the
equivalence verdict, so an inverted (band) query answered ``sat`` exits 3.
"""

from __future__ import annotations

import json
import sys

from . import EXIT_ERROR, EXIT_FALSE, EXIT_OK, EXIT_UNKNOWN, UsageError

__all__ = ["register", "cmd_verify_query"]


def _networks(items) -> list:
    from ..errors import ManifestError
    from ..vnncomp.instances import parse_networks

    out = []
    for it in items or []:
        try:
            out.extend(parse_networks(it))
        except ManifestError as exc:
            raise UsageError(f"--network: {exc}") from None
    names = [n for n, _ in out if n is not None]
    if len(names) != len(set(names)):
        raise UsageError("--network: a network name is given twice")
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-query", help="write an equivalence query as VNN-LIB 2.0 + ONNX, or as a product network",
        description="Write the query 'f and g agree on the box' for other verifiers: a VNN-LIB 2.0 query with "
                    "the two ONNX files, and/or the classic product form (one ONNX computing f - g or [f, g] "
                    "with a VNN-LIB 1.0 property). The assertions describe a counterexample: sat = not equivalent.")
    p.add_argument("f", metavar="A", help="first model (.onnx, .nnet, .npz)")
    p.add_argument("g", metavar="B", help="second model")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--box", metavar="LO:HI,...", help="input box (write --box=-1:1)")
    where.add_argument("--vnnlib", metavar="FILE", help="take the input box from a VNN-LIB 1.0 property")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--top1", action="store_true", help="argmax agreement (ties to the lowest index)")
    kind.add_argument("--decision", action="store_true", help="single-output classifiers [h > tau] agree")
    p.add_argument("--eps", type=float, default=None, help="sup-norm tolerance (required unless --top1/--decision)")
    p.add_argument("--outputs", metavar="K,K,...", help="bands on these outputs only (default: all)")
    p.add_argument("--margin", type=float, default=0.0, help="--top1: margin; --decision: gamma")
    p.add_argument("--tau-f", type=float, default=0.0, help="--decision: f's threshold")
    p.add_argument("--tau-g", type=float, default=0.0, help="--decision: g's threshold")
    p.add_argument("--fold-normalization", action="store_true", help=".nnet only: raw inputs")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write into (must exist)")
    p.add_argument("--name", default="query", help="file stem (default: query)")
    p.add_argument("--form", default="vnnlib2", metavar="FORMS",
                   help="comma-separated: vnnlib2 (default), difference (f - g, eps only), stack ([f, g]), or all")
    p.add_argument("--timeout", type=float, default=None, help="timeout for the instances.csv row")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("vnncomp", help="VNN-COMP interface: run an instance or a benchmark folder",
                              description="Decide VNN-LIB queries (2.0 equivalence queries, or 1.0 properties of "
                                          "one product network) and write the competition's result files.")
    sub = p.add_subparsers(dest="vnncomp_command", metavar="ACTION")
    r = sub.add_parser("run-instance", help="decide one query and write the result file",
                       description="Write 'sat' with the counterexample ((X_i v) ... (Y_j v)), 'unsat', 'timeout', "
                                   "'unknown' or 'error' to RESULT.")
    r.add_argument("competition", nargs="*", metavar="ARG",
                   help="the competition's run_instance.sh arguments instead of the options: [VERSION] CATEGORY "
                        "NETWORKS QUERY RESULT TIMEOUT (NETWORKS: a.onnx, or f=a.onnx;g=b.onnx)")
    r.add_argument("--network", action="append", metavar="NAME=FILE",
                   help="a declared network and its model (repeat for each; bare FILEs bind in declaration order)")
    r.add_argument("--query", metavar="FILE", help="the VNN-LIB query (2.0 or 1.0)")
    r.add_argument("--result", metavar="OUT", help="the result file to write")
    r.add_argument("--timeout", type=float, default=None, metavar="S", help="time limit in seconds")
    r.add_argument("--method", default="auto", choices=("auto", "bab", "milp", "smt", "bounds"))
    r.add_argument("--solver", default="highs", help="MILP backend")
    r.add_argument("--json", metavar="OUT", help="also write the outcome as JSON")
    r.set_defaults(func=cmd_run_instance)
    b = sub.add_parser("run-benchmark", help="run every row of an instances.csv",
                       description="Rows 'NETWORKS,QUERY[,TIMEOUT]' (NETWORKS: f=a.onnx;g=b.onnx); writes one "
                                   "result file per instance and results.csv into OUT.")
    b.add_argument("instances", metavar="INSTANCES_CSV")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--timeout", type=float, default=None, help="override every row's timeout")
    b.add_argument("--limit", type=int, default=None, help="only the first N instances")
    b.add_argument("--method", default="auto", choices=("auto", "bab", "milp", "smt", "bounds"))
    b.set_defaults(func=cmd_run_benchmark)
    c = sub.add_parser("supports", help="what relucert reads (the VNN-LIB standard's 'supports' answers)",
                       description="Print relucert's VNN-LIB capabilities, one 'option: value' a line.")
    c.set_defaults(func=cmd_supports)
    i = sub.add_parser("inspect", help="read a query and say what relucert will decide",
                       description="Parse a VNN-LIB query and print its networks, box, form and warnings.")
    i.add_argument("query", metavar="FILE")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=cmd_inspect)

    def _help(args) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)


def _check_timeout(t):
    if t is not None and not t > 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {t}")


def cmd_export(args) -> int:
    from ..io.query_export import FORMS, export_query
    from .verify import box_from_args, load_pair, spec_from_args

    _check_timeout(args.timeout)
    forms = [s.strip() for s in args.form.split(",") if s.strip()]
    if forms == ["all"]:
        forms = list(FORMS)
    bad = [x for x in forms if x not in FORMS]
    if bad or not forms:
        raise UsageError(f"--form must list {', '.join(FORMS)} or 'all', got {args.form!r}")
    spec_from_args(args, None)  # usage errors before any model is read
    f, g = load_pair(args)
    box = box_from_args(args, f.n_inputs)
    spec = spec_from_args(args, f.n_outputs)
    paths = export_query(f, g, box, spec, args.out, name=args.name, forms=forms, timeout=args.timeout)
    print(f"spec: {spec.describe()}")
    for role, path in paths.items():
        print(f"{role}: {path}")
    return EXIT_OK


def _write_json(path: str, data: dict) -> None:
    from ..io._common import atomic_write

    text = json.dumps(data, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    with atomic_write(path) as fh:
        fh.write(text.encode("utf-8"))


def _status_exit(status: str) -> int:
    return {"unsat": EXIT_OK, "sat": EXIT_FALSE, "error": EXIT_ERROR}.get(status, EXIT_UNKNOWN)


def cmd_supports(args) -> int:
    print("vnnlib-versions: 1.0 2.0")
    print("onnx-element-types: real (relucert decides over the reals: exact arithmetic on the stored weights)")
    print("onnx-operators: Gemm MatMul Conv Add Sub Mul Div Neg BatchNormalization Relu Flatten Reshape (dense ReLU "
          "networks)")
    print("multiple-input-outputs: false")
    print("hidden-nodes: false")
    print("multiple-networks: true (two networks with tied inputs)")
    print("output-forms: eps bands (per output, sup-norm) and their violation, top-1 agreement, decision thresholds")
    return EXIT_OK


def cmd_run_instance(args) -> int:
    from ..vnncomp.run import run_instance

    if args.competition:
        a = list(args.competition)
        if len(a) == 6:
            a = a[1:]
        if len(a) != 5:
            raise UsageError(f"the competition form takes [VERSION] CATEGORY NETWORKS QUERY RESULT TIMEOUT, got "
                             f"{len(args.competition)} arguments")
        if args.network or args.query or args.result:
            raise UsageError("give either the competition arguments or --network/--query/--result")
        _, nets_text, args.query, args.result, t = a
        try:
            args.timeout = float(t)
        except ValueError:
            raise UsageError(f"TIMEOUT must be a number of seconds, got {t!r}") from None
        args.network = [nets_text]
    if not args.query or not args.result:
        raise UsageError("give --query FILE and --result OUT (or the competition arguments)")
    _check_timeout(args.timeout)
    nets = _networks(args.network)
    if not nets:
        raise UsageError("give the models with --network NAME=FILE (once for each declared network)")
    out = run_instance(nets, args.query, args.result, timeout=args.timeout, method=args.method,
                       solver=args.solver, json_path=args.json)
    if out is None:
        return EXIT_ERROR
    print(out.status)
    if out.reason:
        print(f"reason: {out.reason}", file=sys.stderr)
    return _status_exit(out.status)


def cmd_run_benchmark(args) -> int:
    from ..vnncomp.run import run_benchmark

    _check_timeout(args.timeout)
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be >= 1, got {args.limit}")
    rows = run_benchmark(args.instances, args.out, timeout=args.timeout, method=args.method, limit=args.limit)
    counts = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" ({len(rows)} instances)")
    return EXIT_OK


def cmd_inspect(args) -> int:
    from ..io.vnnlib2 import read_query

    q = read_query(args.query)
    if args.json:
        print(json.dumps({
            "where": q.where, "form": q.form, "dialect": q.dialect,
            "networks": [{"name": d.name, "inputs": list(d.input.shape), "outputs": list(d.output.shape),
                          "equiv": None if d.equiv is None else list(d.equiv)} for d in q.networks],
            "box": q.box.to_dict(), "parts": [{"spec": p.spec.to_dict(), "description": p.description} for p in q.parts],
            "warnings": q.warnings}, indent=2))
    else:
        print(q.describe())
    return EXIT_OK


def cmd_verify_query(args) -> int:
    """``relucert verify --query FILE --network NAME=FILE ... [--timeout N] [--json OUT]``."""
    from ..io.vnnlib2 import read_query
    from ..vnncomp.run import bind_models
    from ..vnncomp.solve import solve_query

    extra = [flag for flag, v in (("A B", args.f or args.g), ("--box", args.box), ("--vnnlib", args.vnnlib),
                                  ("--eps", args.eps), ("--outputs", args.outputs), ("--top1", args.top1),
                                  ("--decision", args.decision), ("--fold-normalization", args.fold_normalization),
                                  ("--margin", args.margin), ("--tau-f", args.tau_f), ("--tau-g", args.tau_g))
             if v]
    if extra:
        raise UsageError(f"{', '.join(extra)} cannot go with --query (the query holds the box and the property; "
                         f"give the models with --network NAME=FILE)")
    _check_timeout(args.timeout)
    nets = _networks(args.network)
    if not nets:
        raise UsageError("give the models with --network NAME=FILE (once for each declared network)")
    q = read_query(args.query)
    models = bind_models(q, nets)
    out = solve_query(q, models, time_limit=args.timeout, method=args.method, solver=args.solver)
    print(f"query: {args.query}")
    for name, path in nets:
        print(f"{name or '?'}: {path}")
    for p in q.parts:
        print(f"decides: {p.description}")
    if q.form == "band":
        print("decides: is there a point where the asserted band holds? (the query looks inverted; this is no "
              "equivalence verdict)")
    print(f"vnnlib: {out.status}")
    print(f"verdict: {out.verdict}")
    if out.reason:
        print(f"reason: {out.reason}")
    if out.x is not None:
        what = "witness" if q.form == "band" else "counterexample"
        print(f"{what} (exact, satisfies every assertion of the query):")
        print(f"  x = [{', '.join(f'{float(v):.6g}' for v in out.x)}]")
    for w in out.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"time {out.time_s:.3f}s")
    data = out.to_dict()
    data.update({"query": args.query, "networks": [[n, p] for n, p in nets]})
    if args.json:
        _write_json(args.json, data)
    if getattr(args, "counterexample", None) and out.x is not None:
        _write_json(args.counterexample, {"x": data["x"], "x_decimal": data["x_decimal"],
                                          "assignment": data["assignment"], "query": args.query})
    return {"EQUIVALENT": EXIT_OK, "NOT_EQUIVALENT": EXIT_FALSE}.get(out.verdict, EXIT_UNKNOWN)
