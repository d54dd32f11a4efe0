"""Model commands: ``relucert info``, ``relucert eval`` and ``relucert convert``."""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np

from . import EXIT_OK, UsageError
from .. import io as rio
from ..network import Network

__all__ = ["register"]


def _add_load_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fold-normalization", action="store_true",
                   help=".nnet only: take raw inputs (clipping and normalization folded in; rounds)")
    p.add_argument("--drop-softmax", action="store_true",
                   help="ONNX only: drop a final Softmax (it does not change the argmax)")


def register(subparsers) -> None:
    """Add ``info``, ``eval`` and ``convert``."""
    p = subparsers.add_parser("info", help="describe a model (.onnx, .nnet, .npz)",
                              description="Layers, widths, parameters, ReLUs, digest; .nnet normalization.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_load_options(p)
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser("eval", help="evaluate a model at one input",
                              description="Evaluate in float64, or exactly in rationals with --exact.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--x", required=True, metavar="X0,X1,...",
                   help="comma-separated input; decimals are read as float64 (taken exactly), 'p/q' as an "
                        "exact rational; write --x=-1,2 when it starts with a minus sign")
    p.add_argument("--exact", action="store_true", help="exact rational outputs (and decimals)")
    _add_load_options(p)
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("convert", help="convert a model between .onnx, .nnet and .npz",
                              description="Read IN and write OUT (atomically); formats from the suffixes.")
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--dtype", choices=("auto", "float32", "float64"),
                   help="ONNX output only: weight type (auto: float32 when exact, else float64)")
    _add_load_options(p)
    p.set_defaults(func=cmd_convert)


def _load(path: str, args) -> tuple[Network, str, "rio.NNetHeader | None"]:
    """The network, its format and (for .nnet) its header, honouring the load flags."""
    fmt = rio.model_format(path)
    if args.fold_normalization and fmt != "nnet":
        raise UsageError(f"--fold-normalization applies to .nnet models only, not to {fmt}")
    if args.drop_softmax and fmt != "onnx":
        raise UsageError(f"--drop-softmax applies to ONNX models only, not to {fmt}")
    if fmt == "nnet":
        model = rio.load_nnet_model(path)
        return (model.folded() if args.fold_normalization else model.network), fmt, model.header
    return rio.load(path, drop_softmax=args.drop_softmax), fmt, None


def _header_rows(header) -> list[str]:
    """The normalization table, runs of identical inputs collapsed into one row."""
    cols = np.stack([header.mins, header.maxes, header.means, header.ranges], axis=1)
    rows, start = [], 0
    for i in range(1, header.n_inputs + 1):
        if i == header.n_inputs or not np.array_equal(cols[i], cols[start]):
            label = f"{start}" if i - 1 == start else f"{start}-{i - 1}"
            rows.append(f"  {label:>9} " + " ".join(f"{float(v)!r:>14}" for v in cols[start]))
            start = i
    return rows


def cmd_info(args) -> int:
    net, fmt, header = _load(args.model, args)
    data = {"path": args.model, "format": fmt, **net.summary()}
    if header is not None:
        data["normalization"] = header.to_dict()
        data["normalization_folded"] = bool(args.fold_normalization)
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    widths = ",".join(map(str, net.widths)) or "-"
    print(f"model        {args.model}")
    print(f"format       {fmt}")
    print(f"sizes        {'-'.join(map(str, net.sizes))}")
    print(f"inputs       {net.n_inputs}")
    print(f"outputs      {net.n_outputs}")
    print(f"hidden       {net.depth} layer(s), widths {widths}")
    print(f"parameters   {net.n_params}")
    print(f"relus        {net.n_relus}")
    print(f"digest       {net.digest}")
    if header is not None:
        state = "folded into the network" if args.fold_normalization else "not applied: the network takes normalized inputs"
        print(f"normalization (.nnet header, x = (clip(v, min, max) - mean) / range; {state}):")
        print(f"  {'input':>9} {'min':>14} {'max':>14} {'mean':>14} {'range':>14}")
        for row in _header_rows(header):
            print(row)
        if header.output_mean is not None or header.output_range is not None:
            print(f"  output mean {header.output_mean!r}, range {header.output_range!r} (never applied)")
    return EXIT_OK


def _parse_x(text: str, n: int) -> list:
    """Floats for decimals, Fractions for ``p/q``; usage errors name the entry."""
    parts = [p.strip() for p in text.split(",")]
    xs: list = []
    for k, s in enumerate(parts):
        try:
            v = Fraction(s) if "/" in s else float(s)
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"--x entry {k} {s!r} is not a number") from None
        if isinstance(v, float) and not np.isfinite(v):
            raise UsageError(f"--x entry {k} {s!r} is not finite")
        xs.append(v)
    if len(xs) != n:
        raise UsageError(f"--x has {len(xs)} value(s) but the model has {n} inputs")
    return xs


def _decimal(q: Fraction, digits: int = 20) -> str:
    """``q`` as a decimal rounded to ``digits`` significant digits."""
    with localcontext() as ctx:
        ctx.prec = digits
        d = Decimal(q.numerator) / Decimal(q.denominator)
    return str(d)


def cmd_eval(args) -> int:
    net, _, _ = _load(args.model, args)
    xs = _parse_x(args.x, net.n_inputs)
    if args.exact:
        for k, q in enumerate(net.eval_exact(xs)):
            dec = _decimal(q)
            print(f"y[{k}] = {q} {'=' if Fraction(dec) == q else '~'} {dec}")
    else:
        y = net.eval(np.array([float(v) for v in xs]))
        for k, v in enumerate(y.tolist()):
            print(f"y[{k}] = {v!r}")
    return EXIT_OK


def cmd_convert(args) -> int:
    out_fmt = rio.model_format(args.output)
    if args.dtype is not None and out_fmt != "onnx":
        raise UsageError(f"--dtype applies to ONNX output only, not to {out_fmt}")
    net, in_fmt, header = _load(args.input, args)
    options = {}
    if out_fmt == "onnx":
        options["dtype"] = args.dtype or "auto"
    elif out_fmt == "nnet" and header is not None and not args.fold_normalization:
        options["header"] = header  # keep the normalization of a .nnet source
    rio.save(net, args.output, **options)
    written = rio.load(args.output)
    note = "exact" if written.digest == net.digest else "weights rounded, digest changed"
    print(f"wrote {args.output} ({out_fmt}, {'-'.join(map(str, net.sizes))}, digest {written.digest}; {note})")
    return EXIT_OK
