"""Data manifests: every shipped manifest loads, and validation reports every problem at once."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image as PILImage

from samwidgets.errors import LabelError, ManifestError
from samwidgets.manifest import find_case, inspect_manifest, load_manifest, validate_manifest
from samwidgets.manifest.build import file_stem
from samwidgets.manifest.schema import schema_problems

REPO = Path(__file__).resolve().parents[1]
MANIFESTS = REPO / "data_manifests"
SAMPLE = MANIFESTS / "sample.yaml"
SHARED_MANIFESTS = sorted(p for p in MANIFESTS.glob("*.yaml") if p != SAMPLE)
NON_PERMISSIVE = ("NC", "non-commercial", "research use only", "research and educational")


def _check_all_cases(manifest_path: Path, *, all_presets: bool = True) -> tuple[list, list[str]]:
    """Load every case of a manifest; (cases, failures) where each failure names its case.

    Every image and label is read and decoded. With ``all_presets=False`` the intensity preset (the slow
    part for large RGB images, and the same code for every case) runs only on the first case per preset.
    """
    manifest = load_manifest(manifest_path)
    failures = []
    presets_seen = set()
    for case in manifest.cases:
        if all_presets or case.preset not in presets_seen:
            image = case.load_image()
            presets_seen.add(case.preset)
            if image.array.dtype != np.uint8:
                failures.append(f"{case.key}: image dtype {image.array.dtype} after preset {case.preset}")
        else:
            image = case.load_raw_image()
        labels = case.load_labels(image=image)
        nd = len(image.spacing)
        spatial = image.array.shape[:nd]
        if case.dims is not None and nd != case.dims:
            failures.append(f"{case.key}: {nd}D image, manifest says {case.dims}D")
        if not labels:
            failures.append(f"{case.key}: no labels")
        for name, mask in labels.items():
            if mask.dtype != bool or mask.shape != spatial:
                failures.append(f"{case.key}/{name}: mask {mask.dtype} {mask.shape} vs image {spatial}")
            if not mask.any():
                failures.append(f"{case.key}/{name}: empty mask")
    return manifest.cases, failures


# ---------------------------------------------------------------- shipped manifests


def test_sample_manifest_loads_without_shared_data():
    cases, failures = _check_all_cases(SAMPLE)
    assert not failures, "\n".join(failures)
    assert {c.dims for c in cases} == {2, 3}  # declared, and checked against each image above
    assert len({c.modality for c in cases}) >= 4
    assert len({c.key for c in cases}) == len(cases)


def test_sample_files_are_small_referenced_and_attributed():
    folder = MANIFESTS / "sample"
    files = [p for p in folder.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total <= 10 * 2**20, f"sample is {total / 2**20:.1f} MB"
    used = set()
    for case in load_manifest(SAMPLE).cases:
        used.add(case.image.resolve())
        used.add(case.label.resolve())
        assert not any(word.lower() in case.licence.lower() for word in NON_PERMISSIVE), case.licence
    data_files = {p.resolve() for p in files if p.name != "ATTRIBUTION.md"}
    assert data_files == used, f"files not used by sample.yaml: {sorted(map(str, data_files - used))}"
    attribution = (folder / "ATTRIBUTION.md").read_text()
    for sub in sorted({p.relative_to(folder).parts[0] for p in files if p.parent != folder}):
        assert f"`{sub}/`" in attribution, f"ATTRIBUTION.md does not describe {sub}/"


@pytest.mark.parametrize("manifest_path", SHARED_MANIFESTS, ids=lambda p: p.stem)
def test_every_shared_manifest_case_loads(shared_data, manifest_path):
    cases, failures = _check_all_cases(manifest_path, all_presets=False)
    assert cases
    assert not failures, "\n".join(failures)


def test_manifests_cover_every_shared_source(shared_data):
    with open(shared_data / "SOURCES.tsv", newline="") as fh:
        sources = {row["local_dir"] for row in csv.DictReader(fh, delimiter="\t")}
    roots = {}
    for path in SHARED_MANIFESTS:
        cases = load_manifest(path).cases
        for case in cases:  # the source folder is the common ancestor of a manifest's files
            rel = case.image.resolve().relative_to(shared_data.resolve())
            roots.setdefault(path.stem, set()).add("/".join(rel.parts[:2]))
    covered = set().union(*roots.values())
    assert covered == sources
    assert all(len(r) == 1 for r in roots.values()), roots


def test_sample_cases_are_unchanged_copies_of_shared_cases(shared_data):
    shared = {c.key: c for path in SHARED_MANIFESTS for c in load_manifest(path).cases}
    for case in load_manifest(SAMPLE).cases:
        assert case.key in shared, f"{case.key} has no twin in the shared manifests"
        twin = shared[case.key]
        assert case.image.read_bytes() == twin.image.read_bytes()
        assert case.label.read_bytes() == twin.label.read_bytes()
        assert (case.modality, case.preset, case.label_rule) == (twin.modality, twin.preset, twin.label_rule)


def test_ct_raw_hu_twin_windows_to_the_npz(shared_data):
    path = MANIFESTS / "ct_lesion_3d.yaml"
    raw = find_case(path, "CT_Lesion_000015_01_01_103-115_raw_hu")
    npz = find_case(path, "CT_Lesion_000015_01_01_103-115")
    assert (raw.preset, npz.preset) == ("ct_lesion", "none")
    a, b = raw.load_image(), npz.load_image()
    np.testing.assert_array_equal(a.array, b.array)  # 'none' keeps the npz windowing as stored
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=1e-5)
    assert raw.load_labels(image=a).keys() == {"lesion"}


def test_multi_contrast_spinal_cord_is_one_case_per_contrast(shared_data):
    cases = load_manifest(MANIFESTS / "spinal_cord.yaml").cases
    assert sorted(c.case_id for c in cases) == ["sub-unf01_T1w", "sub-unf01_T2star", "sub-unf01_T2w"]
    assert all(c.label.name == f"{c.case_id}_seg-manual.nii.gz" for c in cases)


# ---------------------------------------------------------------- API on small synthetic manifests


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


def _write(path: Path, *parts: str) -> Path:
    path.write_text("".join(textwrap.dedent(part) for part in parts))
    return path


@pytest.fixture
def folder(tmp_path):
    img = np.zeros((20, 30), np.uint8)
    img[5:15, 5:25] = 200
    mask = np.zeros((20, 30), np.uint8)
    mask[8:12, 10:20] = 255
    for name in ("a", "b", "c", "d"):
        _png(tmp_path / "images" / f"{name}.png", img)
        _png(tmp_path / "masks" / f"{name}.png", mask)
    _png(tmp_path / "masks" / "small.png", mask[5:15, 5:25])
    _png(tmp_path / "masks" / "empty.png", np.zeros_like(mask))
    return tmp_path


HEADER = """\
dataset: toy
modality: US
anatomy: phantom
licence: CC0
citation: nobody
root: .
preset: percentile
label: {type: threshold, threshold: 127, name: blob}
"""


def test_load_manifest_builds_cases_with_resolved_fields(folder):
    path = _write(folder / "toy.yaml", HEADER, """\
    spacing: [0.5, 0.25]
    cases_glob: {image: "images/*.png", label: "masks/{stem}.png"}
    """)
    manifest = load_manifest(path)
    assert (manifest.name, manifest.dataset, manifest.modality) == ("toy", "toy", "US")
    assert [c.case_id for c in manifest.cases] == ["a", "b", "c", "d"]
    case = manifest.case("c")
    assert case.key == "toy/c" and case.image == folder / "images" / "c.png"
    assert case.label == folder / "masks" / "c.png" and case.manifest == path.resolve()
    image, labels = case.load()
    assert image.spacing == (0.5, 0.25) and image.array.dtype == np.uint8
    assert labels.keys() == {"blob"} and labels["blob"].sum() == 40
    assert find_case(path, "toy/b").case_id == "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.case_id = "x"
    assert len({case, manifest.case("c")}) == 1  # hashable despite the rule dict


def test_case_overrides_and_quoted_label_values(folder):
    grey = np.zeros((20, 30), np.uint8)
    grey[2:4, 2:4] = 2
    _png(folder / "masks" / "values.png", grey)
    path = _write(folder / "toy.yaml", HEADER, """\
    cases:
      - {id: 1, image: images/a.png, label: masks/a.png}
      - id: v
        image: images/b.png
        label: masks/values.png
        modality: MR
        dataset: other
        preset: rgb
        label_rule: {type: values, labels: {"2": spot}}
    """)
    a, v = load_manifest(path).cases
    assert a.case_id == "1" and a.modality == "US" and a.label_rule["type"] == "threshold"
    assert (v.key, v.modality, v.preset) == ("other/v", "MR", "rgb")
    assert v.label_rule["labels"] == {2: "spot"}
    assert v.load_labels()["spot"].sum() == 4


def test_validate_reports_every_problem_with_its_case(folder):
    path = _write(folder / "broken.yaml", HEADER, """\
    cases:
      - {id: good, image: images/a.png, label: masks/a.png}
      - {id: missing, image: images/nope.png, label: masks/b.png}
      - {id: badmod, image: images/b.png, label: masks/b.png, modality: XY}
      - {id: good, image: images/c.png, label: masks/c.png}
      - {id: mismatch, image: images/d.png, label: masks/small.png}
      - {id: empty, image: images/d.png, label: masks/empty.png}
      - {id: nolabelfile, image: images/d.png, label: masks/gone.png}
      - {id: badpreset, image: images/d.png, label: masks/d.png, preset: sepia}
    """)
    problems = validate_manifest(path)
    text = "\n".join(problems)
    expected = {
        "missing": "image file not found",
        "badmod": "'XY' is not a modality; choose one of CT, MR",
        "good": "duplicate case id",
        "mismatch": "does not match image shape",
        "empty": "empty label",
        "nolabelfile": "label file not found",
        "badpreset": "unknown preset 'sepia'",
    }
    for case_id, what in expected.items():
        assert any(f"case '{case_id}'" in p and what in p for p in problems), f"{case_id}: {what}\n{text}"
    assert len(problems) == len(expected), text
    assert validate_manifest(path, load=False) == [p for p in problems if "empty" not in p and "match" not in p]
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert len(info.value.problems) == 5  # the file-level ones; images are not read


def test_validate_clean_manifest_has_no_problems(folder):
    path = _write(folder / "ok.yaml", HEADER + 'cases_glob: {image: "images/*.png", label: "masks/{stem}.png"}\n')
    report = inspect_manifest(path)
    assert report.ok and report.problems == []
    assert report.facts["toy/a"] == {"dims": 2, "shape": (20, 30), "labels": ["blob"]}


def test_declared_dims_and_spacing_must_fit_the_image(folder):
    path = _write(folder / "dims.yaml", HEADER, """\
    cases:
      - {id: a, image: images/a.png, label: masks/a.png, dims: 3}
      - {id: b, image: images/b.png, label: masks/b.png, spacing: [1, 1, 1]}
    """)
    problems = validate_manifest(path)
    assert any("case 'a'" in p and "dims: 3" in p for p in problems), problems
    assert any("case 'b'" in p and "spacing override" in p for p in problems), problems
    with pytest.raises(ManifestError):
        load_manifest(path).case("a").load_image()


def test_missing_or_malformed_manifest_raises_typed_errors(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "absent.yaml")
    bad = _write(tmp_path / "bad.yaml", "dataset: [unclosed\nmodality: CT\n")
    with pytest.raises(ManifestError, match="malformed YAML at line"):
        load_manifest(bad)
    assert len(validate_manifest(bad)) == 1
    empty = _write(tmp_path / "empty.yaml", "")
    with pytest.raises(ManifestError, match="empty"):
        load_manifest(empty)


def test_top_level_schema_errors_are_all_listed(tmp_path):
    path = _write(tmp_path / "m.yaml", """\
    dataset: toy
    modality: ultrasound
    root: .
    preset: rgb
    colour: blue
    """)
    problems = validate_manifest(path)
    text = "\n".join(problems)
    for what in ("missing key 'anatomy'", "missing key 'licence'", "missing key 'citation'",
                 "'ultrasound' is not a modality", "unknown key 'colour'", "lists no cases"):
        assert what in text, text


def test_bad_label_rule_is_a_schema_problem(folder):
    path = _write(folder / "m.yaml", HEADER.replace("label: {type: threshold, threshold: 127, name: blob}",
                                                     "label: {type: colours, labels: {a: [1, 2]}}")
                  + 'cases_glob: {image: "images/*.png", label: "masks/{stem}.png"}\n')
    problems = validate_manifest(path)
    assert problems and all(p.startswith("manifest label") for p in problems), problems


def test_shared_data_variable_and_unknown_variables(folder, monkeypatch):
    text = HEADER.replace("root: .", "root: ${SAMWIDGETS_SHARED_DATA}/sub") + \
        'cases_glob: {image: "images/*.png", label: "masks/{stem}.png"}\n'
    (folder / "sub").mkdir()
    for p in ("images", "masks"):
        (folder / p).rename(folder / "sub" / p)
    path = _write(folder / "m.yaml", text)
    monkeypatch.setenv("SAMWIDGETS_SHARED_DATA", str(folder))
    assert len(load_manifest(path).cases) == 4
    monkeypatch.setenv("SAMWIDGETS_SHARED_DATA", str(folder / "elsewhere"))
    assert any("root folder not found" in p and "SAMWIDGETS_SHARED_DATA" in p for p in validate_manifest(path))
    path2 = _write(folder / "m2.yaml", text.replace("SAMWIDGETS_SHARED_DATA", "SAMWIDGETS_NO_SUCH_VAR"))
    assert any("SAMWIDGETS_NO_SUCH_VAR" in p for p in validate_manifest(path2))


def test_glob_templates_and_empty_glob(folder):
    for name in ("p1", "p2"):
        _png(folder / "vols" / name / "image.png", np.full((4, 4), 9, np.uint8))
        _png(folder / "vols" / name / "mask.png", np.full((4, 4), 255, np.uint8))
    path = _write(folder / "m.yaml", HEADER, """\
    cases_glob:
      - {image: "vols/*/image.png", label: "{relparent}/mask.png", id: "{parent}"}
      - {image: "nothing/*.png"}
    """)
    problems = validate_manifest(path)
    assert problems == [f"cases_glob[1]: no file under {folder} matches 'nothing/*.png'"]
    assert file_stem(Path("a/sub-01_T1w.nii.gz")) == "sub-01_T1w"
    path.write_text(path.read_text().replace('  - {image: "nothing/*.png"}\n', ""))
    assert [c.case_id for c in load_manifest(path).cases] == ["p1", "p2"]


def test_case_without_label_file_raises_label_error(folder):
    path = _write(folder / "m.yaml", HEADER + "cases: [{id: a, image: images/a.png}]\n")
    case = load_manifest(path).case("a")
    assert case.label is None and case.load_image().array.shape == (20, 30)
    with pytest.raises(LabelError):
        case.load_labels()
    with pytest.raises(ManifestError, match="no case 'zzz'"):
        find_case(path, "zzz")


def test_every_shipped_manifest_passes_the_schema():
    for path in [*SHARED_MANIFESTS, SAMPLE]:
        assert schema_problems(yaml.safe_load(path.read_text())) == [], path.name
    assert Counter(yaml.safe_load(p.read_text())["dataset"] for p in SHARED_MANIFESTS).most_common(1)[0][1] == 1


def test_manifest_layer_imports_no_torch_or_widgets():
    code = ("import sys, samwidgets.manifest, samwidgets.cli.manifest; "
            "bad = [m for m in ('torch', 'ipywidgets', 'ipycanvas') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fast_schema_check_agrees_with_the_full_validator():
    """The quick fastjsonschema pass says yes exactly when jsonschema finds no problem."""
    from samwidgets.manifest.schema import _is_valid_fast, _validator

    shipped = [yaml.safe_load(p.read_text()) for p in sorted(MANIFESTS.glob("*.yaml"))]
    broken = [
        {**shipped[0], "modality": "XRAY"},
        {**shipped[0], "unknown_key": 1},
        {k: v for k, v in shipped[0].items() if k not in ("cases", "cases_glob")},
        {**shipped[0], "cases": [{"image": "a.png", "spacing": [0, -1]}]},
    ]
    for data in shipped + broken:
        if isinstance(data.get("cases_glob"), dict):
            data = {**data, "cases_glob": [data["cases_glob"]]}
        full_ok = not list(_validator().iter_errors(data))
        assert _is_valid_fast(data) == full_ok, data.get("dataset")
    assert all(_is_valid_fast(d if not isinstance(d.get("cases_glob"), dict) else {**d, "cases_glob": [d["cases_glob"]]})
               for d in shipped)


def test_relative_manifest_paths_resolve_from_notebooks_folder(monkeypatch, tmp_path):
    """Notebooks run with notebooks/ as working directory still find data_manifests/sample.yaml."""
    from samwidgets.manifest import resolve_manifest_path

    monkeypatch.chdir(REPO / "notebooks")
    assert resolve_manifest_path("data_manifests/sample.yaml") == REPO / "data_manifests" / "sample.yaml"
    assert resolve_manifest_path("sample.yaml") == REPO / "data_manifests" / "sample.yaml"
    assert len(load_manifest("data_manifests/sample.yaml").cases) == 15
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError, match="not found"):
        load_manifest("nothere.yaml")
