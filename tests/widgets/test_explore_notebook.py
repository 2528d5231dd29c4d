"""notebooks/explore.ipynb: papermill parameters, no logic of its own, opens shared CT and Kvasir cases."""

from __future__ import annotations

import ast

import nbformat
import pytest

from samwidgets.widgets import explore
from samwidgets.paths import repo_root
from samwidgets.widgets.reopen import resolve_manifest
from widgets.fakes import FakePredictor

REPO_ROOT = repo_root()

NOTEBOOK = REPO_ROOT / "notebooks" / "explore.ipynb"


def test_parameters_cell_and_no_logic():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    assigned = {t.id for node in ast.parse(params[0].source).body if isinstance(node, ast.Assign) for t in node.targets}
    assert assigned == {"manifest", "case_id", "model", "device"}
    for cell in code:
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.If)), cell.source
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert (node.module or node.names[0].name).startswith("samwidgets")
    assert all(not c.get("outputs") for c in code), "commit the notebook without outputs"


def test_explore_opens_the_default_sample_case_from_the_notebooks_folder(monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "notebooks")  # papermill --cwd notebooks
    assert resolve_manifest("data_manifests/sample.yaml") == REPO_ROOT / "data_manifests" / "sample.yaml"
    v = explore("data_manifests/sample.yaml", None, model=FakePredictor(), background=False, autosave_dir=None)
    assert v.session.is_3d and v.case_id.startswith("CT_Lesion") and "lesion" in v.describe()


def test_explore_opens_shared_ct_and_kvasir_cases(shared_data):
    ct = explore("data_manifests/ct_lesion_3d.yaml", "CT_Lesion_000015_01_01_103-115_raw_hu",
                 model=FakePredictor(), background=False, autosave_dir=None)
    s = ct.session
    assert s.n_slices > 1 and s.image.array.dtype.kind == "i" and s.image.array.min() < -500  # raw HU shown
    assert s.preset == "ct_lesion" and s.model_slice(s.z).dtype.name == "uint8"            # the model's input
    assert ct.ui.model_input.value.endswith("model input: ct_lesion L40/W450</span>")
    assert ct.window.current == (40.0, 450.0) and ct.ui.preset.value.startswith("ct_lesion L40/W450")
    assert list(ct.session.ground_truth) == ["lesion"]
    kv = explore("data_manifests/kvasir_seg.yaml", "cju0qoxqj9q6s0835b43399p4", model=FakePredictor(),
                 background=False, autosave_dir=None)
    assert kv.session.image.is_rgb and list(kv.session.ground_truth) == ["polyp"]
    assert max(kv.view.cw, kv.view.ch) == 512 and kv.canvas.layout.width == f"{kv.view.cw}px"


def test_papermill_executes_explore_on_a_shared_ct_case(shared_data, tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("SAMWIDGETS_CACHE_DIR", str(tmp_path / "cache"))  # the kernel's autosave/embeddings
    out = tmp_path / "explore_ct.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), cwd=str(NOTEBOOK.parent), kernel_name="python3", progress_bar=False,
        parameters={"manifest": "data_manifests/ct_lesion_3d.yaml", "case_id": "CT_Lesion_000001_02_01_008-023",
                    "device": "cpu"},
    )
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "CT_Lesion_000001_02_01_008-023: 16 slices of 512x512 gray; ground truth: lesion" in text
    widgets = [o for c in nb.cells for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json"
               in o.get("data", {})]
    assert widgets


def test_raw_hu_nifti_path_gets_ct_windows(shared_data):
    path = next((shared_data / "ct_lesion_3d" / "deeplesion-medsam2" / "raw_hu").glob("*.nii.gz"))
    fake = FakePredictor()
    from samwidgets.widgets import SliceViewer

    v = SliceViewer(path, model=fake, background=False, autosave_dir=None)
    s = v.session
    assert s.image.array.dtype.kind == "i" and s.preset == "ct_soft_tissue"
    assert s.model_slice(s.z).dtype.name == "uint8"
    assert v.ui.preset.value.startswith("ct_soft_tissue") and v.window.current == (40.0, 400.0)
    v.ui.preset.value = next(name for name in v.ui.preset.options if name.startswith("ct_lung"))
    assert v.window.current == (-600.0, 1500.0) and "L -600 / W 1500 HU" in v.ui.window_text.value
    s.click(100, 100)
    assert len(fake.encoded) == 1
