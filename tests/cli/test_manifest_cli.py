"""``samwidgets manifest validate|list``: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from samwidgets.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data_manifests" / "sample.yaml"

TOY = """\
dataset: toy
modality: US
anatomy: phantom
licence: CC0
citation: nobody
root: .
preset: percentile
label: {type: threshold, threshold: 127, name: blob}
cases:
  - {id: ok, image: a.png, label: m.png}
"""


def _toy(folder: Path, extra: str = "") -> Path:
    img = np.zeros((8, 8), np.uint8)
    img[2:6, 2:6] = 255
    PILImage.fromarray(img).save(folder / "a.png")
    PILImage.fromarray(img).save(folder / "m.png")
    path = folder / "toy.yaml"
    path.write_text(TOY + extra)
    return path


def test_validate_sample_prints_summary_and_exits_zero(capsys):
    assert main(["manifest", "validate", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"{SAMPLE}: OK, 15 case(s)" in out
    assert "images: 2D 13, 3D 2" in out
    assert "lesion 2" in out and "modality: MR 6" in out


def test_validate_problems_exit_one_and_name_each_case(tmp_path, capsys):
    path = _toy(tmp_path, "  - {id: lost, image: gone.png, label: m.png}\n  - {id: ok, image: a.png}\n")
    assert main(["manifest", "validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: 2 problem(s)" in out
    assert "case 'lost': image file not found" in out
    assert "case 'ok': duplicate case id" in out


def test_validate_folder_and_mixed_results(tmp_path, capsys):
    _toy(tmp_path)
    (tmp_path / "broken.yaml").write_text("dataset: [\n")
    assert main(["manifest", "validate", str(tmp_path), "--no-load"]) == 1
    out = capsys.readouterr().out
    assert "toy.yaml: OK, 1 case(s)" in out and "images (declared, not loaded)" in out
    assert "broken.yaml: 1 problem(s)" in out and "malformed YAML" in out
    assert "1 manifest(s) with problems" in out


def test_validate_empty_folder_is_a_typed_error(tmp_path, capsys):
    assert main(["manifest", "validate", str(tmp_path)]) == 2
    assert "holds no *.yaml manifest" in capsys.readouterr().err


def test_list_prints_one_line_per_case(tmp_path, capsys):
    path = _toy(tmp_path)
    assert main(["manifest", "list", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"toy/ok\tUS\tpercentile\t{tmp_path / 'a.png'}\tm.png"]


def test_list_of_invalid_manifest_exits_two(tmp_path, capsys):
    path = _toy(tmp_path, "  - {id: lost, image: gone.png}\n")
    assert main(["manifest", "list", str(path)]) == 2
    err = capsys.readouterr().err
    assert "1 problem(s) in manifest" in err and "case 'lost': image file not found" in err


def test_manifest_without_action_prints_help(capsys):
    assert main(["manifest"]) == 1
    assert "validate" in capsys.readouterr().out
