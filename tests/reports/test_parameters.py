"""Report parameters: JSON-like values only, and an injected cell no value can break out of (issue 10 §1)."""

import ast
import base64
import json
from pathlib import Path

import nbformat
import pytest

from samwidgets.cli import main
from samwidgets.errors import ReportError
from samwidgets.reports import run_report
from samwidgets.reports.parameters import check_source, inject_parameters, parameters_source, validate_parameters

TRICKY = [
    'say "hi"', "it's", "'''", '"""', '"""; import os; """', "back\\slash", "ends with \\", "\\",
    '\\"', "line\nbreak\r\n", "tab\there", "nul\x00byte", "ünïcödé ✓ 日本 \U0001F600", "\u2028sep",
    '"+str(__import__("os").system("touch X"))+"', "x" * 200_000,
]


def _payload(marker: Path) -> str:
    """The issue's exploit: a YAML !!binary tag whose bytes close papermill's quotes and run code."""
    code = f'"+str(__import__("pathlib").Path({str(marker)!r}).touch())+"'
    return "!!binary " + base64.b64encode(code.encode()).decode()


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_the_cell_is_literal_assignments_reproducing_each_value(value):
    source = parameters_source({"label": value, "nested": {"k": [value, None, 1.5, True]}})
    tree = ast.parse(source)
    assert all(isinstance(node, ast.Assign) for node in tree.body)
    namespace = {}
    exec(compile(tree, "<cell>", "exec"), {"__builtins__": {}}, namespace)  # literals only: no builtins needed
    assert namespace == {"label": value, "nested": {"k": [value, None, 1.5, True]}}


@pytest.mark.parametrize("bad", [b"bytes", {1, 2}, (1, 2), object(), float("nan"), float("inf"),
                                 [1, [b"deep"]], {"k": {1: "int key"}}, 10 ** 5000, __import__("datetime").date(2024, 1, 1)],
                         ids=range(10))
def test_values_that_are_not_json_like_are_refused(bad):
    with pytest.raises(ReportError):
        validate_parameters({"seed": bad})


@pytest.mark.timeout(20)
def test_a_yaml_alias_bomb_on_the_command_line_is_refused_quickly(tiny_notebook, tmp_path, capsys):
    bomb = "[" + ", ".join(["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + ["*a0"] * 8) + "]"
    for i in range(1, 9):
        bomb = f"[&a{i} {bomb}, " + ", ".join([f"*a{i}"] * 8) + "]"
    assert main(["report", str(tiny_notebook), "-p", "label", bomb, "--out", str(tmp_path / "o")]) == 2
    assert "more than 100,000 values" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_names_must_be_identifiers():
    for name in ("a b", "import", "x=1;y", ""):
        with pytest.raises(ReportError, match="identifier"):
            validate_parameters({name: 1})


def test_check_source_refuses_anything_but_literal_assignments():
    with pytest.raises(ReportError):
        check_source("x = 1\nimport os\n", {"x": 1})
    with pytest.raises(ReportError):
        check_source("x = f(1)\n", {"x": 1})
    with pytest.raises(ReportError):
        check_source("x = 2\n", {"x": 1})


def test_injection_replaces_an_earlier_injected_cell(tiny_notebook):
    nb = nbformat.read(str(tiny_notebook), as_version=4)
    inject_parameters(nb, {"n": 1})
    inject_parameters(nb, {"n": 2})
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and injected[0].source.endswith("n = 2\n")
    assert "parameters" in nb.cells[nb.cells.index(injected[0]) - 1].metadata["tags"]


def test_binary_payload_on_the_command_line_is_refused_before_any_notebook_runs(tiny_notebook, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    out = tmp_path / "reports"
    code = main(["report", str(tiny_notebook), "-p", "label", _payload(marker), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "label" in err and "bytes" in err
    assert not marker.exists() and not out.exists()


def test_api_refuses_bytes_before_running(tiny_notebook, tmp_path):
    marker = tmp_path / "MARKER"
    bad = f'"+str(__import__("pathlib").Path({str(marker)!r}).touch())+"'.encode()
    with pytest.raises(ReportError, match="bytes"):
        run_report(str(tiny_notebook), {"label": bad}, out_dir=tmp_path / "out")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_tricky_strings_reach_the_notebook_unchanged(tmp_path):
    """One kernel run: every tricky string (and a dict/list of them) arrives exactly, nothing else runs."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("value = None\nother = 'x'")
    params.metadata["tags"] = ["parameters"]
    dump = tmp_path / "seen.json"
    nb.cells = [params, nbformat.v4.new_code_cell(
        f"import json, pathlib\npathlib.Path({str(dump)!r}).write_text(json.dumps([value, other]))")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tricky.ipynb"
    nbformat.write(nb, str(path))
    value = {"strings": TRICKY, "numbers": [0, -1, 2 ** 70, 1e-300, -0.5], "flags": [True, False, None]}
    marker = Path("X")  # the payload string above would 'touch X' in the kernel's cwd
    run_report(str(path), {"value": value, "other": TRICKY[4]}, out_dir=tmp_path / "out", cwd=tmp_path)
    seen = json.loads(dump.read_text())
    assert seen == [value, TRICKY[4]]
    assert not (tmp_path / marker).exists()
