"""Helpers for the bad-input corpus: every case is generated at test time in ``tmp_path``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture()
def fifo(tmp_path):
    """``make(path)`` creates a FIFO there (skips where the platform has none) and returns the path."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("this platform has no FIFOs")

    def make(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        return path

    return make


def dead_pid() -> int:
    """The id of a process that has exited (a child that ran and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
