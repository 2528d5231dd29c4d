"""Video files (.mp4 / .avi / .mov / .mkv) through PyAV (extra ``video``) -> :class:`~samwidgets.io.video.Clip`
of RGB frames (t, y, x, 3) uint8; see :mod:`samwidgets.io.video` for clips and their size bound.

The size the container declares (frames x height x width x 3) is checked against io's max_voxels before
any frame is decoded, and the running total while decoding (the metadata may be missing or lie).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samwidgets.errors import ImageReadError, MissingExtraError
from samwidgets.io._common import as_path, check_voxel_count, wrap_read
from samwidgets.io.video import MAX_FRAMES, Clip, _frames_image


def _declared_frames(container, stream) -> int | None:
    """The number of frames a video file's metadata declares: the stream's frame count, else its duration
    (the stream's, else the container's) x its average frame rate; None when the file says neither."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if not rate:
        return None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / 1_000_000  # the container's duration is in microseconds
    else:
        return None
    return max(1, round(seconds * float(rate)))


def _check_declared_size(container, stream, path: Path) -> None:
    """Refuse a clip whose declared frames x height x width x 3 exceeds io's max_voxels (or whose frame
    count exceeds MAX_FRAMES) before any frame is decoded. A file that declares nothing is bounded while
    decoding instead (see :func:`_decode_rgb`)."""
    n, h, w = _declared_frames(container, stream), stream.height, stream.width
    if n is not None and n > MAX_FRAMES:
        raise ImageReadError(f"the file declares {n} frames, more than the limit of {MAX_FRAMES}", where=path)
    if n is not None and h and w:
        check_voxel_count((n, int(h), int(w), 3), path)


def _decode_rgb(container, stream, path: Path) -> list[np.ndarray]:
    """Every frame of ``stream`` as (y, x, 3) uint8; the running total is bounded too (the metadata may lie)."""
    import av

    frames: list[np.ndarray] = []
    try:
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) > MAX_FRAMES:
                raise ImageReadError(f"more than {MAX_FRAMES} frames", where=path)
            check_voxel_count((len(frames),) + frames[0].shape, path)
    except av.error.FFmpegError as exc:
        raise ImageReadError(f"cannot decode video: {exc}", where=path) from exc
    return frames


def read_video_file(path) -> Clip:
    """A video file (.mp4/.avi/.mov/.mkv) through PyAV -> :class:`Clip` of RGB frames (t, y, x, 3) uint8,
    ``meta["fps"]`` from the stream's average rate; no labels. The size the container declares (frames x
    height x width x 3) is checked against io's max_voxels before anything is decoded."""
    path = as_path(path)
    if not path.is_file():
        raise ImageReadError("file not found", where=path)
    try:
        import av
    except ImportError as exc:
        raise MissingExtraError("av", "video", where=path) from exc
    with wrap_read(path, "cannot decode video"):
        try:
            container = av.open(str(path))
        except av.error.FFmpegError as exc:
            raise ImageReadError(f"cannot open video: {exc}", where=path) from exc
        with container:
            if not container.streams.video:
                raise ImageReadError("no video stream", where=path)
            stream = container.streams.video[0]
            fps = float(stream.average_rate) if stream.average_rate else None
            _check_declared_size(container, stream, path)
            frames = _decode_rgb(container, stream, path)
    if not frames:
        raise ImageReadError("the video has no frames", where=path)
    names = tuple(f"{t:06d}" for t in range(len(frames)))
    return Clip(_frames_image(np.stack(frames), path, fps), names, {}, {}, path.stem)
