"""explore(path), explore(array), explore(case), Session(case): one entry point opens anything."""

from __future__ import annotations

import numpy as np
import pytest

from samwidgets.errors import InputError
from samwidgets.manifest import find_case
from samwidgets.paths import repo_root
from samwidgets.widgets import Session, explore
from widgets.fakes import FakePredictor

SAMPLE = repo_root() / "data_manifests" / "sample.yaml"
CT = "CT_Lesion_000001_02_01_008-023"


def test_session_of_a_manifest_case_has_its_raw_image_labels_and_preset():
    case = find_case(SAMPLE, CT)
    s = Session(case, model=FakePredictor())
    raw = case.load_raw_image().array
    assert s.is_3d and s.n_slices == raw.shape[0] and s.image.array.dtype == raw.dtype
    assert list(s.ground_truth) == ["lesion"] and s.label_names == ["lesion"]
    assert s.preset == case.preset
    np.testing.assert_array_equal(s.model_array, case.load_image().array)   # the model sees the manifest's input
    assert s.case_id == CT


def test_explore_a_file_an_array_and_a_case(tmp_path):
    import nibabel as nib

    vol = np.random.default_rng(0).integers(-1000, 400, size=(6, 40, 50)).astype(np.int16)
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(vol.transpose(2, 1, 0), np.diag([0.8, 0.8, 2.5, 1])), str(path))
    common = dict(model=FakePredictor(), background=False, autosave_dir=None)
    v = explore(str(path), **common)
    assert v.session.n_slices == 6 and v.session.image.array.min() < -500 and v.session.preset == "ct_soft_tissue"
    a = explore(vol[0].astype(np.float32), **common)
    assert not a.session.is_3d and a.session.height == 40
    c = explore(find_case(SAMPLE, CT), **common)
    assert c.case_id == CT and c.session.is_3d
    m = explore("sample.yaml", CT, **common)
    assert m.case_id == CT
    with pytest.raises(InputError):
        explore(str(tmp_path / "missing.nii.gz"), **common)


def test_a_viewer_gets_its_own_embedding_cache_only_for_a_model_it_builds(tmp_path, monkeypatch):
    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.widgets.opening import viewer_cache

    monkeypatch.setenv("SAMWIDGETS_CACHE_DIR", str(tmp_path))
    made = viewer_cache("default", "litemedsam")
    assert isinstance(made, EmbeddingCache) and made is not viewer_cache("default", "litemedsam")
    assert viewer_cache("default", object()) is None            # a predictor object brings its own cache
    assert viewer_cache(None, "litemedsam") is None              # None: no cache
    given = EmbeddingCache()
    assert viewer_cache(given, "litemedsam") is given            # anything else: as given
