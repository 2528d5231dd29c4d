"""Video readers: frame folders, YouTube-VOS/DAVIS roots, video files -> one Clip with a time axis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from samwidgets.errors import ImageReadError
from samwidgets.io.video import load_clip, natural_key, read_vos, vos_videos
from samwidgets.io.video_file import read_video_file
from tests.conftest import need

REAL_CLIP = "ultrasound_video/ciocr-breast-us"
T, H, W = 6, 40, 48


def synthetic_frames() -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W, 3) uint8 frames with a bright square moving right; (T, H, W) uint8 labels 0/1."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 40, size=(T, H, W, 3), dtype=np.uint8)
    labels = np.zeros((T, H, W), dtype=np.uint8)
    for t in range(T):
        labels[t, 10:26, 4 + 3 * t:20 + 3 * t] = 1
    frames[labels > 0] = 220
    return frames, labels


def save_palette(path, lab: np.ndarray) -> None:
    im = PILImage.fromarray(lab, mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0] + [0] * (256 * 3 - 6))
    im.save(path)


def test_natural_order():
    assert sorted(["f10", "f2", "f1"], key=natural_key) == ["f1", "f2", "f10"]


def test_frame_folder_sorted_with_masks_on_some_frames(tmp_path):
    frames, labels = synthetic_frames()
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    for t in range(T):  # names whose plain string order differs from frame order
        PILImage.fromarray(frames[t]).save(tmp_path / "frames" / f"f{t * 5}.png")
    for t in (0, 3):
        PILImage.fromarray(labels[t] * 255).save(tmp_path / "masks" / f"f{t * 5}.png")
    clip = load_clip(tmp_path / "frames", masks=tmp_path / "masks")
    assert clip.image.is_video and clip.image.array.shape == (T, H, W, 3)
    np.testing.assert_array_equal(clip.image.array, frames)
    assert clip.frame_names == tuple(f"f{t * 5}" for t in range(T))
    assert clip.annotated_frames == [0, 3]
    np.testing.assert_array_equal(clip.mask(3), labels[3] > 0)
    full = clip.masks()
    assert full.shape == (T, H, W) and not full[1].any() and full[0].sum() == labels[0].sum()


def test_vos_layout_palette_masks_and_meta(tmp_path):
    frames, labels = synthetic_frames()
    for vid in ("a", "b"):
        (tmp_path / "JPEGImages" / vid).mkdir(parents=True)
        (tmp_path / "Annotations" / vid).mkdir(parents=True)
        for t in range(T):
            PILImage.fromarray(frames[t]).save(tmp_path / "JPEGImages" / vid / f"{t:05d}.jpg", quality=95)
        for t in (0, 2, 5):
            save_palette(tmp_path / "Annotations" / vid / f"{t:05d}.png", labels[t] * (2 if vid == "b" else 1))
    (tmp_path / "meta.json").write_text(json.dumps(
        {"videos": {"a": {"objects": {"1": {"category": "square", "frames": ["00000"]}}}}}))
    assert vos_videos(tmp_path) == ["a", "b"]
    with pytest.raises(ImageReadError, match="2 videos"):
        read_vos(tmp_path)
    clip = load_clip(tmp_path, video="a")
    assert clip.name == "a" and clip.objects == {1: "square"}
    assert clip.image.array.shape == (T, H, W, 3) and clip.annotated_frames == [0, 2, 5]
    arr = clip.image.array.astype(int)  # JPEG: the square stays bright, the background dark
    assert arr[labels > 0].mean() > 200 and arr[labels == 0].mean() < 40
    np.testing.assert_array_equal(clip.labels[2], labels[2])  # palette indices, not colours
    b = read_vos(tmp_path, "b")
    assert b.objects == {2: ""} and set(np.unique(b.labels[5])) == {0, 2}


def write_clip(path, frames: np.ndarray, codec: str) -> None:
    """Encode (T, H, W, 3) uint8 ``frames`` at 10 fps into the video file ``path`` with PyAV."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height = W, H
        stream.pix_fmt = "yuv420p" if codec == "mpeg4" else "bgr0"
        for f in frames:
            for pkt in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)


@pytest.mark.parametrize("suffix,codec", [(".avi", "ffv1"), (".mp4", "mpeg4")])
def test_video_file(tmp_path, suffix, codec):
    pytest.importorskip("av")
    frames, _ = synthetic_frames()
    path = tmp_path / f"clip{suffix}"
    write_clip(path, frames, codec)
    clip = load_clip(path)
    assert clip.image.is_video and clip.image.array.shape == (T, H, W, 3) and clip.labels == {}
    assert clip.image.meta["fps"] == pytest.approx(10)
    err = np.abs(clip.image.array.astype(int) - frames).mean()
    assert err < (0.5 if codec == "ffv1" else 12)


def test_bad_inputs_name_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageReadError, match="no frames"):
        load_clip(tmp_path / "empty")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(ImageReadError, match="bad.mp4"):
        read_video_file(bad)
    (tmp_path / "f").mkdir()
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "f" / "a.png")
    PILImage.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "f" / "b.png")
    with pytest.raises(ImageReadError, match="b.png"):
        load_clip(tmp_path / "f")
    (tmp_path / "g").mkdir()
    (tmp_path / "m").mkdir()
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "g" / "a.png")
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m" / "zz.png")
    with pytest.raises(ImageReadError, match="no frame of the same name"):
        load_clip(tmp_path / "g", masks=tmp_path / "m")


def test_real_ultrasound_clip(shared_data):
    root = shared_data / REAL_CLIP
    need(root.is_dir(), f"{root} missing")
    clip = load_clip(root)
    assert clip.name == "0_avi" and clip.objects == {1: "tumor"}
    assert clip.image.array.shape == (38, 395, 547, 3) and clip.image.array.dtype == np.uint8
    assert clip.annotated_frames == list(range(38))
    assert clip.frame_names[0] == "00010" and clip.frame_names[-1] == "00047"
    areas = clip.masks().sum(axis=(1, 2))
    assert (areas > 0).all()
    for t in range(37):  # the source's neighbouring-frame IoU is 0.76-0.98
        a, b = clip.mask(t), clip.mask(t + 1)
        assert (a & b).sum() / (a | b).sum() > 0.7


def test_load_image_and_label_of_a_clip_folder(tmp_path):
    from samwidgets.io import load_image, load_label_array

    frames, labels = synthetic_frames()
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    for t in range(T):
        PILImage.fromarray(frames[t]).save(tmp_path / "JPEGImages" / f"{t:05d}.png")
        if t != 2:
            save_palette(tmp_path / "Annotations" / f"{t:05d}.png", labels[t])
    img = load_image(tmp_path)
    assert img.is_video and img.is_3d and img.array.shape == (T, H, W, 3)
    with pytest.raises(ImageReadError, match="1 of 6 frames have no mask.*00002"):
        load_label_array(tmp_path)
    save_palette(tmp_path / "Annotations" / "00002.png", labels[2])
    np.testing.assert_array_equal(load_label_array(tmp_path), labels)
    np.testing.assert_array_equal(load_label_array(tmp_path / "Annotations"), labels)  # a folder of masks
    assert load_image(tmp_path / "JPEGImages").array.shape == (T, H, W, 3)  # a folder of frames


def test_real_clip_manifest_validates(shared_data, repo_root):
    from samwidgets.manifest import load_manifest

    need((shared_data / REAL_CLIP).is_dir(), "clip missing")
    (case,) = load_manifest(repo_root / "data_manifests" / "ciocr_breast_us_video.yaml").cases
    image, labels = case.load()
    assert image.is_video and image.array.shape == (38, 395, 547, 3)
    assert labels["tumor"].shape == (38, 395, 547) and labels["tumor"].any(axis=(1, 2)).all()


def test_gif_frames_read_as_a_clip_and_clips_obey_the_voxel_limit(tmp_path, monkeypatch):
    """A folder of GIF frames is a clip (io's clip test and the frame reader use one suffix list), and a
    clip's frames x height x width x channels is bounded by the same setting as any image."""
    from samwidgets.io import load_image
    from samwidgets.io._common import MAX_VOXELS_ENV

    frames, _ = synthetic_frames()
    for t in range(T):
        PILImage.fromarray(frames[t]).save(tmp_path / f"{t:05d}.gif")
    img = load_image(tmp_path)
    assert img.is_video and img.array.shape == (T, H, W, 3)
    monkeypatch.setenv(MAX_VOXELS_ENV, str(T * H * W * 3 - 1))
    with pytest.raises(ImageReadError, match=MAX_VOXELS_ENV):
        load_clip(tmp_path)


class _NoDecode:
    """A PyAV container whose ``decode`` fails the test: proves a clip was refused without decoding a frame."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def decode(self, *args, **kwargs):
        raise AssertionError("a frame was decoded")


# .mp4 declares its frame count; .mkv declares none (only a duration and a rate)
@pytest.mark.parametrize("suffix,codec", [(".mp4", "mpeg4"), (".mkv", "ffv1")])
def test_too_large_video_file_is_refused_from_its_metadata_before_decoding(tmp_path, monkeypatch, suffix, codec):
    av = pytest.importorskip("av")
    from samwidgets.io._common import MAX_VOXELS_ENV

    path = tmp_path / f"clip{suffix}"
    write_clip(path, synthetic_frames()[0], codec)
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _NoDecode(real_open(*a, **k)))
    monkeypatch.setenv(MAX_VOXELS_ENV, str(T * H * W * 3 - 1))
    with pytest.raises(ImageReadError, match=rf"clip\{suffix}.*\({T}, {H}, {W}, 3\).*{MAX_VOXELS_ENV}"):
        load_clip(path)
    # control: at exactly the clip's size it is not refused, so the reader goes on to decode (and the
    # guard above would have caught a decode)
    monkeypatch.setenv(MAX_VOXELS_ENV, str(T * H * W * 3))
    with pytest.raises(AssertionError, match="a frame was decoded"):
        load_clip(path)
    monkeypatch.setattr(av, "open", real_open)
    assert load_clip(path).image.array.shape == (T, H, W, 3)


def test_too_large_frame_folder_and_mask_folder_are_refused_before_decoding(tmp_path, monkeypatch):
    from PIL import ImageFile

    from samwidgets.io._common import MAX_VOXELS_ENV
    from samwidgets.io.video import read_clip_labels

    frames, labels = synthetic_frames()
    (tmp_path / "frames").mkdir()
    (tmp_path / "masks").mkdir()
    for t in range(T):
        PILImage.fromarray(frames[t]).save(tmp_path / "frames" / f"{t:05d}.png")
        save_palette(tmp_path / "masks" / f"{t:05d}.png", labels[t])
    real_load = ImageFile.ImageFile.load

    def no_decode(self):
        raise AssertionError("a frame was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    monkeypatch.setenv(MAX_VOXELS_ENV, str(T * H * W * 3 - 1))
    with pytest.raises(ImageReadError, match=rf"frames.*\({T}, {H}, {W}, 3\).*{MAX_VOXELS_ENV}"):
        load_clip(tmp_path / "frames")
    monkeypatch.setenv(MAX_VOXELS_ENV, str(T * H * W - 1))
    with pytest.raises(ImageReadError, match=rf"masks.*\({T}, {H}, {W}\).*{MAX_VOXELS_ENV}"):
        read_clip_labels(tmp_path / "masks")
    monkeypatch.setenv(MAX_VOXELS_ENV, str(T * H * W * 3))
    with pytest.raises(AssertionError, match="a frame was decoded"):  # control: the guard sees a decode
        load_clip(tmp_path / "frames")
    monkeypatch.setattr(ImageFile.ImageFile, "load", real_load)
    assert load_clip(tmp_path / "frames").image.array.shape == (T, H, W, 3)
    assert read_clip_labels(tmp_path / "masks").shape == (T, H, W)


def test_clip_labels_of_a_vos_root_decode_no_frame_and_read_meta_once(tmp_path, monkeypatch):
    """A manifest label of a VOS root: the masks, matched to the frames by name, without decoding a frame."""
    import samwidgets.io.video as V
    from samwidgets.io.video import read_clip_labels

    frames, labels = synthetic_frames()
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    for t in range(T):  # one video directly in JPEGImages, named by meta.json (the shared clip's layout)
        PILImage.fromarray(frames[t]).save(tmp_path / "JPEGImages" / f"f{t * 5}.jpg", quality=95)
        save_palette(tmp_path / "Annotations" / f"f{t * 5}.png", labels[t])
    (tmp_path / "meta.json").write_text(json.dumps({"videos": {"clip": {"objects": {"1": {"category": "sq"}}}}}))
    want = np.stack([read_vos(tmp_path).labels[t] for t in range(T)])  # the full read, frames decoded
    read, meta = [], []
    real_read, real_meta = V._read_pixels, V._vos_meta
    monkeypatch.setattr(V, "_read_pixels", lambda p, **k: read.append(p.suffix) or real_read(p, **k))
    monkeypatch.setattr(V, "_vos_meta", lambda root: meta.append(root) or real_meta(root))
    got = read_clip_labels(tmp_path)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, labels)
    assert read == [".png"] * T and len(meta) == 1  # only the masks decoded; meta.json parsed once
    (tmp_path / "Annotations" / "f10.png").unlink()
    with pytest.raises(ImageReadError, match="1 of 6 frames have no mask.*first: f10"):
        read_clip_labels(tmp_path)


def test_clip_labels_of_the_real_vos_clip_equal_the_full_read(shared_data):
    from samwidgets.io.video import read_clip_labels

    root = shared_data / REAL_CLIP
    need(root.is_dir(), f"{root} not found")
    clip = read_vos(root)
    np.testing.assert_array_equal(read_clip_labels(root), np.stack([clip.labels[t] for t in range(clip.n_frames)]))
