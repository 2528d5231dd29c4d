import datetime as dt
import json
import re
import sys

import nbformat
import pytest

from samwidgets.errors import ReportError
from samwidgets.reports import run_report
from samwidgets.reports.catalog import available, declared_parameters, find_notebook
from samwidgets.reports.runner import run_folder

DATE = dt.date(2026, 1, 2)


def _visible_text(html: str) -> str:
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_report_folder_holds_notebook_html_params(tiny_notebook, tmp_path):
    report = run_report(str(tiny_notebook), {"n": 4}, out_dir=tmp_path / "reports", date=DATE)
    assert report.folder == tmp_path / "reports" / "2026-01-02-tiny"
    assert report.notebook.is_file() and report.html.is_file()
    params = json.loads(report.params.read_text())
    assert params["parameters"] == {"n": 4, "fail": False, "label": "tiny"}
    assert params["given"] == {"n": 4} and params["run"]["status"] == "ok"
    html = report.html.read_text()
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 1  # the figure, embedded
    assert "<table" in html and "last cell ran" in html
    text = _visible_text(html)
    assert "D.show(fig)" not in text and "import pandas" not in text  # code hidden
    assert "noise" not in text  # stderr left out of the HTML ...
    nb = nbformat.read(str(report.notebook), as_version=4)
    # kernel_name="python3" runs the notebook with this very interpreter (the venv's), not another python
    last = [c for c in nb.cells if "kernel python" in c.source][0]
    assert f"kernel python: {sys.executable}" in json.dumps(last.outputs)
    noisy = [c for c in nb.cells if "print('noise'" in c.source]
    assert "noise" in json.dumps(noisy[0].outputs)  # ... but kept in the executed notebook
    header = html[html.index('id="report-parameters"'):]
    assert re.search(r"<code>n</code></td><td><code>4</code>", header)
    assert html.index('id="report-parameters"') < html.index("Tiny report")  # parameters at the top
    # a second run the same day never overwrites the first
    again = run_report(str(tiny_notebook), {}, out_dir=tmp_path / "reports", date=DATE)
    assert again.folder.name == "2026-01-02-tiny-2"


def test_failing_cell_leaves_partial_notebook_and_html(tiny_notebook, tmp_path):
    with pytest.raises(ReportError) as info:
        run_report(str(tiny_notebook), {"fail": True, "n": 2}, out_dir=tmp_path, date=DATE)
    err = info.value
    assert "tiny.ipynb" in str(err) and "ValueError" in str(err) and "boom with n=2" in str(err)
    assert "cell" in str(err) and err.cell is not None
    report = err.report
    nb = nbformat.read(str(report.notebook), as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "image/png" in outputs and "boom with n=2" in outputs and "last cell ran" not in outputs
    html = report.html.read_text()
    assert "This report is incomplete: a cell failed" in html and "boom with n=2" in html
    assert "data:image/png;base64," in html  # what ran before the failure is still there
    assert json.loads(report.params.read_text())["run"]["status"] == "failed"


def test_unknown_parameter_and_notebook_are_typed_errors(tiny_notebook, tmp_path):
    with pytest.raises(ReportError, match="unknown parameter.*nope.*takes: n, fail, label"):
        run_report(str(tiny_notebook), {"nope": 1}, out_dir=tmp_path / "out")
    with pytest.raises(ReportError, match="unknown report 'no_such_report'; available: .*per_modality_analysis"):
        run_report("no_such_report", out_dir=tmp_path / "out")
    with pytest.raises(ReportError, match="not found"):
        find_notebook(str(tmp_path / "missing.ipynb"))
    assert not (tmp_path / "out").exists()  # nothing written for a refused run


def test_catalog_lists_the_report_notebooks_and_their_parameters():
    names = available()
    for name in ("per_modality_analysis", "failure_gallery", "model_comparison", "propagation_3d", "demo"):
        assert name in names
    params = declared_parameters(find_notebook("per_modality_analysis"))
    for key in ("manifests", "models", "protocols", "max_cases_per_dataset", "seed", "device", "cache_dir",
                "results", "results_out", "workers", "scheduler"):
        assert key in params
    assert params["max_cases_per_dataset"]["value"] == 2
    assert "manifests to sweep" in params["manifests"]["help"]
    g = declared_parameters(find_notebook("failure_gallery"))
    assert {"results", "metric", "k", "group_by", "failure_type"} <= set(g)


def test_run_folder_suffixes(tmp_path):
    a = run_folder(tmp_path, "x", date=DATE)
    b = run_folder(tmp_path, "x", date=DATE)
    assert (a.name, b.name) == ("2026-01-02-x", "2026-01-02-x-2")
