"""No acknowledged annotation is lost on kill -9, with the autosave off the click path.

A child process annotates a 40 x 256 x 256 volume (5 MB of labels per save) with an autosaving Session:
it clicks, accepts on slice k and prints "ACK k" once ``accept`` has returned (the acknowledgement the
user sees). The parent kills it with SIGKILL at a random moment (seeded) while saves are under way, then
restores the folder in a fresh Session: every acknowledged slice must be there, the folder must hold no
temporary after the next start, and the restored log must replay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from samwidgets.widgets import Session
from widgets.fakes import FakePredictor

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, {tests!r})
    from samwidgets.widgets import Session
    from widgets.fakes import FakePredictor

    vol = np.zeros((40, 256, 256), np.uint8)
    s = Session(vol, model=FakePredictor(), autosave_dir={folder!r}, autosave_delay=0.05)
    for k in range(40):
        s.set_slice(k)
        s.click(20 + 5 * k % 200, 30)
        s.click(40, 40 + 4 * k % 200)      # a burst of clicks: debounced saves run in the timer thread
        s.accept("lesion")
        print("ACK", k, flush=True)
""")


def volume():
    return np.zeros((40, 256, 256), np.uint8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_9_mid_autosave_loses_no_acknowledged_accept(tmp_path, seed):
    folder = tmp_path / "autosave"
    code = CHILD.format(tests=str(REPO / "tests"), folder=str(folder))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    rng = np.random.default_rng(seed)
    acked: list[int] = []
    target = int(rng.integers(2, 8))
    try:
        while len(acked) < target:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"child ended early: {proc.stderr.read()}")
            if line.startswith("ACK"):
                acked.append(int(line.split()[1]))
        time.sleep(float(rng.uniform(0.0, 0.05)))   # land inside the next burst of writes
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # lines printed before the kill count as acknowledged too
        acked += [int(line.split()[1]) for line in proc.stdout.read().splitlines() if line.startswith("ACK")]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    r = Session(volume(), model=FakePredictor(), autosave_dir=folder)
    assert not list(folder.glob(".*.tmp*")), "temporaries of the dead writer were not cleaned"
    assert r.restore()
    for k in acked:
        assert (r.labels[k] == 1).any(), f"acknowledged accept on slice {k} was lost (acked {acked})"
    events = r.prompt_log["events"]
    assert sum(e["op"] == "accept" for e in events) >= len(acked)
    r.close()
