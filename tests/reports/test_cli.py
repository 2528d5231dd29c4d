import json
from pathlib import Path

from samwidgets.cli import main
from samwidgets.cli.report import _parse_value


def test_values_parse_as_yaml():
    assert _parse_value("2") == 2 and _parse_value("null") is None
    assert _parse_value("[litemedsam, sam_vit_b]") == ["litemedsam", "sam_vit_b"]
    assert _parse_value("point_iterative:3") == "point_iterative:3"
    assert _parse_value("data/x.yaml") == "data/x.yaml"


def test_cli_runs_report_and_prints_html_path(tiny_notebook, tmp_path, capsys):
    code = main(["report", str(tiny_notebook), "-p", "n", "5", "-p", "label", "cli", "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    html = Path(out[-1])
    assert html.is_file() and html.suffix == ".html"
    params = json.loads((html.parent / "params.json").read_text())["parameters"]
    assert params["n"] == 5 and params["label"] == "cli"


def test_cli_failure_exits_nonzero_with_one_line(tiny_notebook, tmp_path, capsys):
    code = main(["report", str(tiny_notebook), "-p", "fail", "true", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 2
    assert "samwidgets report: error:" in captured.err and "boom" in captured.err
    assert Path(captured.out.strip().splitlines()[-1]).is_file()  # the partial HTML is still printed


def test_cli_list(capsys):
    assert main(["report", "--list"]) == 0
    out = capsys.readouterr().out
    assert "per_modality_analysis" in out and "max_cases_per_dataset = 2" in out
