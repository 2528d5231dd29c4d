"""`samwidgets finetune` refuses bad input with one line and exit code 2, before any encoding."""

from __future__ import annotations

from samwidgets.cli import main
from tests.conftest import REPO

SAMPLE = REPO / "data_manifests" / "sample.yaml"


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    base = ["finetune", "--manifest", str(SAMPLE), "--out", str(tmp_path / "run"), "--device", "cpu", "--no-progress"]
    assert main(base + ["--model", "no_such_model"]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err
    assert main(base + ["--val-fraction", "0.6", "--test-fraction", "0.5"]) == 2
    assert "fractions must be in [0, 1) and sum below 1" in capsys.readouterr().err
    assert main(base + ["--manifest", str(tmp_path / "missing.yaml")]) == 2
    assert not (tmp_path / "run").exists()  # nothing written for a refused run
