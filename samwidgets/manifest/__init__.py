"""Data manifests: ``data_manifests/*.yaml`` -> validated :class:`Case` objects.

Three modules, one concern each:

- :mod:`samwidgets.manifest.schema`: the JSON schema of the YAML and the wording of its errors;
- :mod:`samwidgets.manifest.build`: the file-system half (``root``, ``cases_glob``, overrides, files exist);
- :mod:`samwidgets.manifest.load`: :class:`Case` / :class:`Manifest`, loading, validation (the format is
  described there and in ``data_manifests/README.md``).

This package never imports torch or ipywidgets; the public API is re-exported here, so
``samwidgets.manifest.load_manifest(path)`` is the call to use.
"""

from __future__ import annotations

from samwidgets.manifest.load import (
    Case, Manifest, ManifestReport, check_case, find_case, inspect_manifest, load_manifest, read_manifest_yaml,
    resolve_manifest_path, validate_manifest,
)

__all__ = ["Case", "Manifest", "ManifestReport", "check_case", "find_case", "inspect_manifest",
           "load_manifest", "read_manifest_yaml", "resolve_manifest_path", "validate_manifest"]
