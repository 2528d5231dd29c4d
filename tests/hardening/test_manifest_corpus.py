"""Bad manifests through ``load_manifest`` / ``samwidgets manifest validate`` (issue 10 §1-§4): paths
leaving the root (``../..``, absolute, symlinks), FIFOs, YAML nesting and alias bombs, huge template widths,
invalid ``cases_glob`` patterns, 300-character names, NaN/inf spacing overrides."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image as PILImage

from samwidgets.cli import main
from samwidgets.errors import ManifestError
from samwidgets.manifest import load_manifest
from samwidgets.manifest.bounds import MAX_MANIFEST_BYTES, MAX_NESTING, OPT_IN_KEY

HEAD = """dataset: t
modality: CT
anatomy: a
licence: CC0
citation: none
preset: ct_soft_tissue
root: data
label: {type: values, labels: {1: lesion}}
"""


@pytest.fixture()
def world(tmp_path):
    """``data/`` with one image+label inside, ``outside/`` with a pair beside it; returns a manifest writer."""
    for folder in ("data", "outside"):
        (tmp_path / folder).mkdir()
        img = np.zeros((8, 8), np.uint8)
        img[2:5, 2:5] = 200
        PILImage.fromarray(img).save(tmp_path / folder / "a.png")
        PILImage.fromarray((img > 0).astype(np.uint8)).save(tmp_path / folder / "a_mask.png")

    def write(body: str, head: str = HEAD):
        path = tmp_path / "m.yaml"
        path.write_text(head + body)
        return path

    return tmp_path, write


def _problems(path) -> str:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    return "\n".join([str(info.value), *info.value.problems])


def test_an_ordinary_manifest_loads(world):
    _, write = world
    assert len(load_manifest(write("cases: [{id: a, image: a.png, label: a_mask.png}]\n"))) == 1


@pytest.mark.parametrize("image", ["../outside/a.png", "{abs}/outside/a.png", "../../../../../../etc/hostname"])
def test_paths_leaving_the_root_are_refused_unless_opted_in(world, image):
    tmp, write = world
    image = image.format(abs=tmp)
    path = write(f"cases: [{{id: a, image: '{image}', label: a_mask.png}}]\n")
    text = _problems(path)
    assert "outside the manifest's root" in text or "not found" in text
    if "etc" not in image:
        assert f"'{OPT_IN_KEY}: true'" in text
        opted = write(f"cases: [{{id: a, image: '{image}', label: a_mask.png}}]\n",
                      head=HEAD + f"{OPT_IN_KEY}: true\n")
        assert len(load_manifest(opted)) == 1


def test_a_symlink_pointing_out_of_the_root_is_refused(world):
    tmp, write = world
    (tmp / "data" / "link.png").symlink_to(tmp / "outside" / "a.png")
    assert "outside the manifest's root" in _problems(write("cases: [{id: a, image: link.png, label: a_mask.png}]\n"))
    glob = write("cases_glob: {image: 'l*.png', label: a_mask.png}\n")
    assert "outside the manifest's root" in _problems(glob)


def test_a_label_template_leaving_the_root_is_refused(world):
    _, write = world
    assert "outside the manifest's root" in _problems(
        write("cases_glob: {image: 'a.png', label: '../outside/{stem}_mask.png'}\n"))


@pytest.mark.timeout(20)
def test_a_fifo_as_manifest_or_image_never_blocks(world, fifo):
    tmp, write = world
    pipe = fifo(tmp / "pipe.yaml")
    with pytest.raises(ManifestError, match="not a regular file"):
        load_manifest(pipe)
    fifo(tmp / "data" / "b.png")
    path = write("cases: [{id: b, image: b.png, label: a_mask.png}]\n")
    assert main(["manifest", "validate", str(path)]) != 0  # loading the image is refused, not hung


@pytest.mark.timeout(20)
def test_yaml_nested_20000_deep_is_a_typed_error(world):
    tmp, _ = world
    path = tmp / "deep.yaml"
    path.write_text(HEAD + "cases: " + "[" * 20000 + "]" * 20000 + "\n")
    with pytest.raises(ManifestError, match=f"nested more than {MAX_NESTING} levels"):
        load_manifest(path)


@pytest.mark.timeout(20)
def test_a_billion_laughs_manifest_is_refused_quickly(world):
    tmp, _ = world
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = tmp / "laughs.yaml"
    path.write_text(HEAD + "\n".join(lines) + "\ncases: [{id: a, image: a.png, citation: *a9}]\n")
    with pytest.raises(ManifestError, match="alias"):
        load_manifest(path)


def test_a_manifest_larger_than_the_cap_is_refused(world):
    tmp, _ = world
    path = tmp / "big.yaml"
    path.write_text(HEAD + "# " + "x" * MAX_MANIFEST_BYTES + "\n")
    with pytest.raises(ManifestError, match="more than the limit"):
        load_manifest(path)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("template", ["{stem:>400000000}", "{stem:>5000}", "{stem.__class__}", "{nope}"])
def test_id_and_label_templates_are_bounded(world, template):
    _, write = world
    for key in ("id", "label"):
        text = _problems(write(f"cases_glob: {{image: 'a.png', {key}: '{template}'}}\n"))
        assert "bad template" in text


@pytest.mark.parametrize("pattern, reason", [("/etc/*.conf", "must be relative"), ("g**d.jpg", "invalid pattern"),
                                             ("~/x/*.png", "must be relative")])
def test_absolute_or_invalid_glob_patterns_are_problems(world, pattern, reason):
    _, write = world
    assert reason in _problems(write(f"cases_glob: {{image: '{pattern}', label: a_mask.png}}\n"))
    assert reason in _problems(write(f"cases_glob: {{image: '*.png', exclude: ['{pattern}']}}\n"))


def test_a_300_character_file_name_is_a_problem_not_a_traceback(world, capsys):
    _, write = world
    path = write(f"cases: [{{id: a, image: {'x' * 300}.png, label: a_mask.png}}]\n")
    assert "cannot be looked up" in _problems(path)
    assert main(["manifest", "validate", str(path)]) != 0
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("spacing", ["[.nan, 1.0]", "[.inf, 1.0]", "[1.0, .NaN]"])
def test_nan_or_inf_spacing_overrides_are_refused_at_validation(world, spacing):
    _, write = world
    text = _problems(write(f"cases: [{{id: a, image: a.png, label: a_mask.png, spacing: {spacing}}}]\n"))
    assert "must be finite and > 0" in text
    text = _problems(write(f"spacing: {spacing}\ncases: [{{id: a, image: a.png, label: a_mask.png}}]\n"))
    assert "must be finite and > 0" in text
