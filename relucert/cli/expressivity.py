"""Expressivity commands: depth-separation families, the approximation bound, global ERM and
ConvAC ranks.

``relucert hard-function``, ``relucert depth-separation``, ``relucert zonotope``,
``relucert approx-bound``, ``relucert erm``, ``relucert convac-rank``, ``relucert convac-sweep``,
``relucert grid-rank``.
(``relucert regions`` lives with the region machinery in ``relucert.cli.transform``.)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from fractions import Fraction

import numpy as np

from . import EXIT_FALSE, EXIT_OK, EXIT_UNKNOWN, UsageError

__all__ = ["register"]


# -- argument helpers --------------------------------------------------------------------------
def _int_list(text: str, flag: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} must be comma-separated integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise UsageError(f"{flag} must be positive integers, got {text!r}")
    return vals


def _breakpoints(text: str | None):
    if text is None:
        return None
    layers = []
    for part in text.split(";"):
        vals = []
        for s in part.split(","):
            s = s.strip()
            if not s:
                continue
            try:
                vals.append(Fraction(s))
            except (ValueError, ZeroDivisionError):
                raise UsageError(f"--breakpoints entry {s!r} is not a number (use p/q or a decimal)") from None
        layers.append(vals)
    return layers[0] if len(layers) == 1 else layers


def _positive(v: int, flag: str, low: int = 1) -> int:
    if v < low:
        raise UsageError(f"{flag} must be >= {low}, got {v}")
    return v


_PARTITION_HELP = "left-right, top-bottom, odd-even, checkerboard, or I=i,j,... (flat positions)"

# The options several commands share: name -> (flags, add_argument keywords, least value or None).
# Commands add them with _add_options (keywords may be overridden per command) and check the
# least values with _check_options, so each option is spelled, parsed and validated in one place.
_OPTIONS = {
    "w": (("--w",), {"type": int}, 2),
    "k": (("--k",), {"type": int, "required": True}, 1),
    "depth": (("--depth",), {"type": int}, 1),
    "m": (("--m",), {"type": int, "required": True, "help": "number of generators"}, 1),
    "n": (("--n",), {"type": int, "default": 2, "help": "input dimension (default 2)"}, 1),
    "units": (("--units",), {"type": int, "required": True}, 1),
    "width": (("--width",), {"type": int, "default": 2, "help": "hidden units (default 2)"}, 1),
    "restarts": (("--restarts",), {"type": int, "default": 100}, 1),
    "points": (("--points",), {"type": int, "default": 6, "help": "generated data set size (default 6)"}, 1),
    "size": (("--size",), {"type": int, "required": True, "help": "grid side H (2D) or length N (1D)"}, 1),
    "dim": (("--dim",), {"type": int, "choices": (1, 2), "default": 2, "help": "grid dimension (default 2)"}, None),
    "channels": (("--channels",), {"type": int, "default": 2}, 1),
    "conv_channels": (("--conv-channels",), {"type": int, "help": "channels of the GC layer(s) (default M**2)"}, 1),
    "partition": (("--partition",), {"default": "left-right", "help": _PARTITION_HELP}, None),
    "out": (("--out",), {"metavar": "MODEL"}, None),
    "no_count": (("--no-count",), {"action": "store_true"}, None),
    "json": (("--json",), {"action": "store_true", "help": "print JSON"}, None),
}


def _add_options(p, *names: str, **overrides: dict) -> None:
    """Add the shared options ``names`` to parser ``p`` in this order; ``overrides[name]`` holds
    keywords that differ for this command (e.g. ``help`` or ``required``)."""
    for name in names:
        flags, kw, _ = _OPTIONS[name]
        p.add_argument(*flags, **{**kw, **overrides.get(name, {})})


def _check_options(args, *names: str) -> None:
    """``--flag must be >= least, got v`` for the first of the shared options ``names`` (in this
    order) that is given and below its least value."""
    for name in names:
        flags, _, low = _OPTIONS[name]
        v = getattr(args, name)
        if low is not None and v is not None:
            _positive(v, flags[0], low)


def _save_model(net, path: str | None) -> None:
    if path:
        from .. import io as rio

        rio.save(net, path)
        print(f"wrote {path} ({'-'.join(map(str, net.sizes))}, digest {net.digest[:16]})")


# -- registration ------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser(
        "hard-function", help="build Arora et al.'s zig-zag hard function H (w**k pieces)",
        description="H = h o ... o h (k zig-zags with w pieces each): k hidden layers of width w and exactly "
                    "w**k affine pieces on [0, 1]. With --depth D, the matching construction with D hidden "
                    "layers. Prints 'pieces: N' (exact count) and optionally writes the model.")
    _add_options(p, "w", "k", "depth", w={"help": "pieces per zig-zag (>= 2; required unless --sawtooth)"},
                 k={"help": "number of zig-zags composed"},
                 depth={"help": "build the shallower construction with this many hidden layers"})
    p.add_argument("--sawtooth", action="store_true", help="Telgarsky's tent composition instead (w = 2)")
    p.add_argument("--breakpoints", metavar="A1,A2,...[;...]",
                   help="interior breakpoints of the zig-zag (p/q or decimals; ';' separates per-layer lists); "
                        "default: dyadic, so every weight is exact")
    _add_options(p, "out", "no_count", "json", out={"help": "write the network (.onnx, .nnet, .npz)"},
                 no_count={"help": "skip the exact piece count"})
    p.set_defaults(func=cmd_hard_function)

    p = subparsers.add_parser(
        "depth-separation", help="size bounds for shallower nets against the hard function",
        description="For H with k zig-zags of w pieces: pieces w**k, the least size of any net with --depth "
                    "hidden layers (prod(w_i + 1) >= pieces: k'(w**(k/k') - 1), and the paper's "
                    "k' w**(k/k')/2 - 1), and the matching construction. --check builds both and proves "
                    "them equal exactly.")
    _add_options(p, "w", "k", "depth", w={"required": True},
                 depth={"required": True, "help": "hidden layers of the shallower net (k')"})
    p.add_argument("--check", action="store_true", help="count pieces and prove H = construction exactly")
    _add_options(p, "json")
    p.set_defaults(func=cmd_depth_separation)

    p = subparsers.add_parser(
        "zonotope", help="the zonotope family F = H o gamma_Z and its region count",
        description="gamma_Z(x) = sum_i |<b_i, x>| (generators include the unit vectors, so {gamma_Z <= 1} "
                    "lies in [-1, 1]^n), then H. Counts linear regions on [-1, 1]^n against the bound "
                    "|vert(Z)| w**k.")
    _add_options(p, "m", "n", "w", "k", "out", "no_count", "json", w={"default": 2},
                 k={"required": False, "default": 2})
    p.add_argument("--rewrite", metavar="MODEL",
                   help="also build the Wang-Sun rewrite with ceil(log2(n+1)) hidden layers (arora-1d, "
                        "arora-maxaffine, prune) and write it")
    p.add_argument("--check", action="store_true",
                   help="with --rewrite: prove rewrite = F on [-1, 1]^n with eps = 0 (exact regions; minutes)")
    p.set_defaults(func=cmd_zonotope)

    p = subparsers.add_parser(
        "approx-bound", help="refute a too-small approximation of H with the verifier",
        description="Any g with sup |g - H| < 1/2 on [0, 1] needs ceil((w**k + 1)/2) >= w**k/2 pieces. Builds "
                    "a 1-hidden-layer candidate with --units units and runs relucert.verify(H, g, [0, 1], "
                    "eps) (branch and bound). Exit code as for verify: 1 when refuted (the expected outcome), "
                    "0 when within eps, 3 when undecided.")
    _add_options(p, "w", "k", "units", w={"required": True}, units={"help": "hidden units of the candidate"})
    p.add_argument("--eps", type=float, default=0.5, help="sup-norm tolerance (default 0.5)")
    p.add_argument("--method", choices=("lstsq", "interpolate"), default="lstsq", help="how the candidate is fitted")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds (default 60)")
    _add_options(p, "out", "json", out={"help": "write the candidate"})
    p.set_defaults(func=cmd_approx_bound)

    p = subparsers.add_parser(
        "erm", help="globally optimal ERM for one hidden layer vs gradient descent",
        description="Exhaustive enumeration of signs and data dichotomies (Arora et al.), one NNLS per "
                    "convex program, against full-batch gradient descent from many restarts. Data: a CSV "
                    "file with columns x,y, or a generated tiny data set.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="CSV", help="two columns x,y (an optional header line)")
    _add_options(src, "points")
    p.add_argument("--kind", choices=("random", "zigzag", "planted"), default="random")
    p.add_argument("--seed", type=int, default=0)
    _add_options(p, "width", "restarts")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--no-bias", action="store_true", help="no output bias")
    _add_options(p, "out", "json", out={"help": "write the globally optimal network"})
    p.set_defaults(func=cmd_erm)

    p = subparsers.add_parser(
        "convac-rank", help="matricization rank of a ConvAC's grid tensor (exact mod p)",
        description="A convolutional arithmetic circuit on an HxH (or 1D) grid with M one-hot templates: "
                    "one GC layer (kernel, stride, conv channels) or --layers, then global product pooling. "
                    "Prints 'rank: N' (rank mod a prime with random integer weights: a certified lower bound, "
                    "generic for almost all weights) and the structural upper bound valid for all weights.")
    _convac_common(p)
    p.add_argument("--kernel", type=int, help="kernel size (default 2)")
    p.add_argument("--stride", type=int, help="stride (default 1)")
    p.add_argument("--layers", metavar="K/S:R,...",
                   help="several GC layers, e.g. 3/1:4,3/1:4 (kernel/stride:channels); overrides --kernel/--stride")
    p.add_argument("--float-check", action="store_true", help="also the float SVD rank (cross-check)")
    p.set_defaults(func=cmd_convac_rank)

    p = subparsers.add_parser(
        "convac-sweep", help="ConvAC rank against kernel size and stride (table, optional plot)",
        description="One GC layer for every (kernel, stride) that tiles the grid, then global pooling; "
                    "prints a table and with --plot draws rank against kernel size per stride.")
    _convac_common(p)
    p.add_argument("--kernels", default="1,2,3,4", help="comma-separated kernel sizes (default 1,2,3,4)")
    p.add_argument("--strides", default="1,2,3,4", help="comma-separated strides (default 1,2,3,4)")
    p.add_argument("--plot", metavar="FILE", help="draw the sweep (.png, .svg or .pdf; needs relucert[plot])")
    p.set_defaults(func=cmd_convac_sweep)

    p = subparsers.add_parser(
        "grid-rank", help="matricization rank of a ReLU model's grid tensor on one-hot templates",
        description="Evaluate MODEL (inputs: positions x channels) exactly on every one-hot template image "
                    "and print 'rank: N' for the chosen partition of the positions (exact Bareiss rank, or "
                    "a certified lower bound mod 2**31 - 1 for large matrices).")
    p.add_argument("model", metavar="MODEL")
    _add_options(p, "size", "dim", "channels", channels={"help": "M, channels per position (default 2)"})
    p.add_argument("--layout", choices=("channel-major", "position-major"), default="channel-major",
                   help="input order: channel-major (NCHW flattened, default) or position-major")
    p.add_argument("--output", type=int, default=0, help="output index (default 0)")
    _add_options(p, "partition", "json")
    p.set_defaults(func=cmd_grid_rank)


def _convac_common(p: argparse.ArgumentParser) -> None:
    _add_options(p, "size", "dim", "channels", "conv_channels",
                 channels={"help": "M, templates / input channels (default 2)"})
    p.add_argument("--shared", action="store_true", help="share weights across positions")
    _add_options(p, "partition")
    p.add_argument("--seed", type=int, default=0, help="seed of the random integer weights")
    p.add_argument("--prime", type=int, default=None, help="prime modulus (default 2**31 - 1)")
    _add_options(p, "json")


# -- commands ----------------------------------------------------------------------------------
def cmd_hard_function(args) -> int:
    from ..expressivity import families as fam

    w, k = args.w, args.k
    if w is None and not args.sawtooth:
        raise UsageError("--w is required (or give --sawtooth)")
    _check_options(args, *(("k",) if args.sawtooth else ("w", "k")))
    if args.sawtooth:
        if args.breakpoints or args.depth:
            raise UsageError("--sawtooth takes no --breakpoints or --depth")
        net, w = fam.sawtooth(k), 2
        label = f"sawtooth (tent composed {k} times)"
    else:
        from ..errors import SpecError

        try:
            if args.depth is not None:
                net = fam.shallow_hard_function(w, k, args.depth, breakpoints=_breakpoints(args.breakpoints))
                label = f"hard function w={w}, k={k} as {args.depth} hidden layer(s)"
            else:
                net = fam.hard_function(w, k, breakpoints=_breakpoints(args.breakpoints))
                label = f"hard function w={w}, k={k}"
        except SpecError as exc:
            raise UsageError(str(exc)) from None
    expected = w ** k
    data = {"network": label, "hidden_layers": net.depth, "widths": net.widths, "size": net.n_relus,
            "expected_pieces": expected}
    if not args.no_count:
        from ..regions import count_pieces

        data["pieces"] = count_pieces(net, 0, 1)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"{label}: {net.depth} hidden layer(s), widths {','.join(map(str, net.widths))}, size {net.n_relus}")
        if "pieces" in data:
            print(f"pieces: {data['pieces']}")
        print(f"expected w**k = {expected}")
    _save_model(net, args.out)
    if "pieces" in data and data["pieces"] != expected:
        return EXIT_FALSE
    return EXIT_OK


def cmd_depth_separation(args) -> int:
    from ..expressivity import families as fam

    _check_options(args, "w", "k", "depth")
    if args.depth > args.k:
        raise UsageError(f"--depth must be <= --k, got {args.depth} > {args.k}")
    ds = fam.depth_separation(args.w, args.k, args.depth)
    data = ds.to_dict()
    rc = EXIT_OK
    if args.check:
        from ..box import Box
        from ..regions import compare_exact, count_pieces
        from ..verify import EpsEquivalence

        H = fam.hard_function(args.w, args.k)
        S = fam.shallow_hard_function(args.w, args.k, args.depth)
        data["pieces_H"] = count_pieces(H, 0, 1)
        data["pieces_construction"] = count_pieces(S, 0, 1)
        res = compare_exact(H, S, Box([0.0], [1.0]), EpsEquivalence(0.0))
        data["equal"] = str(res.verdict)
        if res.verdict.value != "EQUIVALENT" or data["pieces_H"] != ds.pieces:
            rc = EXIT_FALSE
    if args.json:
        print(json.dumps(data, indent=2))
        return rc
    b = ds.bound
    print(f"hard function H: w={ds.w}, k={ds.k}: {ds.k} hidden layers, size {ds.deep_size}, pieces {ds.pieces}")
    print(f"any net with {ds.depth} hidden layer(s) and {ds.pieces} pieces needs size >= {b.integer}"
          f"  (prod(w_i+1) >= pieces; k'(w^(k/k') - 1) = {b.real:.6g})")
    print(f"paper's form: size >= {math.ceil(b.paper)}  (k' w^(k/k')/2 - 1 = {b.paper:.6g})")
    print(f"matching construction: widths {','.join(map(str, ds.construction_widths))}, size {ds.construction_size}")
    if args.check:
        print(f"pieces: {data['pieces_H']} (H), {data['pieces_construction']} (construction)")
        print(f"H = construction on [0, 1] exactly: {data['equal']}")
    return rc


def cmd_zonotope(args) -> int:
    from ..expressivity import families as fam

    _check_options(args, "m", "n", "w", "k")
    if args.check and not args.rewrite:
        raise UsageError("--check needs --rewrite MODEL")
    G = fam.default_generators(args.m, args.n)
    net = fam.zonotope_function(G, args.w, args.k)
    bound = fam.zonotope_piece_lower_bound(args.m, args.n, args.w, args.k)
    data = {"generators": G.astype(int).tolist(), "hidden_layers": net.depth, "widths": net.widths,
            "vertices": fam.zonotope_vertex_count(args.m, args.n), "lower_bound": bound}
    if not args.no_count:
        from ..box import Box
        from ..regions import linear_regions

        regs = linear_regions(net, Box([-1.0] * args.n, [1.0] * args.n))
        data["regions"] = len(regs)
        data["affine_pieces"] = len({(tuple(r.A.reshape(-1)), tuple(r.c)) for r in regs})
    rc = EXIT_OK
    if args.rewrite:
        from ..errors import SpecError
        from ..transforms import TransformError

        try:
            ws = fam.zonotope_ws_rewrite(G, args.w, args.k)
        except (SpecError, TransformError) as exc:
            raise UsageError(f"--rewrite: {exc}") from None
        data["rewrite"] = {"hidden_layers": ws.network.depth, "widths": ws.network.widths,
                           "terms": ws.info["terms"], "max_arity": ws.info["max_arity"],
                           "expected_hidden_layers": math.ceil(math.log2(args.n + 1))}
        if args.check:
            from ..verify import EpsEquivalence, verify

            res = verify(net, ws.network, ws.box, EpsEquivalence(0.0), method="regions")
            data["rewrite"]["verdict"] = str(res.verdict)
            rc = {"EQUIVALENT": EXIT_OK, "NOT_EQUIVALENT": EXIT_FALSE}.get(str(res.verdict), EXIT_UNKNOWN)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"zonotope family: m={args.m} generators in R^{args.n}, w={args.w}, k={args.k}: "
              f"{net.depth} hidden layers, widths {','.join(map(str, net.widths))}")
        print(f"|vert(Z)| = {data['vertices']}; lower bound |vert(Z)| w^k = {bound}")
        if "regions" in data:
            print(f"regions: {data['regions']}")
            print(f"distinct affine maps: {data['affine_pieces']}")
        if "rewrite" in data:
            rw = data["rewrite"]
            print(f"Wang-Sun rewrite: {rw['hidden_layers']} hidden layers (ceil(log2(n+1)) = "
                  f"{rw['expected_hidden_layers']}), widths {','.join(map(str, rw['widths']))}, "
                  f"{rw['terms']} max terms of arity <= {rw['max_arity']}")
            if "verdict" in rw:
                print(f"rewrite = F on [-1, 1]^{args.n} (eps = 0): {rw['verdict']}")
    _save_model(net, args.out)
    if args.rewrite:
        _save_model(ws.network, args.rewrite)
    if "affine_pieces" in data and data["affine_pieces"] < bound:
        return EXIT_FALSE
    return rc


def cmd_approx_bound(args) -> int:
    from ..expressivity import families as fam
    from ..regions import count_pieces

    _check_options(args, "w", "k", "units")
    if not (args.eps >= 0 and math.isfinite(args.eps)):
        raise UsageError(f"--eps must be a finite number >= 0, got {args.eps}")
    if not args.time_limit > 0:
        raise UsageError(f"--time-limit must be > 0, got {args.time_limit}")
    H = fam.hard_function(args.w, args.k)
    g = fam.too_small_candidate(args.w, args.k, args.units, method=args.method)
    need = fam.approx_piece_lower_bound(args.w, args.k)
    have = count_pieces(g, 0, 1)
    res = fam.refute_approximation(H, g, eps=args.eps, time_limit=args.time_limit)
    data = {"pieces_H": args.w ** args.k, "bound": need, "candidate_units": args.units, "candidate_pieces": have,
            "eps": args.eps, "verdict": str(res.verdict), "lower": res.lower, "upper": res.upper}
    if res.counterexample is not None:
        data["counterexample"] = res.counterexample.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"H: w={args.w}, k={args.k}, {args.w ** args.k} pieces; sup|g - H| < 1/2 needs >= {need} pieces")
        print(f"candidate: 1 hidden layer x {args.units} ({args.method}), pieces: {have}")
        print(f"verify eps={args.eps:g}: {res.verdict}  bracket [{res.lower:.6g}, {res.upper:.6g}]")
        if res.counterexample is not None:
            ce = res.counterexample
            print(f"counterexample x = {ce.x[0]} (~{float(ce.x[0]):.17g}): H = {ce.f[0]}, g = {float(ce.g[0]):.17g}, "
                  f"|H - g| = {float(ce.value):.17g} > {args.eps:g} (exact)")
    _save_model(g, args.out)
    return {"EQUIVALENT": EXIT_OK, "NOT_EQUIVALENT": EXIT_FALSE}.get(str(res.verdict), EXIT_UNKNOWN)


def _read_xy(path: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    with open(path, newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                continue
            if len(row) != 2:
                raise UsageError(f"{path}:{lineno}: expected 2 columns x,y, got {len(row)}")
            try:
                x, y = float(row[0]), float(row[1])
            except ValueError:
                if lineno == 1 and not xs:
                    continue  # header
                raise UsageError(f"{path}:{lineno}: not numbers: {row!r}") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise UsageError(f"{path}:{lineno}: values must be finite, got {row!r}")
            xs.append(x)
            ys.append(y)
    if not xs:
        raise UsageError(f"{path}: no data rows")
    return np.array(xs), np.array(ys)


def cmd_erm(args) -> int:
    from ..expressivity import erm

    _check_options(args, "width", "restarts")
    if args.data:
        x, y = _read_xy(args.data)
    else:
        _check_options(args, "points")
        x, y = erm.tiny_dataset(args.points, seed=args.seed, kind=args.kind)
    n_comb = math.comb(1 + 2 * (2 * len(np.unique(x)) - 1) + args.width - 1, args.width)
    if n_comb > 2_000_000:
        raise UsageError(f"{n_comb} convex programs to solve: use fewer points or units")
    best = erm.global_erm(x, y, args.width, output_bias=not args.no_bias)
    gd = erm.fit_gd(x, y, args.width, restarts=args.restarts, steps=args.steps, lr=args.lr, seed=args.seed,
                    output_bias=not args.no_bias)
    stuck = float(np.mean(gd.losses > best.loss + 1e-6 * max(1.0, best.loss)))
    data = {"points": int(x.size), "width": args.width, "global": best.to_dict(), "gd": gd.to_dict(),
            "gd_fraction_above_optimum": stuck, "global_le_gd": bool(best.loss <= gd.best_loss + 1e-12)}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"data: {x.size} points; one hidden layer with {args.width} unit(s)"
              f"{'' if not args.no_bias else ', no output bias'}")
        print(f"global optimum (exhaustive, {best.programs} convex programs): mse {best.loss:.12g}")
        print(f"gradient descent ({gd.restarts} restarts x {gd.steps} steps, lr {gd.lr:g}): best {gd.best_loss:.12g}, "
              f"median {float(np.median(gd.losses)):.6g}, worst {float(np.max(gd.losses)):.6g}")
        print(f"restarts ending above the optimum: {100 * stuck:.1f}%")
    _save_model(best.network, args.out)
    return EXIT_OK if data["global_le_gd"] else EXIT_FALSE


def _parse_layers(text: str) -> list[tuple[int, int, int]]:
    out = []
    for i, part in enumerate(p.strip() for p in text.split(",") if p.strip()):
        try:
            ks, r = part.split(":")
            k, s = ks.split("/")
            out.append((int(k), int(s), int(r)))
        except ValueError:
            raise UsageError(f"--layers entry {i} {part!r} must look like kernel/stride:channels, e.g. 3/1:4") from None
    if not out:
        raise UsageError("--layers is empty")
    return out


def _partition_arg(text: str):
    if text.startswith("I="):
        try:
            return [int(v) for v in text[2:].split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--partition I= needs comma-separated positions, got {text!r}") from None
    return text


def _convac_setup(args):
    from ..expressivity import modrank

    _check_options(args, "size", "channels", "conv_channels")
    r = args.conv_channels if args.conv_channels is not None else args.channels ** 2
    shape = (args.size,) if args.dim == 1 else (args.size, args.size)
    prime = modrank.DEFAULT_PRIME if args.prime is None else args.prime
    if not (2 <= prime < 2**31 and modrank.is_prime(prime)):
        raise UsageError(f"--prime must be a prime below 2**31, got {prime}")
    from ..errors import SpecError
    from ..expressivity.convac import partition

    try:
        partition(shape, _partition_arg(args.partition))
    except SpecError as exc:
        raise UsageError(f"--partition: {exc}") from None
    return shape, r, prime


def cmd_convac_rank(args) -> int:
    from ..errors import ShapeError, SpecError
    from ..expressivity.convac import ConvAC, rank_report

    shape, r, prime = _convac_setup(args)
    if args.layers:
        if args.kernel is not None or args.stride is not None:
            raise UsageError("give either --layers or --kernel/--stride, not both")
        layers = _parse_layers(args.layers)
    else:
        layers = [(args.kernel or 2, args.stride or 1, r)]
    try:
        net = ConvAC.random(shape, args.channels, layers, shared=args.shared, seed=args.seed)
    except (ShapeError, SpecError) as exc:
        raise UsageError(str(exc)) from None
    rep = rank_report(net, _partition_arg(args.partition), prime=prime, float_check=args.float_check)
    data = {"convac": net.describe(), "overlapping": net.overlapping, "partition": args.partition, **rep.to_dict()}
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print(net.describe())
    print(f"partition {args.partition}: |I| = {len(rep.I)}, |J| = {len(rep.J)}; overlapping: "
          f"{'yes' if net.overlapping else 'no'}")
    print(f"rank: {rep.rank}")
    print(f"upper bound (all weights): {rep.upper_bound}; maximum min(M^|I|, M^|J|): {rep.maximum}")
    print(f"rank mod {rep.prime} with random integer weights (seed {args.seed}): a certified lower bound; "
          f"{'meets the upper bound, so this is the generic rank' if rep.tight else 'below the upper bound'}")
    if rep.float_rank is not None:
        s = rep.singular_values
        print(f"float SVD rank (cross-check): {rep.float_rank}; singular values {s[0]:.3g} .. {s[-1]:.3g}")
    return EXIT_OK


def cmd_convac_sweep(args) -> int:
    from ..errors import ShapeError
    from ..expressivity.convac import ConvAC, rank_report

    shape, r, prime = _convac_setup(args)
    kernels = _int_list(args.kernels, "--kernels")
    strides = _int_list(args.strides, "--strides")
    part = _partition_arg(args.partition)
    rows, seen = [], set()
    for K in kernels:
        for S in strides:
            try:
                net = ConvAC.random(shape, args.channels, [(K, S, r)], shared=args.shared, seed=args.seed)
            except ShapeError:
                continue  # this kernel/stride does not tile the grid
            key = net.layers[0]
            if key in seen:
                continue  # a whole-grid window: every stride gives the same circuit
            seen.add(key)
            S = key.stride[0]
            rep = rank_report(net, part, prime=prime)
            rows.append({"kernel": K, "stride": S, "overlapping": S < K, "rank": rep.rank,
                         "upper_bound": rep.upper_bound, "maximum": rep.maximum, "tight": rep.tight})
    if not rows:
        raise UsageError("no kernel/stride pair tiles the grid")
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        dims = f"{args.size}x{args.size}" if args.dim == 2 else f"{args.size}"
        print(f"ConvAC {dims}, M={args.channels}, conv channels {r}, {'shared' if args.shared else 'unshared'}, "
              f"partition {args.partition}; one GC layer then global product pooling")
        print(f"{'kernel':>6} {'stride':>6} {'overlap':>7} {'rank':>8} {'bound':>8} {'maximum':>8}")
        for row in rows:
            print(f"{row['kernel']:>6} {row['stride']:>6} {('yes' if row['overlapping'] else 'no'):>7} "
                  f"{row['rank']:>8} {row['upper_bound']:>8} {row['maximum']:>8}")
    if args.plot:
        from ..expressivity.plots import plot_rank_sweep

        dims = f"{args.size}x{args.size}" if args.dim == 2 else f"N={args.size}"
        plot_rank_sweep(rows, args.plot, title=f"ConvAC {dims}, M={args.channels}, r={r}, {args.partition} cut")
        if not args.json:
            print(f"wrote {args.plot}")
    return EXIT_OK


def cmd_grid_rank(args) -> int:
    from .. import io as rio
    from ..errors import ShapeError, SpecError
    from ..expressivity.relu_grid import relu_grid_rank

    _check_options(args, "size", "channels")
    shape = (args.size,) if args.dim == 1 else (args.size, args.size)
    net = rio.load(args.model)
    try:
        rep = relu_grid_rank(net, shape, args.channels, _partition_arg(args.partition), output=args.output,
                             layout=args.layout)
    except (ShapeError, SpecError) as exc:
        raise UsageError(str(exc)) from None
    data = {"model": args.model, "partition": args.partition, "rank": rep.rank, "exact": rep.exact,
            "maximum": rep.maximum, "I": list(rep.I), "J": list(rep.J)}
    if args.json:
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print(f"{args.model}: {'-'.join(map(str, net.sizes))}; grid {'x'.join(map(str, shape))}, M={args.channels}, "
          f"{args.layout}; partition {args.partition}")
    print(f"rank: {rep.rank}")
    print(f"{'exact rational rank' if rep.exact else 'rank mod 2**31 - 1 (a certified lower bound)'}; "
          f"maximum {rep.maximum}")
    return EXIT_OK
