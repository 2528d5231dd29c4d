"""The 3D protocols' wiring: middle-slice box, z range, volume-level scoring (fake propagators)."""

from __future__ import annotations

import numpy as np

from samwidgets.evaluation import parse_protocol
from samwidgets.evaluation.volume import run_volume_protocol

from .fakes import FakePredictor


class FakeVideo:
    def __init__(self):
        self.calls = []

    def propagate(self, volume, *, z=None, box_xyxy=None, z_range=None):
        self.calls.append((z, np.asarray(box_xyxy).tolist(), z_range))
        out = np.zeros(volume.shape[:3], bool)
        x0, y0, x1, y1 = np.asarray(box_xyxy, int)
        out[z_range[0]:z_range[1] + 1, y0:y1 + 1, x0:x1 + 1] = True
        return out


def test_sam2_video_gets_middle_slice_box_and_z_range():
    gt = np.zeros((9, 30, 30), bool)
    gt[2:7, 5:10, 12:20] = True
    pred = FakePredictor(name="sam2_fake")
    video = FakeVideo()
    step, extra = run_volume_protocol(parse_protocol("sam2_video_3d"), pred, np.zeros((9, 30, 30), np.uint8), gt,
                                      videos={"sam2_fake": video})
    assert video.calls == [(4, [12, 5, 19, 9], (2, 6))]
    assert extra == {"box3d": [12, 5, 2, 19, 9, 6], "slice": 4}
    assert np.array_equal(step.mask, gt) and step.prompts[0].box_xyxy.tolist() == [12, 5, 19, 9]
