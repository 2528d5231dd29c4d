"""The repository root is found in one place (samwidgets.paths), and an install without the repository
gets clear errors instead of paths into site-packages."""

from __future__ import annotations

import pytest

import samwidgets.paths as paths
from samwidgets.errors import ManifestError, ReportError, SamwidgetsError


def test_repo_root_is_the_checkout(repo_root):
    assert paths.repo_root() == repo_root
    assert paths.repo_folder("data_manifests") == repo_root / "data_manifests"
    with pytest.raises(SamwidgetsError, match="no nothere/ folder"):
        paths.repo_folder("nothere")


def test_installed_without_repository(monkeypatch, tmp_path):
    """A wheel: the package's parent folder holds no pyproject.toml."""
    from samwidgets.manifest import load_manifest, resolve_manifest_path
    from samwidgets.manifest.build import default_shared_data, expand_root
    from samwidgets.reports.catalog import available, notebooks_dir

    monkeypatch.setattr(paths, "_PACKAGE_PARENT", tmp_path / "site-packages")
    monkeypatch.delenv("SAMWIDGETS_SHARED_DATA", raising=False)
    monkeypatch.delenv("SAMWIDGETS_NOTEBOOKS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.repo_root() is None
    with pytest.raises(SamwidgetsError, match="installed without its source repository.*data_manifests"):
        paths.repo_folder("data_manifests")
    with pytest.raises(ReportError, match="SAMWIDGETS_NOTEBOOKS"):
        notebooks_dir()
    assert available() == []
    with pytest.raises(ManifestError, match="set SAMWIDGETS_SHARED_DATA"):
        default_shared_data()
    assert expand_root("${SAMWIDGETS_SHARED_DATA}/x", tmp_path) == (
        None, "root '${SAMWIDGETS_SHARED_DATA}/x': environment variable(s) not set: SAMWIDGETS_SHARED_DATA")
    assert resolve_manifest_path("data_manifests/sample.yaml").name == "sample.yaml"
    with pytest.raises(ManifestError, match="not found"):
        load_manifest("data_manifests/sample.yaml")
    monkeypatch.setenv("SAMWIDGETS_SHARED_DATA", str(tmp_path))
    assert expand_root("${SAMWIDGETS_SHARED_DATA}/x", tmp_path) == (tmp_path / "x", None)
