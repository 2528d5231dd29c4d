"""``samwidgets cache``: pre-compute, inspect and clear the embedding cache.

    samwidgets cache precompute MANIFEST [MANIFEST ...] --model M [--device D] [--max-cases N]
    samwidgets cache info [--json]
    samwidgets cache clear [--model M] [--yes]

``precompute`` embeds every 2D slice (z index, array order) of every case so that the viewer and the
sweeps never wait for the image encoder. It resumes after an interruption: a slice whose entry is
already on disk is skipped after hashing its preprocessed input and verifying the entry (signature and
sizes; a truncated or corrupt entry is dropped and re-encoded). Every
command takes ``--cache-dir DIR`` (default ``$SAMWIDGETS_CACHE_DIR/embeddings`` or
``~/.cache/samwidgets/embeddings``). ``precompute`` is a thin call of
:func:`samwidgets.models.precompute.precompute_manifests`.
"""

from __future__ import annotations

import argparse
import json
import sys

from samwidgets.errors import SamwidgetsError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cache", help="pre-compute, inspect and clear cached image embeddings",
        description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION")

    pre = actions.add_parser("precompute", help="embed every slice of every case of the manifests")
    pre.add_argument("manifests", nargs="+", metavar="MANIFEST", help="data manifest YAML file(s)")
    pre.add_argument("--model", required=True, help="model name (see `samwidgets weights list`)")
    pre.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default)")
    pre.add_argument("--max-cases", type=int, default=None, metavar="N",
                     help="stop after N cases in all (in manifest order)")
    pre.add_argument("--fp16-on-disk", action="store_true",
                     help="store float16 on disk: half the space, values change slightly")
    pre.add_argument("--no-progress", action="store_true", help="no progress bar")
    pre.set_defaults(func=_precompute)

    info = actions.add_parser("info", help="entries and bytes on disk, per model")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)

    clear = actions.add_parser("clear", help="delete cached embeddings (all, or one model's)")
    clear.add_argument("--model", help="only the entries of this model")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    clear.set_defaults(func=_clear)

    for sub in (pre, info, clear):
        sub.add_argument("--cache-dir", metavar="DIR", help="the embedding cache folder")


def _help(parser) -> int:
    parser.print_help()
    return 1


# -- commands -----------------------------------------------------------------------------------
def _cache(args, **options):
    from samwidgets.models.cache import EmbeddingCache

    return EmbeddingCache(args.cache_dir, **options)


def _precompute(args) -> int:
    from samwidgets.models.precompute import precompute_manifests

    if args.max_cases is not None and args.max_cases < 1:
        print("samwidgets cache precompute: --max-cases must be >= 1", file=sys.stderr)
        return 2
    summary = precompute_manifests(args.manifests, args.model, cache_dir=args.cache_dir, device=args.device,
                                   max_cases=args.max_cases, fp16_on_disk=args.fp16_on_disk,
                                   progress=not args.no_progress)
    print(f"{summary['cases']} cases, {summary['slices']} slices: {summary['encoded']} embedded, "
          f"{summary['skipped']} already cached ({summary['directory']})")
    if summary["failed"]:
        print(f"{len(summary['failed'])} case(s) failed; see above", file=sys.stderr)
        return 1
    return 0


def _info(args) -> int:
    info = _cache(args).info()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print(f"embedding cache: {info['directory']}")
    print(f"entries: {info['entries']}  ({_size(info['bytes_on_disk'])} on disk)")
    for model, count in info["models"].items():
        print(f"  {model}: {count}")
    if info["stale_tmp_files"]:
        print(f"stale temporary files (interrupted writes): {info['stale_tmp_files']}; "
              "`samwidgets cache clear` removes them")
    return 0


def _clear(args) -> int:
    cache = _cache(args)
    try:
        info = cache.info()
        count = info["models"].get(args.model, 0) if args.model else info["entries"]
    except SamwidgetsError:
        if args.model:  # a FIFO or device among the entries cannot be read to filter by model
            raise
        count = "all"  # clearing everything removes such files without opening them
    what = f"{count} cached embeddings" + (f" of model '{args.model}'" if args.model else "")
    if not args.yes:
        if not sys.stdin.isatty():
            print(f"samwidgets cache clear: would delete {what} from {cache.directory}; "
                  "pass --yes to confirm", file=sys.stderr)
            return 1
        if input(f"Delete {what} from {cache.directory}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    removed = cache.clear(model=args.model)
    print(f"deleted {removed} cached embeddings from {cache.directory}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
