"""The bounded LRU used for every memo (checkpoint digests, gallery manifest digests)."""

from __future__ import annotations

import pytest

from samwidgets.lru import LRU


def test_least_recently_used_goes_first():
    memo = LRU(maxsize=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1  # a is now the most recent
    memo.put("c", 3)
    assert "b" not in memo and memo.get("a") == 1 and memo.get("c") == 3 and len(memo) == 2
    calls = []
    assert memo.get_or_compute("d", lambda: calls.append(1) or 4) == 4
    assert memo.get_or_compute("d", lambda: calls.append(1) or 5) == 4 and calls == [1]
    assert len(memo) == 2 and "a" not in memo
    with pytest.raises(ValueError):
        LRU(maxsize=0)


def test_checkpoint_digests_are_bounded_and_passed_explicitly(tmp_path):
    from samwidgets.models.checkpoints import CHECKPOINT_DIGESTS, file_sha256

    memo = LRU(maxsize=1)
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    a.write_bytes(b"a")
    b.write_bytes(b"b")
    first = file_sha256(a, memo=memo)
    file_sha256(b, memo=memo)
    assert len(memo) == 1 and file_sha256(a, memo=None) == first
    assert CHECKPOINT_DIGESTS.maxsize == 32
