"""Transform commands: ``relucert transform``, ``relucert mutate`` and ``relucert regions``."""

from __future__ import annotations

import json

from . import EXIT_FALSE, EXIT_OK, EXIT_UNKNOWN, UsageError

__all__ = ["register"]


def _box(text, net):
    from ..box import Box

    if text is None:
        return None
    return Box.from_string(text, dim=net.n_inputs)


def _params(items) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise UsageError(f"--param must look like name=value, got {it!r}")
        k, v = it.split("=", 1)
        k = k.strip().replace("-", "_")
        v = v.strip()
        if not k:
            raise UsageError(f"--param must look like name=value, got {it!r}")
        out[k] = v
    return out


def register(subparsers) -> None:
    p = subparsers.add_parser("transform", help="rewrite a network with one of the papers' constructions",
                              description="Apply transform NAME to MODEL, write OUT (atomically), print the "
                                          "sizes next to the paper's formula and the claim; --check proves or "
                                          "refutes the claim with the verifier.")
    p.add_argument("name", metavar="NAME", nargs="?", help="transform name (see --list)")
    p.add_argument("model", metavar="MODEL", nargs="?")
    p.add_argument("output", metavar="OUT", nargs="?")
    p.add_argument("--list", action="store_true", help="list the transforms, one line each")
    p.add_argument("--box", metavar="BOX", help="input box 'lo:hi,...' (one interval is repeated)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="transform parameter (repeatable)")
    p.add_argument("--check", "--verify", dest="check", action="store_true", help="verify the claim")
    p.add_argument("--method", default="auto", choices=("auto", "regions", "bab", "milp", "smt"),
                   help="how to check (auto: exact regions in low dimension, else the verifier)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_transform)

    p = subparsers.add_parser("mutate", help="apply a random mutation (known bad) and optionally refute it",
                              description="Mutations: drop, perturb, bias, offset. Each claims exactness "
                                          "on the box; --check should find a counterexample.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--kind", required=True, choices=("drop", "perturb", "bias", "offset"))
    p.add_argument("--box", required=True, metavar="BOX")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--check", "--verify", dest="check", action="store_true")
    p.add_argument("--method", default="auto", choices=("auto", "regions", "bab", "milp", "smt"))
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_mutate)

    p = subparsers.add_parser("regions", help="count the linear regions (1D: affine pieces) of a network on a box",
                              description="Exact enumeration (LP-checked, never by sampling). Prints 'pieces: N' "
                                          "for 1-input networks and 'regions: N' otherwise.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--box", required=True, metavar="BOX")
    p.add_argument("--max-regions", type=int, default=None, metavar="N")
    p.add_argument("--list", action="store_true", help="also print every region/piece")
    p.add_argument("--draw", metavar="FILE", help="2 inputs: draw the regions coloured by their affine maps "
                                                   "(.svg; .png needs matplotlib)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_regions)


def _verdict_code(res) -> int:
    from ..verify.result import Verdict

    return {Verdict.EQUIVALENT: EXIT_OK, Verdict.NOT_EQUIVALENT: EXIT_FALSE}.get(res.verdict, EXIT_UNKNOWN)


def _run(new, claim, args, out_path) -> int:
    from .. import io as rio
    from ..transforms import check

    rio.save(new, out_path)
    res = None
    if args.check:
        res = check(new, claim, method=args.method, time_limit=args.time_limit)
    if args.json:
        d = {"output": out_path, "claim": claim.to_dict()}
        if res is not None:
            d["verification"] = res.to_dict()
        print(json.dumps(d, indent=2, default=str))
    else:
        print(f"wrote {out_path}")
        print(claim.summary())
        if res is not None:
            print(res.summary())
    return EXIT_OK if res is None else _verdict_code(res)


def cmd_transform(args) -> int:
    from .. import io as rio
    from ..transforms import REGISTRY, TransformError, get

    if args.list:
        for name in sorted(REGISTRY):
            t = REGISTRY[name]
            flag = " [box]" if t.needs_box else ""
            print(f"{name:<22} {t.summary}{flag}")
        return EXIT_OK
    if not (args.name and args.model and args.output):
        raise UsageError("need NAME MODEL OUT (or --list)")
    if args.name not in REGISTRY:
        raise UsageError(f"unknown transform {args.name!r}; known: {', '.join(sorted(REGISTRY))}")
    net = rio.load(args.model)
    box = _box(args.box, net)
    t = get(args.name)
    if t.needs_box and box is None:
        raise UsageError(f"{args.name} needs --box")
    if args.check and box is None:
        raise UsageError("--check needs --box (the box to prove the claim on)")
    try:
        new, claim = t.apply(net, box, **_params(args.param))
    except TransformError as exc:
        raise UsageError(str(exc)) from None
    return _run(new, claim, args, args.output)


def cmd_mutate(args) -> int:
    from .. import io as rio
    from ..transforms.mutate import mutate

    net = rio.load(args.model)
    box = _box(args.box, net)
    new, claim = mutate(net, box, args.kind, seed=args.seed, scale=args.scale)
    return _run(new, claim, args, args.output)


def cmd_regions(args) -> int:
    from .. import io as rio
    from ..regions import RegionLimitError, linear_regions, pieces_1d

    net = rio.load(args.model)
    box = _box(args.box, net)
    if args.max_regions is not None and args.max_regions < 1:
        raise UsageError(f"--max-regions must be >= 1, got {args.max_regions}")
    if net.n_inputs == 1:
        ps = pieces_1d(net, box.lo[0], box.hi[0])
        if args.json:
            print(json.dumps({"pieces": len(ps), "breakpoints": [str(p.lo) for p in ps[1:]]}, indent=2))
        else:
            print(f"pieces: {len(ps)}")
            if args.list:
                for p in ps:
                    print(f"  [{float(p.lo):.9g}, {float(p.hi):.9g}]  slope {[float(s) for s in p.slope]}")
        return EXIT_OK
    try:
        R = linear_regions(net, box, max_regions=args.max_regions)
    except RegionLimitError as exc:
        print(f"relucert regions: {exc}")
        return EXIT_UNKNOWN
    unc = sum(not r.certified for r in R)
    if args.draw:
        if net.n_inputs != 2:
            raise UsageError(f"--draw needs a 2-input network, got {net.n_inputs} inputs")
        from ..regions.draw import draw_regions

        draw_regions(net, box, args.draw, regions=R)
    if args.json:
        print(json.dumps({"regions": len(R), "uncertified": unc,
                          "patterns": ["|".join("".join(map(str, l)) for l in r.pattern) for r in R] if args.list else None},
                         indent=2))
    else:
        print(f"regions: {len(R)}")
        if unc:
            print(f"note: {unc} region(s) thinner than the tolerance were kept without a full-dimension certificate")
        if args.list:
            for r in R:
                print("  " + "|".join("".join(map(str, l)) for l in r.pattern))
    return EXIT_OK
