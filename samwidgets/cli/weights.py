"""``samwidgets weights fetch NAME`` and ``samwidgets weights list``: model checkpoints on this machine.

    samwidgets weights fetch sam_vit_b [--url URL] [--dir DIR] [--allow-insecure-url] [--no-progress]
    samwidgets weights list [--dir DIR] [--verify]

The work is done by :mod:`samwidgets.models.weights` (verified, atomic downloads).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "weights", help="download and list model checkpoints",
        description="Download model checkpoints (sha256-verified, never half-written) and list them.\n\n"
                    "  samwidgets weights fetch sam_vit_b [--url URL] [--dir DIR]\n"
                    "  samwidgets weights list [--dir DIR] [--verify]",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="weights_action", metavar="ACTION")

    fetch = actions.add_parser("fetch", help="download a model's checkpoint and verify its sha256")
    fetch.add_argument("name", help="model name (see `samwidgets weights list`)")
    fetch.add_argument("--url", help="download from this URL instead of the official one")
    fetch.add_argument("--dir", help="destination folder (default: $SAMWIDGETS_WEIGHTS_DIR or "
                                     "~/.cache/samwidgets/weights)")
    fetch.add_argument("--allow-insecure-url", action="store_true",
                       help="also accept http:// and file:// URLs (default: https only)")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.set_defaults(func=_fetch)

    listing = actions.add_parser("list", help="list the models, their checkpoint files and whether present")
    listing.add_argument("--dir", help="weights folder to look in (default as for fetch)")
    listing.add_argument("--verify", action="store_true", help="hash present files (slow for large ones)")
    listing.set_defaults(func=_list)


def _help(parser) -> int:
    parser.print_help()
    return 1


def _fetch(args) -> int:
    from samwidgets.models.weights import fetch

    path = fetch(args.name, url=args.url, dest_dir=args.dir, progress=not args.no_progress, echo=print,
                 allow_insecure=args.allow_insecure_url)
    print(path)
    return 0


def _list(args) -> int:
    from samwidgets.models.registry import MODELS
    from samwidgets.models.weights import status, weights_dir

    rows = [status(name, dest_dir=args.dir, verify=args.verify) for name in MODELS]
    header = ["model", "file", "present", "sha256 known"] + (["verified"] if args.verify else [])
    table = [[r["name"], r["file"], _yes(r["present"]), _yes(r["sha256_known"])]
             + ([_yes(r["verified"])] if args.verify else []) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    for line in [header, *table]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    print(f"\nweights folder: {args.dir or weights_dir()}")
    return 0


def _yes(value) -> str:
    if isinstance(value, str):  # "unverified": no official sha256 to check against
        return value
    return "-" if value is None else ("yes" if value else "no")
