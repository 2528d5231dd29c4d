"""Open manifest cases in the viewer: from a results-table row (with its prompts replayed) or by id.

    import samwidgets
    viewer = samwidgets.widgets.open_case(results.iloc[12])     # a pandas Series or a dict
    viewer = explore("data_manifests/sample.yaml", "CT_Lesion_000001_02_01_008-023")

A row has keys ``manifest`` (path), ``case`` (case id or "dataset/id"), ``slice`` (z, or empty for 2D),
``model`` (registry name) and ``prompt_log`` (JSON text or dict ``{"slice": z, "prompts":
[Prompt.to_json(), ...], "protocol": ...}``; prompts are xy pixels, boxes xyxy).
"""

from __future__ import annotations

import math
from pathlib import Path

from samwidgets.errors import InputError
from samwidgets.manifest import resolve_manifest_path



def resolve_manifest(path) -> Path:
    """A manifest path as given if it exists, else relative to the repository root, else the name inside
    ``data_manifests/`` (see :func:`samwidgets.manifest.resolve_manifest_path`); InputError if none."""
    p = resolve_manifest_path(path)
    if not p.is_file():
        raise InputError("manifest file not found (looked here, in the repository and in data_manifests/)", where=p)
    return p


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value)


def _field(row, key: str, default=None):
    try:
        value = row[key]
    except (KeyError, IndexError, TypeError):
        return default
    return default if _missing(value) else value


def _as_dict(row) -> dict:
    return dict(row.items()) if hasattr(row, "items") else dict(row)


def open_case(row, **kwargs):
    """A :class:`SliceViewer` on the row's case, at the row's slice, with its prompt log replayed.

    Columns used (samwidgets.evaluation.table): manifest, case, case_index (picks the case when ids repeat
    across the datasets of one manifest), label (the ground-truth label the row scored: metrics and the
    accept label follow it), slice (-1 on volume rows: the log's slice is used), model, prompt_log.
    A log holding several prompts (e.g. one box per component) replays them in turn; the viewer shows
    the last one, undo steps back through the others. kwargs go to SliceViewer (e.g. ``model=`` to override
    the row's model, ``device=``, ``background=``). The row's prompts define the state: an earlier
    autosave of the case is set aside, not restored (restore=False).
    """
    from samwidgets.evaluation.table import case_for_row
    from samwidgets.widgets.prompt_log import parse_log
    from samwidgets.widgets.viewer import SliceViewer

    manifest, case = _field(row, "manifest"), _field(row, "case")
    if manifest is None or case is None:
        raise InputError("a results row needs 'manifest' and 'case'", where="open_case")
    path = resolve_manifest(manifest)
    chosen = case_for_row({**_as_dict(row), "manifest": str(path)})
    kwargs.setdefault("model", _field(row, "model", "litemedsam"))
    kwargs.setdefault("restore", False)
    viewer = SliceViewer(path, case=chosen, **kwargs)
    s = viewer.session
    label = _field(row, "label")
    if label is not None and str(label) in s.ground_truth:
        viewer.set_gt_label(str(label))
    log = _field(row, "prompt_log")
    events = parse_log(log, where=f"{case} prompt_log")[0] if log is not None else []
    z = _field(row, "slice")
    if (z is None or int(z) < 0) and events and events[0]["op"] == "set_slice":
        z = events[0]["slice"]
    if z is not None and int(z) >= 0 and s.is_3d:
        s.set_slice(int(z))
    if log is not None:
        s.replay(log)
    return viewer


def explore(source="data_manifests/sample.yaml", case_id=None, *, model="litemedsam", device="auto", **kwargs):
    """A viewer on anything: a manifest (path or name in data_manifests/; ``case_id`` picks the case,
    default the first), an image file ("scan.nii.gz", PNG, DICOM folder, ...), an array ((y, x[, 3]) or
    (z, y, x[, 3])), an Image, or a manifest Case. The logic of notebooks/explore.ipynb; kwargs go to
    SliceViewer."""
    from samwidgets.widgets.viewer import SliceViewer

    if isinstance(source, (str, Path)) and str(source).lower().endswith((".yaml", ".yml")):
        return SliceViewer(resolve_manifest(source), case=case_id or None, model=model, device=device, **kwargs)
    if isinstance(source, (str, Path)) and not Path(source).exists():
        raise InputError("no such image file or folder", where=source)
    return SliceViewer(source, model=model, device=device, **kwargs)
