"""``relucert demo``: the main job on the built-in example networks.

A net and its exact rewrites are proved equivalent, a quantized copy is proved within eps, and a
broken rewrite is refuted with a counterexample checked in exact rational arithmetic.  Exit code
0 when every verdict is the expected one, 1 otherwise.
"""

from __future__ import annotations

import time

from . import EXIT_FALSE, EXIT_OK

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="verify the built-in example pairs",
                              description="Prove exact rewrites, a quantized copy within eps, and refute a "
                                          "broken rewrite, on built-in example networks.")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="time limit per pair (default 60)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from ..examples import TRANSFORM_EXAMPLES, example_networks, example_pairs
    from ..verify import EpsEquivalence, verify

    print("relucert demo: formal equivalence of ReLU networks\n")
    print("built-in networks:")
    for name, net in example_networks().items():
        print(f"  {name:<10} {'-'.join(map(str, net.sizes)):<12} {net.n_relus:>3} ReLUs  "
              f"digest {net.digest[:16]}")
    print()
    ok = True
    t0 = time.perf_counter()
    for i, pair in enumerate(example_pairs(), 1):
        print(f"[{i}] {pair.name}: {pair.story}")
        print(f"    f = {'-'.join(map(str, pair.f.sizes))}, g = {'-'.join(map(str, pair.g.sizes))}, "
              f"box {pair.box.to_string()}, eps = {pair.eps:g}")
        res = verify(pair.f, pair.g, pair.box, EpsEquivalence(pair.eps), time_limit=args.timeout)
        for line in res.summary().splitlines():
            print("    " + line)
        good = str(res.verdict) == pair.expected
        ok &= good
        print(f"    expected {pair.expected}: {'as expected' if good else 'UNEXPECTED'}\n")
    ok &= _transforms_story(args)
    n = len(example_pairs()) + len(TRANSFORM_EXAMPLES)
    print(f"{n} checks in {time.perf_counter() - t0:.2f}s: "
          f"{'all verdicts as expected' if ok else 'some verdicts unexpected'}")
    return EXIT_OK if ok else EXIT_FALSE


def _transforms_story(args) -> bool:
    """The papers' rewrites, each applied and its claim proved or refuted."""
    from .. import transforms
    from ..examples import TRANSFORM_EXAMPLES

    print("the papers' rewrites, each with the claim it makes, checked by the verifier:")
    ok = True
    for name, build, box, expected in TRANSFORM_EXAMPLES:
        net = build()
        new, claim = transforms.apply(name, net, box)
        res = transforms.check(new, claim, time_limit=args.timeout)
        good = str(res.verdict) == expected
        ok &= good
        summary = transforms.get(name).summary
        print(f"  {name}: {summary}")
        print(f"    {'-'.join(map(str, net.sizes))} -> {'-'.join(map(str, new.sizes))}; claim: {claim.kind}"
              + (f", eps {claim.eps:.3g}" if claim.eps else "") + (f", margin {claim.gamma:.3g}" if claim.gamma else ""))
        line = f"    {res.verdict} by {res.method} in {res.time_s:.2f}s"
        if res.counterexample is not None:
            ce = res.counterexample
            line += f"; counterexample x = [{', '.join(f'{float(v):.6g}' for v in ce.x)}] ({ce.detail})"
        print(line)
        print(f"    expected {expected}: {'as expected' if good else 'UNEXPECTED'}")
    print()
    return ok
