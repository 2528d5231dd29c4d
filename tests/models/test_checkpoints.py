"""Checkpoint resolution, reading and architecture checks (samwidgets.models.checkpoints).

Cheap tests use small torch modules; the end-to-end ones go through ``samwidgets.models.load`` with the
random-weight ViT-B / SAM2-T files of random_weights.py (building those networks takes about a second;
nothing here runs an image encoder).
"""

from __future__ import annotations

import hashlib
import os
import warnings

import pytest
import torch

import random_weights as rw
from samwidgets.errors import CheckpointError, UnverifiedCheckpointWarning
from samwidgets.models import get_spec, load
from samwidgets.models.checkpoints import (
    WEIGHTS_ENV,
    apply_state_dict,
    file_sha256,
    load_state_dict,
    resolve_checkpoint,
    unverified_message,
    weights_dir,
)


class Tiny(torch.nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, width, 3)
        self.head = torch.nn.Linear(width, 2)


@pytest.fixture(scope="session")
def vit_b_ckpt(tmp_path_factory):
    return rw.checkpoint_file("sam_vit_b", tmp_path_factory)


@pytest.fixture(scope="session")
def sam2_ckpt(tmp_path_factory):
    return rw.checkpoint_file("sam2_t", tmp_path_factory)


# -- resolving ------------------------------------------------------------------------------------
def test_weights_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "w"))
    assert weights_dir() == tmp_path / "w"
    monkeypatch.delenv(WEIGHTS_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weights_dir() == tmp_path / ".cache" / "samwidgets" / "weights"


def test_resolve_uses_weights_dir_then_explicit_path(monkeypatch, tmp_path):
    spec = get_spec("sam_vit_b")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    (tmp_path / spec.filename).write_bytes(b"x")
    assert resolve_checkpoint(spec) == tmp_path / spec.filename
    other = tmp_path / "elsewhere.pth"
    other.write_bytes(b"y")
    assert resolve_checkpoint(spec, other) == other


def test_missing_file_names_the_fetch_command(monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint(get_spec("sam2_t"))
    assert "samwidgets weights fetch sam2_t" in str(info.value)
    assert info.value.where == str(tmp_path / "sam2.1_hiera_tiny.pt")
    with pytest.raises(CheckpointError, match="samwidgets weights fetch medsam"):
        load("medsam", device="cpu")  # no file in the (empty) weights dir
    with pytest.raises(CheckpointError, match="not a file"):
        resolve_checkpoint(get_spec("sam_vit_b"), tmp_path)


# -- reading --------------------------------------------------------------------------------------
def test_load_state_dict_plain_and_sam2_layout(tmp_path):
    sd = Tiny().state_dict()
    torch.save(sd, tmp_path / "plain.pth")
    torch.save({"model": sd}, tmp_path / "wrapped.pt")
    for name in ("plain.pth", "wrapped.pt"):
        got = load_state_dict(tmp_path / name)
        assert set(got) == set(sd)
        assert all(torch.equal(got[k], sd[k]) for k in sd)
        assert all(t.device.type == "cpu" for t in got.values())


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_file_is_a_checkpoint_error(tmp_path, keep):
    path = tmp_path / "full.pth"
    torch.save(Tiny(64).state_dict(), path)
    data = path.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="corrupt, truncated") as info:
        load_state_dict(cut)
    assert info.value.where == str(cut)


def test_garbage_and_unsafe_pickles_are_refused(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError):
        load_state_dict(junk)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"w": torch.zeros(2), "obj": Tiny}, unsafe)  # a class reference: weights_only refuses it
    with pytest.raises(CheckpointError):
        load_state_dict(unsafe)
    not_tensors = tmp_path / "numbers.pth"
    torch.save({"a": 1, "b": 2}, not_tensors)
    with pytest.raises(CheckpointError, match="not tensors"):
        load_state_dict(not_tensors)


# -- architecture checks --------------------------------------------------------------------------
def test_apply_state_dict_names_missing_unexpected_and_shape_keys():
    good = Tiny().state_dict()
    apply_state_dict(Tiny(), good)  # fits: no error
    bad = dict(good)
    del bad["head.bias"]
    bad["extra.weight"] = torch.zeros(1)
    bad["conv.weight"] = good["conv.weight"].reshape(2, 2, 3, 3, 3)
    with pytest.raises(CheckpointError) as info:
        apply_state_dict(Tiny(), bad, where="x.pth", arch="tiny")
    msg = str(info.value)
    assert "head.bias" in msg and "extra.weight" in msg and "conv.weight" in msg
    assert "tiny" in msg and info.value.where == "x.pth"


def test_sam_vit_b_checkpoint_loaded_as_sam2_is_refused(vit_b_ckpt):
    with pytest.raises(CheckpointError, match="does not fit the sam2_t") as info:
        load("sam2_t", checkpoint=vit_b_ckpt, device="cpu")
    assert "missing keys" in str(info.value) and "unexpected keys" in str(info.value)


def test_sam2_checkpoint_loaded_as_sam_is_refused(sam2_ckpt):
    with pytest.raises(CheckpointError, match="does not fit"):
        load("sam_vit_b", checkpoint=sam2_ckpt, device="cpu")


def test_one_reshaped_tensor_is_refused_by_name(vit_b_ckpt, tmp_path):
    sd = torch.load(vit_b_ckpt, weights_only=True)
    key = "mask_decoder.iou_prediction_head.layers.0.weight"
    sd[key] = sd[key].reshape(-1, 64)
    bad = tmp_path / "reshaped.pth"
    torch.save(sd, bad)
    with pytest.raises(CheckpointError, match="1 shape mismatches") as info:
        load("medsam", checkpoint=bad, device="cpu")
    assert key in str(info.value)


def test_truncated_checkpoint_through_load(vit_b_ckpt, tmp_path):
    cut = tmp_path / "cut.pth"
    with open(vit_b_ckpt, "rb") as fh:
        cut.write_bytes(fh.read(5_000_000))
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load("sam_vit_b", checkpoint=cut, device="cpu")


def test_large_sam_variants_map_to_their_architectures():
    """vit_l / vit_h are built on the meta device (no memory, no weights) and checked by shape."""
    from samwidgets.models.sam import build_network

    expect = {"sam_vit_b": (12, 768), "sam_vit_l": (24, 1024), "sam_vit_h": (32, 1280)}
    nets = {}
    for name, (depth, width) in expect.items():
        spec = get_spec(name)
        assert spec.family == "sam"
        with torch.device("meta"):
            nets[name] = build_network(spec.arch)
        enc = nets[name].image_encoder
        assert (len(enc.blocks), enc.patch_embed.proj.out_channels) == (depth, width)
    with pytest.raises(CheckpointError, match="shape mismatches"):  # a vit_l file given to vit_h
        apply_state_dict(nets["sam_vit_h"], nets["sam_vit_l"].state_dict(), arch="vit_h")


def test_sam2_variants_have_package_configs():
    from importlib.resources import files

    from samwidgets.models.sam2 import config_for

    for name in ("sam2_t", "sam2_s", "sam2_b+", "sam2_l"):
        cfg = config_for(get_spec(name).arch)
        assert (files("sam2") / cfg).is_file(), cfg
    with pytest.raises(ValueError):
        config_for("sam2.1_hiera_xl")


# -- hashing --------------------------------------------------------------------------------------
def test_sha256_is_the_file_hash_and_follows_changes(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"abc" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert file_sha256(path) == file_sha256(str(path))  # memoised, same answer
    path.write_bytes(b"abcd" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"abcd" * 1000).hexdigest()


def test_weights_id_of_a_loaded_predictor_is_the_file_hash(vit_b_ckpt):
    # MedSAM has no published sha256: loading it warns, naming the file (the integration path of the test
    # below: every adapter loads through build_from_checkpoint)
    with pytest.warns(UnverifiedCheckpointWarning, match=rf"{vit_b_ckpt.name}.*'medsam' is unverified"):
        pred = load("medsam", checkpoint=vit_b_ckpt, device="cpu")
    assert pred.weights_id == hashlib.sha256(vit_b_ckpt.read_bytes()).hexdigest()


# -- unverified checkpoints warn at load ----------------------------------------------------------
def _tiny_checkpoint(folder, name: str):
    path = folder / name
    torch.save(Tiny().state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_unverified_message_names_the_file_only_without_a_published_hash(tmp_path):
    from dataclasses import replace

    from samwidgets.models.weights import sidecar_path

    medsam, sam = get_spec("medsam"), get_spec("sam_vit_b")
    assert medsam.sha256 is None and sam.sha256 is not None  # the registry facts this relies on
    path, digest = _tiny_checkpoint(tmp_path, medsam.filename)
    message = unverified_message(medsam, path, digest)
    assert str(path) in message and "unverified" in message and digest in message
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")
    assert "unchanged since `samwidgets weights fetch`" in unverified_message(medsam, path, digest)
    assert unverified_message(sam, path, digest) is None
    assert unverified_message(replace(sam, sha256=None), path, digest) is not None


@pytest.mark.parametrize("explicit", [False, True])
def test_loading_warns_for_an_unverified_checkpoint_and_not_for_a_verified_one(tmp_path, monkeypatch, explicit):
    from dataclasses import replace

    from samwidgets.models.checkpoints import build_from_checkpoint

    medsam = get_spec("medsam")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    path, digest = _tiny_checkpoint(tmp_path, medsam.filename)
    checkpoint = path if explicit else None
    with pytest.warns(UnverifiedCheckpointWarning, match=rf"{path.name}.*unverified") as caught:
        module, got, sha = build_from_checkpoint(Tiny, medsam, checkpoint)
    assert len(caught) == 1 and isinstance(module, Tiny) and (got, sha) == (path, digest)
    verified = replace(medsam, sha256=digest)  # the same file with a published hash that it matches
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_from_checkpoint(Tiny, verified, checkpoint)
    bad = tmp_path / "bad.pth"  # a load that fails does not warn first
    bad.write_bytes(b"not a checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckpointError):
            build_from_checkpoint(Tiny, medsam, bad)


def test_weights_dir_file_is_checked_against_its_fetch_record(vit_b_ckpt, tmp_path, monkeypatch):
    """A file in the weights dir must match the sha256 that `samwidgets weights fetch` recorded."""
    from samwidgets.models.weights import sidecar_path

    spec = get_spec("medsam")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    target = tmp_path / spec.filename
    target.symlink_to(vit_b_ckpt)
    digest = hashlib.sha256(vit_b_ckpt.read_bytes()).hexdigest()
    sidecar_path(target).write_text(f"{'0' * 64}  {spec.filename}\n")
    with pytest.raises(CheckpointError, match="samwidgets weights fetch medsam"):
        load("medsam", device="cpu")
    with pytest.warns(UnverifiedCheckpointWarning, match=f"unverified.*{digest}"):
        load("medsam", checkpoint=target, device="cpu")  # an explicit path is taken as given
    sidecar_path(target).write_text(f"{digest}  {spec.filename}\n")
    with pytest.warns(UnverifiedCheckpointWarning, match="unchanged since `samwidgets weights fetch`"):
        assert load("medsam", device="cpu").weights_id == digest
