"""The ``relucert`` command line.

Each sub-command lives in its own module below ``relucert.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (returning an exit code).
Exit codes: 0 success / equivalent, 1 not equivalent / invalid, 2 usage error, 3 unknown /
undone, 4 any other error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import RelucertError

EXIT_OK, EXIT_FALSE, EXIT_USAGE, EXIT_UNKNOWN, EXIT_ERROR = 0, 1, 2, 3, 4

# modules that add sub-commands, in the order they appear in --help
COMMAND_MODULES = [
    "relucert.cli.models",
    "relucert.cli.verify",
    "relucert.cli.transform",
    "relucert.cli.certify",
    "relucert.cli.zoo",
    "relucert.cli.expressivity",
    "relucert.cli.bench",
    "relucert.cli.vnncomp",
    "relucert.cli.demo",
]


class UsageError(RelucertError, ValueError):
    """Bad command-line usage (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="relucert",
        description="Formal equivalence verification of ReLU networks (MILP, SMT, sound bounds).",
    )
    parser.add_argument("--version", action="version", version=f"relucert {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:
                continue  # command not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"relucert {args.command}: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RelucertError as exc:
        print(f"relucert {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except FileNotFoundError as exc:
        print(f"relucert {args.command}: error: {exc.filename or exc}: no such file", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"relucert {args.command}: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
