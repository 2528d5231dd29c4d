"""Manifest format extensions: several label files per case, a field of view, unions, schema errors in the
manifest's own words, and validation that reports every problem of every case in one run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from samwidgets.manifest import inspect_manifest, load_manifest, validate_manifest
from samwidgets.manifest.schema import schema_problems

HEADER = """\
dataset: toy
modality: OCT
anatomy: retina
licence: CC0
citation: none
root: .
preset: rgb
"""


def _png(path: Path, array) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(np.asarray(array, np.uint8)).save(path)


def _write(path: Path, text: str) -> Path:
    path.write_text(HEADER + textwrap.dedent(text))
    return path


@pytest.fixture()
def folder(tmp_path):
    img = np.zeros((20, 30), np.uint8)
    img[5:15, 5:25] = 200
    for stem in ("a", "b"):
        _png(tmp_path / "images" / f"{stem}.png", img)
        axon = np.zeros((20, 30), np.uint8)
        axon[6:10, 6:12] = 255
        myelin = np.zeros((20, 30), np.uint8)
        myelin[12:16, 20:29] = 255
        _png(tmp_path / "axon" / f"{stem}.png", axon)
        _png(tmp_path / "myelin" / f"{stem}_m.png", myelin)
        fov = np.zeros((20, 30), np.uint8)
        fov[:, :24] = 255  # the right edge is outside the field of view
        _png(tmp_path / "fov" / f"{stem}.gif", fov)
    return tmp_path


def _two_label_manifest(folder):
    """A glob manifest of the toy folder: two label files, each with its rule, and a field of view."""
    return _write(folder / "m.yaml", """\
    cases_glob:
      image: "images/*.png"
      label:
        - {file: "axon/{stem}.png", rule: {type: threshold, threshold: 127, name: axon}}
        - {file: "myelin/{stem}_m.png", rule: {type: values, labels: {255: myelin}}}
      fov: "fov/{stem}.gif"
    """)


def test_several_label_files_each_with_its_rule_and_a_field_of_view(folder):
    path = _two_label_manifest(folder)
    report = inspect_manifest(path)
    assert report.ok, report.problems
    case = load_manifest(path).case("a")
    assert [f.path.name for f in case.all_label_files] == ["a.png", "a_m.png"] and case.label.name == "a.png"
    labels = case.load_labels()
    assert set(labels) == {"axon", "myelin"}
    assert labels["axon"].sum() == 4 * 6
    assert labels["myelin"].sum() == 4 * 4  # columns 24..28 lie outside the field of view
    fov = case.load_fov()
    assert fov.shape == (20, 30) and fov[:, :24].all() and not fov[:, 24:].any()
    assert report.facts["toy/a"]["labels"] == ["axon", "myelin"]


def test_load_and_check_read_each_label_file_and_the_field_of_view_once(folder, monkeypatch):
    import samwidgets.io
    import samwidgets.io.labels
    from samwidgets.manifest.check import check_case

    path = _two_label_manifest(folder)
    case = load_manifest(path).case("a")
    want_labels, want_fov = case.load_labels(), case.load_fov()
    reads: list[str] = []
    decodes: list[int] = []
    read, decode = samwidgets.io.load_label_array, samwidgets.io.labels.decode_label
    monkeypatch.setattr(samwidgets.io, "load_label_array", lambda p, **k: reads.append(Path(p).name) or read(p, **k))
    monkeypatch.setattr(samwidgets.io.labels, "decode_label", lambda *a, **k: decodes.append(1) or decode(*a, **k))
    image, labels = case.load()
    assert sorted(reads) == ["a.gif", "a.png", "a_m.png"] and len(decodes) == 2  # each file once
    assert labels.keys() == want_labels.keys() and all(np.array_equal(labels[k], want_labels[k]) for k in labels)
    assert np.array_equal(image.meta["fov"], want_fov)
    reads.clear()
    decodes.clear()
    problems, facts = check_case(case)
    assert problems == [] and facts["labels"] == ["axon", "myelin"]
    assert sorted(reads) == ["a.gif", "a.png", "a_m.png"] and len(decodes) == 2
    _png(folder / "fov" / "a.gif", np.zeros((20, 30)) + (np.arange(30) >= 29) * 255)  # only column 29
    problems, _ = check_case(case)
    assert len(problems) == 1 and "none of the listed labels is present inside the field of view" in problems[0]


def test_glob_templates_are_checked_once_per_template_not_per_image(folder, monkeypatch):
    import samwidgets.manifest.bounds
    import samwidgets.manifest.build as build

    for stem in ("c", "d", "e"):  # five images in all
        for sub, name in (("images", f"{stem}.png"), ("axon", f"{stem}.png"), ("myelin", f"{stem}_m.png"),
                          ("fov", f"{stem}.gif")):
            (folder / sub / name).write_bytes((folder / sub / name.replace(stem, "a", 1)).read_bytes())
    path = _write(folder / "m.yaml", """\
    cases_glob:
      image: "images/*.png"
      id: "case_{stem}"
      label:
        - {file: "axon/{stem}.png", rule: {type: threshold, threshold: 127, name: axon}}
        - "myelin/{stem}_m.png"
      label_rule: {type: values, labels: {255: myelin}}
      fov: "fov/{stem}.gif"
    """)
    checked = []
    real = samwidgets.manifest.bounds.check_template
    monkeypatch.setattr(build, "check_template", lambda t: checked.append(t) or real(t))
    cases = load_manifest(path).cases
    assert sorted(checked) == sorted(["case_{stem}", "axon/{stem}.png", "myelin/{stem}_m.png", "fov/{stem}.gif"])
    images = sorted((folder / "images").glob("*.png"))
    assert [c.case_id for c in cases] == [f"case_{p.stem}" for p in images]
    for c, image in zip(cases, images):  # the same names as filling each template per image
        assert [f.path for f in c.all_label_files] == [folder / build.fill_template(t, image, folder)
                                                       for t in ("axon/{stem}.png", "myelin/{stem}_m.png")]
        assert c.fov == folder / build.fill_template("fov/{stem}.gif", image, folder)
    bad = _write(folder / "bad.yaml", """\
    label: {type: threshold, threshold: 127, name: axon}
    cases_glob: {image: "images/*.png", label: "axon/{stem:999}.png"}
    """)
    assert any("cases_glob[0]: bad template" in p and "exceeds" in p for p in validate_manifest(bad, load=False))


def test_one_of_several_label_files_may_lack_its_label(folder):
    _png(folder / "myelin" / "b_m.png", np.zeros((20, 30)))
    path = _write(folder / "m.yaml", """\
    label: {type: threshold, threshold: 127, name: tissue}
    cases_glob:
      image: "images/*.png"
      label: ["axon/{stem}.png", {file: "myelin/{stem}_m.png", rule: {type: threshold, threshold: 127, name: myelin}}]
    """)
    assert validate_manifest(path) == []
    assert set(load_manifest(path).case("b").load_labels()) == {"tissue"}


def test_validate_reports_every_problem_of_every_case_in_one_run(folder):
    colour = np.zeros((20, 30, 3), np.uint8)
    colour[2:8, 2:8] = (0, 255, 0)
    colour[10, 10] = (12, 201, 7)
    colour[12:14, 12:14] = (0, 0, 200)
    _png(folder / "colour" / "a.png", colour)
    _png(folder / "small" / "a.png", np.full((10, 10), 255))
    (folder / "images" / "broken.png").write_bytes(b"not a png")
    path = _write(folder / "m.yaml", """\
    cases:
      - id: a
        image: images/a.png
        label:
          - {file: colour/a.png, rule: {type: colours, labels: {lesion: [0, 255, 0]}, max_distance: 30,
                                         blends: false}}
          - {file: small/a.png, rule: {type: threshold, threshold: 127, name: myelin}}
        fov: fov/a.gif
      - {id: broken, image: images/broken.png, label: colour/a.png,
         label_rule: {type: colours, labels: {lesion: [0, 255, 0]}, max_distance: 30}}
      - {id: gone, image: images/b.png, label: axon/missing.png, fov: fov/missing.gif,
         label_rule: {type: threshold, threshold: 127, name: axon}}
    """)
    problems = validate_manifest(path)
    text = "\n".join(problems)
    a = [p for p in problems if p.startswith("case 'a'")]
    assert len(a) == 2, text  # the colour file and the wrongly sized file, each on its own line
    assert any("label colour (12, 201, 7) not in the map" in p and "raise max_distance to >= 56" in p
               and "label colour (0, 0, 200)" in p for p in a), text
    assert any("does not match image shape" in p and "small/a.png" in p for p in a), text
    broken = [p for p in problems if p.startswith("case 'broken'")]
    assert len(broken) == 2 and any("broken.png" in p for p in broken), text  # the image AND its label
    gone = [p for p in problems if p.startswith("case 'gone'")]
    assert any("label file not found" in p for p in gone) and any("field-of-view file not found" in p
                                                                    for p in gone), text


@pytest.mark.parametrize("snippet, words", [
    ("label: {type: colours, labels: {optic_disc: yellow}}",
     'label.labels.optic_disc: expected a colour [r, g, b] (0-255) or a list of colours, got "yellow"'),
    ("label: {type: colours, labels: {optic_disc: [255, 0]}}",
     "label.labels.optic_disc: expected a colour [r, g, b] (0-255) or a list of colours, got [255, 0]"),
    ("label: {type: colors, labels: {a: [1, 2, 3]}}",
     "'colors' is not a label rule type; choose one of values, threshold, colours, instances, outline_fill "
     "(did you mean 'colours'?)"),
    ("label: {type: threshold, threshold: 127}", "a 'threshold' label rule needs 'name'"),
    ("label: {type: values, labels: {1: [disc, 'a b']}}", "expected a label name (no spaces or '/') or a list"),
    ("lable: {type: values, labels: {1: x}}", "unknown key 'lable' (did you mean 'label'?)"),
    ("spacing: [1, 2, 3, 4]", "spacing has one value per axis in array order"),
])
def test_schema_errors_speak_the_manifest_language(snippet, words):
    import yaml

    data = yaml.safe_load(HEADER.replace("modality: OCT", "modality: OCTA") + snippet
                          + '\ncases_glob: {image: "*.png"}\n')
    problems = schema_problems(data)
    text = "\n".join(problems)
    assert words in text, text
    assert "is not a modality" in text and "(did you mean 'OCT'?)" in text
    assert "is too short" not in text and "is not of type" not in text and "is not valid under" not in text


def test_union_labels_validate_in_the_schema():
    import yaml

    data = yaml.safe_load(HEADER + """\
label: {type: colours, labels: {optic_disc: [[255, 255, 0], [255, 0, 0]], optic_cup: [255, 0, 0]}}
cases_glob: {image: "*.png", label: "{stem}.png", fov: "{stem}_fov.png"}
""")
    assert schema_problems(data) == []
    data["label"] = {"type": "values", "labels": {1: "disc", 2: ["disc", "cup"]}}
    assert schema_problems(data) == []


def test_missing_files_and_presets_come_with_a_suggestion(folder):
    path = _write(folder / "m.yaml", """\
    cases:
      - {id: a, image: images/a.PNG, label: axon/a.jpg, label_rule: {type: threshold, threshold: 127, name: x},
         preset: percentil}
    """)
    text = "\n".join(validate_manifest(path, load=False))
    assert "image file not found" in text and "(did you mean a.png?)" in text, text
    assert "label file not found" in text and "axon/a.jpg (did you mean a.png?)" in text, text
    assert "unknown preset 'percentil'" in text and "did you mean 'percentile'?" in text, text


def test_init_names_labels_of_several_colour_sets_apart(tmp_path):
    """Two colour label sets per image: their labels get the set's name so they never merge."""
    from samwidgets.manifest.init import init_manifest

    img = np.zeros((24, 24, 3), np.uint8)
    for stem in ("c1", "c2"):
        _png(tmp_path / "images" / f"{stem}.png", img)
        for part, box in (("vessels", (2, 10)), ("lesions", (12, 20))):
            mask = np.zeros((24, 24, 3), np.uint8)
            mask[box[0]:box[1], box[0]:box[1]] = (255, 0, 0)
            _png(tmp_path / "masks" / f"{stem}_{part}.png", mask)
    written, _ = init_manifest(tmp_path, tmp_path / "out.yaml")
    assert validate_manifest(written) == [], written.read_text()
    labels = load_manifest(written).case("c1").load_labels()
    assert set(labels) == {"vessels_red", "lesions_red"}, written.read_text()
    assert labels["vessels_red"][5, 5] and not labels["vessels_red"][15, 15]


def test_init_skips_unreadable_files_and_validate_names_them(tmp_path):
    from samwidgets.manifest.init import init_manifest

    mask = np.zeros((20, 30), np.uint8)
    mask[4:9, 4:9] = 255
    for stem in ("a", "b", "c"):
        _png(tmp_path / "images" / f"{stem}.png", np.full((20, 30), 90))
        _png(tmp_path / "masks" / f"{stem}.png", mask)
    (tmp_path / "masks" / "c.png").write_bytes(b"\x89PNG truncated")
    written, plan = init_manifest(tmp_path, tmp_path / "out.yaml")
    assert plan.groups[0].sets[0].encoding.rule == {"type": "threshold", "threshold": 127, "name": "foreground"}
    problems = validate_manifest(written)
    assert len(problems) == 1 and "case 'c'" in problems[0] and "c.png" in problems[0], problems
