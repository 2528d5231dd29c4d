"""Analysis helpers the report notebooks call: results loading, statistics, figures, galleries.

The notebooks under ``notebooks/`` hold no logic of their own; everything they compute lives here and is
tested in ``tests/analysis``. Nothing here is imported by the lower layers; torch is only imported when a
gallery replays predictions (``gallery.build_items``) or a sweep runs.
"""

from samwidgets.analysis.results import (
    FAILURE_TYPES, METRICS, check_results, final_step, load_results, parse_prompt_log,
    per_case, prompt_kind,
)
from samwidgets.analysis.stats import (
    PairedTest, bootstrap_ci, clicks_curve, disagreements, failure_breakdown, paired_differences,
    paired_test, summarize, worst_k,
)
from samwidgets.analysis.volumes import distance_curve, slice_distance

__all__ = [
    "FAILURE_TYPES", "METRICS", "check_results", "final_step", "load_results",
    "parse_prompt_log", "per_case", "prompt_kind", "PairedTest", "bootstrap_ci", "clicks_curve",
    "disagreements", "failure_breakdown", "paired_differences", "paired_test", "summarize", "worst_k",
    "distance_curve", "slice_distance",
]
