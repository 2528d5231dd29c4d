"""Shared fixtures: where the shared real data lives, and the rule for when it is absent.

Tests that need ../shared/data skip with a clear reason on a user's machine without it, and fail in CI
(CI=true), where it must be present.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SAMWIDGETS_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip the test with ``reason`` unless ``condition``; in CI a missing requirement is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real images with ground truth (../shared/data or $SAMWIDGETS_SHARED_DATA)."""
    need(SHARED_DATA.is_dir(), f"shared data not found at {SHARED_DATA} (set SAMWIDGETS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
