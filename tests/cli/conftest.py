"""Fixtures shared by the CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

BUSI_PAIR = """\
dataset: busi
modality: US
anatomy: breast
licence: CC0 1.0
citation: "Al-Dhabyani W, Gomaa M, Khaled H, Fahmy A. Data in Brief 28:104863, 2020"
root: {root}
preset: percentile
dims: 2
label: {{type: colours, labels: {{benign_lesion: [0, 255, 0]}}, background: [0, 0, 0], max_distance: 30}}
cases:
  - {{id: "10209", image: images/10209.png, label: masks/10209.png}}
  - {{id: "10217", image: images/10217.png, label: masks/10217.png}}
"""


@pytest.fixture
def busi_pair_manifest(repo_root, tmp_path) -> Path:
    """A manifest of two 2D breast-ultrasound cases of the embedded sample (fast on CPU, unlike
    data_manifests/sample.yaml, which starts with a 16-slice CT volume), written in ``tmp_path``."""
    manifest = tmp_path / "busi_pair.yaml"
    manifest.write_text(BUSI_PAIR.format(root=repo_root / "data_manifests" / "sample" / "busi"))
    return manifest
