"""The ``samwidgets`` command line: one thin sub-command per concern.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Typed :class:`samwidgets.errors.SamwidgetsError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from samwidgets import __version__
from samwidgets.cli import cache, evaluate, finetune, manifest, report, weights
from samwidgets.errors import SamwidgetsError

# the sub-command modules, in the order shown by --help
COMMANDS = (manifest, evaluate, report, weights, cache, finetune)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="samwidgets",
        description="Find where Segment Anything models fail on medical images.",
    )
    parser.add_argument("--version", action="version", version=f"samwidgets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except SamwidgetsError as exc:
        print(f"samwidgets {args.command}: error: {exc}", file=sys.stderr)
        for problem in getattr(exc, "problems", []) or []:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"samwidgets {args.command}: interrupted", file=sys.stderr)
        return 130
