"""Evaluation: prompt protocols, failure typing and the dataset x model x protocol sweep.

    table = samwidgets.evaluation.run_sweep(["data_manifests/sample.yaml"], ["litemedsam"],
                                            ["box", "point_iterative:9"], out="results.parquet")
"""

from samwidgets.evaluation.failures import FAILURE_TYPES, failure_type
from samwidgets.evaluation.protocols import PROTOCOL_HELP, Protocol, Step, parse_protocol, run_protocol
from samwidgets.evaluation.rows import case_rng
from samwidgets.evaluation.runner import run_sweep
from samwidgets.evaluation.table import COLUMNS, read_table

__all__ = [
    "COLUMNS", "FAILURE_TYPES", "PROTOCOL_HELP", "Protocol", "Step", "case_rng", "failure_type",
    "parse_protocol", "read_table", "run_protocol", "run_sweep",
]
