"""Reports: run a parameterised notebook with papermill and export a standalone HTML (code hidden).

    from samwidgets.reports import run_report
    report = run_report("per_modality_analysis", {"max_cases_per_dataset": 2})
    print(report.html)

Command line: ``samwidgets report NAME [-p KEY VALUE ...]``.
"""

from samwidgets.reports.catalog import available, declared_parameters, find_notebook, notebooks_dir
from samwidgets.reports.runner import Report, run_report

__all__ = ["Report", "available", "declared_parameters", "find_notebook", "notebooks_dir", "run_report"]
