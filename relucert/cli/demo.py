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
    from ..examples import example_networks, example_pairs
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
    print(f"{len(example_pairs())} pairs in {time.perf_counter() - t0:.2f}s: "
          f"{'all verdicts as expected' if ok else 'some verdicts unexpected'}")
    return EXIT_OK if ok else EXIT_FALSE
