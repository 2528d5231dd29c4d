"""``samwidgets report NAME [-p KEY VALUE ...]``: run a report notebook and print its HTML path.

Values are read as YAML, so ``-p max_cases_per_dataset 2``, ``-p models '[litemedsam, sam_vit_b]'`` and
``-p failure_type null`` mean an int, a list and None; anything else stays a string.
"""

from __future__ import annotations

import sys


def _parse_value(text: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="run a report notebook (papermill) and export standalone HTML",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("name", nargs="?", help="report name (a notebook in notebooks/) or a path to an .ipynb")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                   help="set a notebook parameter (value parsed as YAML); repeatable")
    p.add_argument("--out", default="reports", help="folder that receives <date>-<name>/ (default: reports)")
    p.add_argument("--kernel", default="python3", help="Jupyter kernel name (default: python3, this venv)")
    p.add_argument("--list", action="store_true", help="list the reports and their parameters")
    p.add_argument("--log-output", action="store_true", help="echo the notebook's output while it runs")
    p.set_defaults(func=run)


def run(args) -> int:
    from samwidgets.errors import ReportError
    from samwidgets.reports import available, declared_parameters, find_notebook, run_report

    if args.list or not args.name:
        for name in available():
            print(name)
            for key, info in declared_parameters(find_notebook(name)).items():
                note = f"  # {info['help']}" if info.get("help") else ""
                print(f"    {key} = {info['default']}{note}")
        return 0 if args.list else 1
    params = {key: _parse_value(value) for key, value in args.parameter}
    try:
        report = run_report(args.name, params, out_dir=args.out, kernel_name=args.kernel,
                            log_output=args.log_output)
    except ReportError as exc:
        partial = getattr(exc, "report", None)
        if partial is not None:
            print(partial.html.resolve())
        raise
    print(f"report written in {report.seconds:.1f} s: {report.folder}", file=sys.stderr)
    print(report.html.resolve())
    return 0
