"""Video clips: a folder of frames, the YouTube-VOS / DAVIS layout, and video files -> one :class:`Clip`.

A clip's frames are one :class:`~samwidgets.io.image.Image` whose array has a TIME axis first:
(t, y, x) for grey or (t, y, x, 3) for colour, ``meta["axes"] == "tyx"`` (:data:`TIME_AXES`, see
``Image.is_video``), spacing (1.0, sy, sx) with sy = sx = 1.0 pixel (video files carry no pixel size) and
``meta["fps"]`` when known. Ground-truth labels may exist on some frames only: ``Clip.labels`` maps a
frame index to its raw (y, x) label array (palette indices for VOS/DAVIS palette PNGs, values as stored
otherwise).

Readers (every failure is an :class:`~samwidgets.errors.ImageReadError` naming the file or folder):

* :func:`read_frame_folder`: image files of one folder (.png, .jpg, .jpeg, .bmp, .tif, .tiff), in natural
  order of their names (``f2`` before ``f10``); optional ``masks`` folder whose files are matched to frames
  by name stem;
* :func:`read_vos`: ``<root>/JPEGImages/<video>/*.jpg`` + ``<root>/Annotations/<video>/*.png`` (palette
  masks, index 0 = background, 1..N = objects) + optional ``<root>/meta.json`` (YouTube-VOS: object
  categories and annotated frames). A root whose ``JPEGImages`` holds the frames directly (one video,
  as in ``../shared/data/ultrasound_video``) is read too; its name comes from ``meta.json``;
* :func:`samwidgets.io.video_file.read_video_file`: .mp4 / .avi / .mov / .mkv through PyAV (extra
  ``video``), every frame decoded to RGB (t, y, x, 3) uint8.

Size: a clip is one image for io's ``max_voxels`` setting (``SAMWIDGETS_MAX_VOXELS``): frames x height x
width [x 3] is checked before any frame is decoded, from the first frame file's header and the number of
files (folders), or from the frame count, duration, rate and size the container declares (video files;
the running total is checked while decoding too, in case the metadata is missing or lies).

:func:`load_clip` dispatches on the path. This module never imports torch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from samwidgets.errors import ImageReadError
from samwidgets.io._common import (RASTER_SUFFIXES, VIDEO_SUFFIXES, as_path, check_numeric, check_voxel_count,
                                   wrap_read)
from samwidgets.io.image import TIME_AXES, Image

FRAME_SUFFIXES = RASTER_SUFFIXES  # the same list that makes io read a folder as a clip (is_clip_dir)
#: upper bound on frames read from one clip (a guard against decoding hours of video by mistake)
MAX_FRAMES = 20000
#: decoded values per clip (frames x height x width [x 3]) are bounded like any image: io's max_voxels


@dataclass
class Clip:
    """A video clip with ground truth on some frames.

    image:       frames as an :class:`Image` with array (t, y, x[, 3]) and ``meta["axes"] == "tyx"``.
    frame_names: one name per frame (file stem, or ``"%06d" % t`` for a video file).
    labels:      frame index -> raw (y, x) label array of that frame; frames without an entry are unannotated.
    objects:     object id -> category name (from meta.json where there is one), e.g. {1: "tumor"}.
    name:        the clip's name (video id, folder or file stem).
    """

    image: Image
    frame_names: tuple[str, ...]
    labels: dict[int, np.ndarray] = field(default_factory=dict)
    objects: dict[int, str] = field(default_factory=dict)
    name: str = ""

    @property
    def n_frames(self) -> int:
        return int(self.image.array.shape[0])

    @property
    def annotated_frames(self) -> list[int]:
        """Sorted frame indices that carry a label."""
        return sorted(self.labels)

    def mask(self, t: int, value: int | None = None) -> np.ndarray:
        """(y, x) bool mask of frame ``t``: ``label == value``, or ``label > 0`` when value is None.
        Raises KeyError for an unannotated frame."""
        lab = self.labels[t]
        return lab > 0 if value is None else lab == value

    def masks(self, value: int | None = None) -> np.ndarray:
        """(t, y, x) bool: the masks of annotated frames, all False elsewhere (see ``annotated_frames``)."""
        out = np.zeros(self.image.array.shape[:3], dtype=bool)
        for t in self.labels:
            out[t] = self.mask(t, value)
        return out


def natural_key(name: str) -> list:
    """Sort key that orders digit runs by value: ``f2`` < ``f10``."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def _list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise ImageReadError("not a folder", where=folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(suffixes)
             and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


_GREY_MODES = ("L", "I;16", "I")  # Pillow modes read as (y, x); every other mode becomes RGB (y, x, 3)


def _header_shape(im, *, palette: bool) -> tuple[int, ...]:
    """The (y, x) or (y, x, 3) shape :func:`_read_pixels` makes of an opened, not yet decoded Pillow image."""
    grey = im.mode in _GREY_MODES or (im.mode == "P" and palette)
    return (im.height, im.width) if grey else (im.height, im.width, 3)


def frame_shape(path: Path, *, palette: bool = False) -> tuple[int, ...]:
    """(y, x) or (y, x, 3): the shape of one frame or mask file read from its header only (nothing decoded)."""
    from PIL import Image as PILImage

    with wrap_read(path, "cannot read frame"):
        with PILImage.open(str(path)) as im:  # lazy: only the header is read
            return _header_shape(im, palette=palette)


def _read_pixels(path: Path, *, palette: bool, plane: tuple[int, int] | None = None) -> np.ndarray:
    """One frame or mask: (y, x) or (y, x, 3). ``palette``: keep palette indices of a 'P' image.
    ``plane``: the (y, x) size it must have, checked from the header before decoding, like io's max_voxels."""
    from PIL import Image as PILImage

    with wrap_read(path, "cannot read frame"):
        with PILImage.open(str(path)) as im:
            shape = _header_shape(im, palette=palette)
            check_voxel_count(shape, path)
            if plane is not None and shape[:2] != tuple(plane):
                raise ImageReadError(f"{path.name} is {shape[:2]} (y, x) but the clip's frames are "
                                     f"{tuple(plane)}", where=path)
            im.load()
            if im.mode in _GREY_MODES or (im.mode == "P" and palette):
                arr = np.array(im)
            else:
                arr = np.array(im.convert("RGB"))
    return check_numeric(arr, path)


def _check_frame_count(paths: list[Path], where: Path) -> None:
    if not paths:
        raise ImageReadError(f"no frames ({', '.join(FRAME_SUFFIXES)}) in the folder", where=where)
    if len(paths) > MAX_FRAMES:
        raise ImageReadError(f"{len(paths)} frames, more than the limit of {MAX_FRAMES}", where=where)


def _stack_frames(paths: list[Path], where: Path) -> np.ndarray:
    """Frames (t, y, x[, 3]). The clip's size (frames x the first frame's header shape) is checked against
    io's max_voxels before any frame is decoded; each later frame's size is checked from its header."""
    _check_frame_count(paths, where)
    check_voxel_count((len(paths),) + frame_shape(paths[0]), where)
    first = _read_pixels(paths[0], palette=False)
    out = np.empty((len(paths),) + first.shape, dtype=first.dtype)
    out[0] = first
    for t, p in enumerate(paths[1:], start=1):
        arr = _read_pixels(p, palette=False, plane=first.shape[:2])
        if arr.shape != first.shape or arr.dtype != first.dtype:
            raise ImageReadError(f"frame {p.name} is {arr.shape} {arr.dtype}, the first frame "
                                 f"{paths[0].name} is {first.shape} {first.dtype}", where=p)
        out[t] = arr
    return out


def _read_masks(folder: Path, names: list[str], shape2d: tuple[int, int]) -> dict[int, np.ndarray]:
    """Mask files of ``folder`` matched to frame names by stem; each must be (y, x) of the frames' size."""
    index = {n: t for t, n in enumerate(names)}
    labels: dict[int, np.ndarray] = {}
    for p in _list_files(folder, FRAME_SUFFIXES):
        t = index.get(p.stem)
        if t is None:
            raise ImageReadError(f"mask {p.name} has no frame of the same name (frames: {names[0]}..{names[-1]})",
                                 where=p)
        lab = _read_pixels(p, palette=True, plane=shape2d)  # size checked before decoding
        labels[t] = lab
    return labels


def _frames_image(array: np.ndarray, path: Path, fps: float | None = None) -> Image:
    meta = {"axes": TIME_AXES}
    if fps:
        meta["fps"] = float(fps)
    return Image(array=array, spacing=(1.0, 1.0, 1.0), path=path, meta=meta)


def read_frame_folder(folder, *, masks=None) -> Clip:
    """A folder of frame images (natural name order) -> :class:`Clip`; ``masks``: a folder of mask images
    named like their frames (any subset of them)."""
    folder = as_path(folder)
    paths = _list_files(folder, FRAME_SUFFIXES)
    frames = _stack_frames(paths, folder)
    names = [p.stem for p in paths]
    labels = _read_masks(as_path(masks), names, frames.shape[1:3]) if masks is not None else {}
    return Clip(_frames_image(frames, folder), tuple(names), labels, {}, folder.name)


def _vos_meta(root: Path) -> dict:
    path = root / "meta.json"
    if not path.is_file():
        return {}
    if path.stat().st_size > 50_000_000:
        raise ImageReadError("meta.json larger than 50 MB", where=path)
    with wrap_read(path, "cannot read meta.json"):
        meta = json.loads(path.read_text(encoding="utf-8"))
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not isinstance(videos, dict):
        raise ImageReadError("meta.json has no 'videos' mapping (YouTube-VOS layout)", where=path)
    return videos


def _jpeg_images(root: Path) -> Path:
    images = root / "JPEGImages"
    if not images.is_dir():
        raise ImageReadError("no JPEGImages folder (YouTube-VOS/DAVIS layout)", where=root)
    return images


def _video_ids(root: Path, meta: dict | None) -> list[str]:
    """The video ids of a VOS root; ``meta``: meta.json's videos mapping when the caller has parsed it
    (None: parsed here, only if the frames lie directly in ``JPEGImages``)."""
    images = _jpeg_images(root)
    subs = sorted((p.name for p in images.iterdir() if p.is_dir()), key=natural_key)
    if subs:
        return subs
    meta = _vos_meta(root) if meta is None else meta
    return [next(iter(meta))] if len(meta) == 1 else [root.name]


def vos_videos(root) -> list[str]:
    """Video ids of a YouTube-VOS/DAVIS root: the sub-folders of ``JPEGImages`` (or, when it holds the
    frames directly, the one id of meta.json, else the root's name)."""
    return _video_ids(as_path(root), None)


class _VosVideo(NamedTuple):
    """One video of a VOS root: id, frames folder, masks folder (None: none), meta.json entry ({}: none)."""
    video: str
    frames: Path
    masks: Path | None
    meta: dict


def _vos_video(root: Path, video: str | None) -> _VosVideo:
    """Resolve ``video`` (None: the root's only one) of a VOS root; meta.json is parsed once, here."""
    _jpeg_images(root)  # a missing folder is reported before meta.json is read
    meta = _vos_meta(root)
    videos = _video_ids(root, meta)
    if video is None:
        if len(videos) != 1:
            raise ImageReadError(f"{len(videos)} videos in the folder; choose one of {videos[:10]}", where=root)
        video = videos[0]
    if video not in videos:
        raise ImageReadError(f"no video '{video}'; videos: {videos[:10]}", where=root)
    flat = not (root / "JPEGImages" / video).is_dir()
    frames_dir = root / "JPEGImages" if flat else root / "JPEGImages" / video
    masks_dir = root / "Annotations" if flat else root / "Annotations" / video
    entry = meta.get(video, {})
    return _VosVideo(video, frames_dir, masks_dir if masks_dir.is_dir() else None,
                     entry if isinstance(entry, dict) else {})


def read_vos(root, video: str | None = None) -> Clip:
    """One video of a YouTube-VOS / DAVIS root (see module docstring); ``video`` may be omitted when the
    root holds one video."""
    root = as_path(root)
    vos = _vos_video(root, video)
    clip = read_frame_folder(vos.frames, masks=vos.masks)
    objects = vos.meta.get("objects", {})
    cats = {}
    for oid, obj in (objects.items() if isinstance(objects, dict) else []):
        if str(oid).isdigit():
            cats[int(oid)] = str(obj.get("category", "")) if isinstance(obj, dict) else ""
    if not cats:  # DAVIS has no meta.json: the objects are the mask values present
        vals = set()
        for lab in clip.labels.values():
            vals.update(int(v) for v in np.unique(lab) if v > 0)
        cats = {v: "" for v in sorted(vals)}
    clip.objects, clip.name = cats, vos.video
    clip.image.path = root
    return clip


def _vos_labels(root: Path) -> np.ndarray:
    """(t, y, x) masks of the root's only video, one per frame: the frames are listed and the first one's
    header read for the size, none decoded; the stack is bounded by io's max_voxels before any mask is."""
    vos = _vos_video(root, None)
    paths = _list_files(vos.frames, FRAME_SUFFIXES)
    _check_frame_count(paths, vos.frames)
    names = [f.stem for f in paths]
    plane = frame_shape(paths[0])[:2]
    check_voxel_count((len(paths),) + plane, root)
    labels = _read_masks(vos.masks, names, plane) if vos.masks is not None else {}
    missing = [names[t] for t in range(len(names)) if t not in labels]
    if missing:
        raise ImageReadError(
            f"{len(missing)} of {len(names)} frames have no mask (first: {missing[0]}); a manifest label "
            "must cover every frame (score partly annotated clips with samwidgets.evaluation.video."
            "propagate_clip or the video_propagation report)", where=root)
    return np.stack([labels[t] for t in range(len(names))])


def load_clip(path, *, masks=None, video: str | None = None) -> Clip:
    """A clip from a video file, a YouTube-VOS/DAVIS root (has ``JPEGImages/``) or a folder of frames
    (``masks``: its mask folder). ``video`` picks one video of a VOS root."""
    p = as_path(path)
    if not p.exists():
        raise ImageReadError("file not found", where=p)
    if p.is_file():
        if not p.name.lower().endswith(VIDEO_SUFFIXES):
            raise ImageReadError(f"not a video file; supported: {', '.join(VIDEO_SUFFIXES)}", where=p)
        from samwidgets.io.video_file import read_video_file

        return read_video_file(p)
    if (p / "JPEGImages").is_dir():
        return read_vos(p, video)
    return read_frame_folder(p, masks=masks)


def read_clip_labels(path) -> np.ndarray:
    """(t, y, x) label array of a clip for a manifest ``label``: a YouTube-VOS/DAVIS root (its
    ``Annotations``, matched to its frames by name) or a folder of mask images (natural name order).
    Every frame must carry a mask (a whole-clip label is scored on every frame): a partly annotated
    clip raises ImageReadError pointing to :func:`samwidgets.evaluation.video.propagate_clip`."""
    p = as_path(path)
    if (p / "JPEGImages").is_dir():
        return _vos_labels(p)
    paths = _list_files(p, FRAME_SUFFIXES)
    if not paths:
        raise ImageReadError("no mask images in the folder", where=p)
    first = frame_shape(paths[0], palette=True)
    check_voxel_count((len(paths),) + first, p)  # the whole stack, before any mask is decoded
    labels = [_read_pixels(f, palette=True, plane=first[:2]) for f in paths]
    shapes = {lab.shape for lab in labels}
    if len(shapes) != 1:
        raise ImageReadError(f"mask images of different shapes {sorted(shapes)[:3]}", where=p)
    return np.stack(labels)
