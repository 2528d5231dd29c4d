"""The results table's one rule for finding a row's case (used by the gallery and the viewer's open_case)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from samwidgets.errors import InputError, ManifestError
from samwidgets.evaluation.table import case_for_row

SAMPLE = Path(__file__).resolve().parents[2] / "data_manifests" / "sample"


@pytest.fixture()
def twin_manifest(tmp_path):
    """Three cases: "x" of dataset one, "y" and "only" of dataset two (ids are unique in a manifest)."""
    for folder, src in (("a", "10209"), ("b", "10217"), ("c", "10350")):
        (tmp_path / folder).mkdir()
        shutil.copy(SAMPLE / "busi" / "images" / f"{src}.png", tmp_path / folder / "x.png")
        shutil.copy(SAMPLE / "busi" / "masks" / f"{src}.png", tmp_path / folder / "x_mask.png")
    path = tmp_path / "twins.yaml"
    rule = "{type: colours, labels: {lesion: [0, 255, 0]}, background: [0, 0, 0], max_distance: 30}"
    path.write_text(
        "dataset: one\nmodality: US\nanatomy: breast\nlicence: CC0 1.0\ncitation: test\nroot: .\n"
        f"preset: percentile\nlabel: {rule}\ncases:\n"
        "  - {id: x, image: a/x.png, label: a/x_mask.png}\n"
        "  - {id: y, image: b/x.png, label: b/x_mask.png, dataset: two}\n"
        "  - {id: only, image: c/x.png, label: c/x_mask.png, dataset: two}\n")
    return path


def test_case_index_then_dataset_key_then_id(twin_manifest):
    row = {"manifest": str(twin_manifest), "case": "y", "dataset": "two", "case_index": 1}
    assert case_for_row(row).image.parent.name == "b"
    # a stale index (the manifest changed since the sweep) falls back to "<dataset>/<id>", then the id
    assert case_for_row({**row, "case_index": 0}).image.parent.name == "b"
    assert case_for_row({**row, "case_index": 99}).image.parent.name == "b"
    assert case_for_row({"manifest": str(twin_manifest), "case": "y", "case_index": 2}).image.parent.name == "b"
    # the id alone is the last resort (a row whose dataset was renamed still finds its case)
    assert case_for_row({"manifest": str(twin_manifest), "case": "x", "dataset": "old", "case_index": 5}
                        ).image.parent.name == "a"
    # a pandas row with NaN / None in the optional columns, and a case given as its key
    series = pd.Series({"manifest": str(twin_manifest), "case": "two/only", "case_index": float("nan"),
                        "dataset": None})
    assert case_for_row(series).case_id == "only"


def test_manifests_are_loaded_once(twin_manifest):
    cache: dict = {}
    row = {"manifest": str(twin_manifest), "case": "only"}
    first = case_for_row(row, manifests=cache)
    assert list(cache) == [str(twin_manifest)]
    cache[str(twin_manifest)] = type(cache[str(twin_manifest)])(
        name="cached", path=twin_manifest, dataset="one", modality="US", cases=[first])
    assert case_for_row(row, manifests=cache) is first


def test_bad_rows_are_typed_errors(twin_manifest, tmp_path):
    with pytest.raises(InputError, match="needs 'manifest' and 'case'"):
        case_for_row({"case": "x"})
    with pytest.raises(ManifestError, match="no case 'nope'"):
        case_for_row({"manifest": str(twin_manifest), "case": "nope"})
    with pytest.raises(ManifestError, match="not found"):
        case_for_row({"manifest": str(tmp_path / "missing.yaml"), "case": "x"})
