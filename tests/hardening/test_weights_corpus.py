"""``weights fetch`` transport rules (issue 10 §1): https only by default, redirects only to the same host
or the documented allow-list, a checkpoint with no known hash stored and reported as unverified."""

from __future__ import annotations

import hashlib
import http.server

import pytest

from samwidgets.cli import main
from samwidgets.errors import CheckpointError
from samwidgets.models import weights
from samwidgets.models.registry import MODELS, ModelSpec
from tests.local_http import serving

BODY = b"checkpoint bytes " * 500


class Redirecting(http.server.BaseHTTPRequestHandler):
    """/ok the body; /same redirects to /ok on this host; /other to the same port under another host name."""

    def do_GET(self):  # noqa: N802
        port = self.server.server_address[1]
        targets = {"/same": f"http://127.0.0.1:{port}/ok", "/other": f"http://localhost:{port}/ok",
                   "/file": "file:///etc/passwd"}
        if self.path in targets:
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base():
    with serving(Redirecting) as (url, _):
        yield url


@pytest.fixture
def model(monkeypatch):
    def register(url, sha=hashlib.sha256(BODY).hexdigest()):
        monkeypatch.setitem(MODELS, "fake", ModelSpec(name="fake", family="sam", build=MODELS["sam_vit_b"].build,
                                                        arch="vit_b", filename="fake.pth", url=url, sha256=sha))
    return register


def test_http_and_file_urls_need_the_explicit_flag(tmp_path, base, model, capsys):
    src = tmp_path / "src.pth"
    src.write_bytes(BODY)
    for url in (f"{base}/ok", src.as_uri()):
        model(url)
        with pytest.raises(CheckpointError, match="only https URLs unless"):
            weights.fetch("fake", dest_dir=tmp_path / "w", echo=lambda m: None)
        assert main(["weights", "fetch", "fake", "--dir", str(tmp_path / "w"), "--no-progress"]) == 2
        assert "--allow-insecure-url" in capsys.readouterr().err
        assert not (tmp_path / "w" / "fake.pth").exists()
        assert weights.fetch("fake", dest_dir=tmp_path / "w", echo=lambda m: None, progress=False,
                             allow_insecure=True).read_bytes() == BODY
        (tmp_path / "w" / "fake.pth").unlink()


def test_redirects_only_to_the_same_host(tmp_path, base, model):
    model(f"{base}/same")
    path = weights.fetch("fake", dest_dir=tmp_path, progress=False, echo=lambda m: None, allow_insecure=True)
    assert path.read_bytes() == BODY
    path.unlink()
    for where in ("/other", "/file"):
        model(f"{base}{where}")
        with pytest.raises(CheckpointError, match=r"(?i)redirect(ion)? to .*(refused|not allowed)"):
            weights.fetch("fake", dest_dir=tmp_path, progress=False, echo=lambda m: None, allow_insecure=True)
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_allow_list_is_documented_and_https_only():
    assert "huggingface" in " ".join(weights.REDIRECT_ALLOWED_HOSTS)
    handler = weights._SameHostRedirects("https://huggingface.co/x/y.pth", allow_insecure=False)
    with pytest.raises(weights._RedirectRefused):  # a downgrade to plain http, even to an allowed host
        handler.redirect_request(None, None, 302, "", {}, "http://cdn-lfs.huggingface.co/y.pth")


def test_no_known_hash_is_stored_and_reported_unverified(tmp_path, base, model, capsys):
    model(f"{base}/ok", sha=None)
    dest = tmp_path / "w"
    assert main(["weights", "fetch", "fake", "--dir", str(dest), "--no-progress", "--allow-insecure-url"]) == 0
    assert "UNVERIFIED" in capsys.readouterr().out
    assert weights.status("fake", dest_dir=dest, verify=True)["verified"] == "unverified"
    assert main(["weights", "list", "--dir", str(dest), "--verify"]) == 0
    row = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("fake ")][0]
    assert row[-1] == "unverified" and row[-2] == "no"  # sha256 known: no; verified: unverified
    messages = []
    weights.fetch("fake", dest_dir=dest, echo=messages.append, allow_insecure=True)
    assert "UNVERIFIED" in messages[-1] and "nothing to download" in messages[-1]
