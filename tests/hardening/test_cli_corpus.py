"""Bad inputs through ``samwidgets evaluate`` and the checkpoint loader (issue 10 §2, §4, §5): every row an
error exits non-zero with a one-line summary; a FIFO image is an error row, not a hang; a malicious pickle
checkpoint never runs its payload."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

from samwidgets.cli import main
from samwidgets.errors import CheckpointError

MANIFEST = """dataset: broken
modality: CT
anatomy: a
licence: CC0
citation: none
preset: percentile
root: data
label: {type: values, labels: {1: lesion}}
cases:
  - {id: corrupt, image: corrupt.png, label: mask.png}
  - {id: pipe, image: pipe.png, label: mask.png}
"""


@pytest.mark.timeout(120)
def test_evaluate_exits_nonzero_when_every_row_failed(tmp_path, fifo, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a truncated PNG
    fifo(data / "pipe.png")  # a FIFO named like an image: must not block the sweep
    mask = np.zeros((16, 16), np.uint8)
    mask[4:9, 4:9] = 1
    PILImage.fromarray(mask).save(data / "mask.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    out = tmp_path / "r.parquet"
    code = main(["evaluate", "--manifest", str(tmp_path / "m.yaml"), "--model", "litemedsam", "--protocol", "box",
                 "--device", "cpu", "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1
    assert "(2 error rows)" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samwidgets evaluate: error: all 2 rows failed (2 errors")
    table = pd.read_parquet(out)
    assert set(table.case) == {"corrupt", "pipe"} and (table.failure_type == "error").all()
    assert "not a regular file" in table.set_index("case").loc["pipe", "error"]


class _Marker:
    """Unpickling this calls pathlib.Path(marker).touch(): the harmless payload of a malicious checkpoint."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def test_a_malicious_pickle_checkpoint_never_runs_its_payload(tmp_path):
    from samwidgets.models import load
    from samwidgets.models.checkpoints import load_state_dict

    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"image_encoder.weight": _Marker(marker)}))
    with pytest.raises(CheckpointError):
        load_state_dict(evil)
    with pytest.raises(CheckpointError):
        load("sam_vit_b", checkpoint=evil, device="cpu")
    assert not marker.exists()
    pickle.loads(evil.read_bytes())  # the payload is real: plain unpickling does create the marker
    assert marker.exists()
