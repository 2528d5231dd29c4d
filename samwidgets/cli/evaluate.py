"""``samwidgets evaluate``: sweep manifests x models x prompt protocols into a results table.

    samwidgets evaluate --manifest data_manifests/sample.yaml --model litemedsam \\
        --protocol box --protocol point_iterative:9 --out results.parquet

A thin wrapper over :func:`samwidgets.evaluation.run_sweep`; a rerun with the same ``--out`` resumes. It
prints the number of error rows; when no row was scored (every row an error or skipped) it prints a one-line
summary with the first error on stderr and exits 1.
``--workers N`` runs the (case, model) units on a local Dask cluster of N worker processes, ``--scheduler
ADDRESS`` on a running Dask cluster; without either the sweep runs in this process. The table is the same.
"""

from __future__ import annotations

import argparse
import sys

from samwidgets.evaluation.protocols import PROTOCOLS


def protocol_epilog() -> str:
    """One line per protocol of the registry: how it is written, what it does, 2D/3D, what it follows."""
    lines = ["protocols (the reference each follows is described in docs/protocols.md):"]
    for spec in PROTOCOLS.values():
        lines.append(f"  {spec.usage:<30} {spec.dims}D  {spec.summary}  [{spec.reference}]")
    return "\n".join(lines)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="sweep manifests x models x prompt protocols into a parquet table",
        description="Evaluate SAM-family models with simulated prompts; one row per case, label, slice, "
                    "model, protocol and prompt step. Rerunning with the same --out resumes.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=protocol_epilog(),
    )
    p.add_argument("--manifest", action="append", required=True, metavar="M",
                   help="manifest YAML (repeatable)")
    p.add_argument("--model", action="append", required=True, metavar="NAME",
                   help="model registry name, e.g. litemedsam (repeatable)")
    p.add_argument("--protocol", action="append", required=True, metavar="P",
                   help="prompt protocol, e.g. box or point_iterative:9 (repeatable)")
    p.add_argument("--out", required=True, help="results table (.parquet); resumed when it exists")
    p.add_argument("--max-cases", type=int, default=None, metavar="N", help="first N cases of each manifest")
    p.add_argument("--seed", type=int, default=0, help="random seed of the prompt simulators (default 0)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1, mps")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="embedding cache directory (default: memory only for this run)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="run on a local Dask cluster of N worker processes (127.0.0.1); with --device "
                            "cuda, worker i uses cuda:i")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    p.set_defaults(func=run)


def run(args) -> int:
    from samwidgets.evaluation import run_sweep

    table = run_sweep(
        args.manifest,
        args.model,
        args.protocol,
        out=args.out,
        max_cases=args.max_cases,
        seed=args.seed,
        device=args.device,
        cache=args.cache_dir,
        progress=not args.no_progress,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    done = table[table.error == ""]
    n_err = int((table.failure_type == "error").sum())
    print(f"wrote {len(table)} rows to {args.out} ({n_err} error rows)")
    if not len(done):
        print(f"samwidgets evaluate: error: {_nothing_scored(table)}", file=sys.stderr)
        return 1
    if len(done):
        last = done.loc[done.groupby(["model", "protocol", "case", "label", "slice"]).step.idxmax()]
        summary = last.groupby(["model", "protocol"]).dice.agg(["mean", "count"])
        print("mean Dice at the last step:")
        for (model, protocol), r in summary.iterrows():
            print(f"  {model:<14} {protocol:<22} {r['mean']:.4f}  (n={int(r['count'])})")
    return 0


def _nothing_scored(table) -> str:
    """One line saying that no row was scored, with the counts and the first error row's case and reason."""
    if not len(table):
        return "no rows were produced (no case had a label?)"
    failed = table[table.error != ""]
    first = failed.iloc[0]
    n_err = int((table.failure_type == "error").sum())
    return (f"all {len(table)} rows failed ({n_err} errors, {len(table) - n_err} skipped); first: "
            f"{first['case']} {first['protocol']}: {str(first['error']).splitlines()[0][:200]}")
