"""3D segmentation with SAM2's video predictor: prompt one slice, propagate through the volume.

This is the SAM2 3D protocol of Ma et al. 2024 (protocols.md, "3D handling"): the volume's slices are
the frames of a video; one slice (by default the middle one) gets a box or points; the video predictor
propagates the object forward (``propagate_in_video``) and then in reverse (``reverse=True``) from that
slice, each slice conditioned on SAM2's memory of the slices already segmented.

Frames. ``SAM2VideoPredictor.init_state`` only reads an MP4 or a folder of JPEGs (``load_video_frames``),
and JPEG would alter the intensities. samwidgets feeds the slices losslessly instead: while
``init_state`` runs, the package's ``load_video_frames`` is temporarily replaced (in the
``sam2.sam2_video_predictor`` module only, for the duration of the call) by a function that returns the
frames built exactly as the JPEG loader builds them, minus the JPEG step: each (H, W) uint8 slice as RGB,
PIL bicubic resize to 1024 x 1024, /255, ImageNet mean/std. Everything else in ``init_state`` is the
package's own. Because of that swap, do not call ``propagate`` from two threads at once.

Volumes are (z, y, x) or (z, y, x, 3) arrays, uint8 (CVPR24 npz ``imgs``); other dtypes are min-max
scaled to 0-255 over the whole volume first. Prompts are xy pixels of the prompted slice, boxes xyxy.
Masks come back as (z, y, x) bool at the original size (SAM2 logits > 0). Everything runs in float32
(no autocast), on the device chosen at build time.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from samwidgets.errors import InputError, ModelError, PromptError
from samwidgets.models.checkpoints import build_from_checkpoint
from samwidgets.models.checks import check_prompts
from samwidgets.models.device import resolve_device
from samwidgets.models.registry import get_spec
from samwidgets.models.sam2 import _require_sam2, build_network, config_for

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OBJ_ID = 1


def volume_to_uint8(volume) -> np.ndarray:
    """Check a (D, H, W[, 3]) volume and return it as uint8 (non-uint8: min-max to 0-255 over the volume)."""
    vol = np.asarray(volume)
    if vol.ndim == 4 and vol.shape[-1] == 1:
        vol = vol[..., 0]
    if vol.ndim not in (3, 4) or (vol.ndim == 4 and vol.shape[-1] != 3):
        raise InputError(f"expected a (z, y, x) or (z, y, x, 3) volume, got shape {vol.shape}", where="volume")
    if vol.shape[0] < 1 or min(vol.shape[1:3]) < 2:
        raise InputError(f"empty volume of shape {vol.shape}", where="volume")
    if vol.dtype == np.uint8:
        return vol
    if vol.dtype == bool or not np.issubdtype(vol.dtype, np.number):
        raise InputError(f"unsupported dtype {vol.dtype}", where="volume")
    v = vol.astype(np.float64)
    if not np.isfinite(v).all():
        raise InputError("volume holds NaN or infinite values", where="volume")
    lo, hi = float(v.min()), float(v.max())
    v = (v - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(v)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def frames_tensor(volume_u8: np.ndarray, image_size: int):
    """(D, H, W[, 3]) uint8 -> (D, 3, S, S) float32 torch frames as SAM2's JPEG loader makes them (no JPEG)."""
    import torch
    from PIL import Image as PILImage

    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    out = torch.empty((volume_u8.shape[0], 3, image_size, image_size), dtype=torch.float32)
    for z, plane in enumerate(volume_u8):
        rgb = np.repeat(plane[:, :, None], 3, axis=2) if plane.ndim == 2 else plane
        img = PILImage.fromarray(np.ascontiguousarray(rgb))
        img = img.resize((image_size, image_size), PILImage.Resampling.BICUBIC)
        out[z] = torch.from_numpy(np.asarray(img) / 255.0).permute(2, 0, 1)
    return (out - mean) / std


@contextlib.contextmanager
def _frames_from_memory(volume_u8: np.ndarray):
    """Within the block, sam2's video predictor loads ``volume_u8`` instead of reading files."""
    import sam2.sam2_video_predictor as vp

    h, w = volume_u8.shape[1:3]

    def load_frames(video_path, image_size, offload_video_to_cpu, compute_device=None, **_: Any):
        images = frames_tensor(volume_u8, image_size)
        if not offload_video_to_cpu and compute_device is not None:
            images = images.to(compute_device)
        return images, h, w

    original = vp.load_video_frames
    vp.load_video_frames = load_frames
    try:
        yield
    finally:
        vp.load_video_frames = original


class Sam2VolumePropagator:
    """SAM2 video-predictor propagation over a volume; build with :func:`build_video`.

    ``last_run`` records the last call: prompt slice ``z`` and the slice indices visited ``forward`` and
    in ``reverse``, in visiting order.
    """

    def __init__(self, predictor, *, name: str, device: str, weights_id: str):
        self.predictor = predictor.to(device).eval()
        self.name = name
        self.device = device
        self.weights_id = weights_id
        self.last_run: dict[str, Any] = {}

    def propagate(self, volume, *, z: int | None = None, box_xyxy=None, points_xy=None, point_labels=None,
                  z_range: tuple[int, int] | None = None) -> np.ndarray:
        """Segment one object through ``volume`` from a prompt on slice ``z`` (default: the middle, D // 2).

        volume: (D, H, W) or (D, H, W, 3). box_xyxy: (4,) xyxy pixels; points_xy (N, 2) xy pixels with
        point_labels (N,) 1/0; both may be given. z_range: optional inclusive (z_min, z_max) to which the
        propagation is limited (slices outside stay empty). Returns (D, H, W) bool.
        """
        import torch

        vol = volume_to_uint8(volume)
        depth, h, w = vol.shape[:3]
        z = depth // 2 if z is None else int(z)
        lo, hi = (0, depth - 1) if z_range is None else (max(0, int(z_range[0])), min(depth - 1, int(z_range[1])))
        if not lo <= z <= hi:
            raise PromptError(f"prompt slice z={z} is outside the slices {lo}..{hi}", where="z")
        pts, labels, boxes, _, batched = check_prompts((h, w), points_xy=points_xy, point_labels=point_labels,
                                                       box_xyxy=box_xyxy)
        if batched:
            raise PromptError("one prompt set per call: give a (4,) box and/or (N, 2) points", where="prompt")
        out = np.zeros((depth, h, w), dtype=bool)
        visited: dict[str, list[int]] = {"forward": [], "reverse": []}
        try:
            with _frames_from_memory(vol):
                state = self.predictor.init_state(video_path="<samwidgets volume>")
            with torch.inference_mode():
                self.predictor.add_new_points_or_box(
                    state, frame_idx=z, obj_id=OBJ_ID,
                    points=None if pts is None else pts[0], labels=None if labels is None else labels[0],
                    box=None if boxes is None else boxes[0],
                )
                for direction, reverse, count in (("forward", False, hi - z), ("reverse", True, z - lo)):
                    for frame, _, logits in self.predictor.propagate_in_video(
                        state, start_frame_idx=z, max_frame_num_to_track=count, reverse=reverse
                    ):
                        out[frame] = (logits[0, 0] > 0.0).cpu().numpy()
                        visited[direction].append(int(frame))
        except (PromptError, InputError):
            raise
        except Exception as exc:
            raise ModelError(f"SAM2 video propagation failed: {exc}", where=self.name) from exc
        self.last_run = {"z": z, **visited}
        return out


def build_video(name: str = "sam2_t", *, checkpoint=None, device: str = "auto") -> Sam2VolumePropagator:
    """The video propagator of a SAM2 registry model ("sam2_t", "sam2_s", "sam2_b+", "sam2_l").

    Built with ``build_sam2_video_predictor(config, ckpt_path=None)`` and the same strict checkpoint load
    as the image predictor (missing / corrupt / wrong-architecture files raise CheckpointError).
    """
    spec = get_spec(name)
    if spec.family != "sam2":
        raise ModelError(f"'{name}' is not a SAM2 model; video propagation needs sam2_t/s/b+/l", where=name)
    dev = resolve_device(device)
    _require_sam2(name)
    config_for(spec.arch)
    model, _, sha = build_from_checkpoint(lambda: build_network(spec.arch, video=True), spec, checkpoint)
    return Sam2VolumePropagator(model, name=name, device=dev, weights_id=sha)
