"""Failure typing rules on hand-made predictions."""

from __future__ import annotations

import numpy as np

from samwidgets.evaluation.failures import failure_type


def gt():
    g = np.zeros((40, 40), bool)
    g[10:30, 10:30] = True
    return g


def test_ok_and_empty():
    g = gt()
    assert failure_type(g, g) == "ok"
    assert failure_type(np.zeros_like(g), np.zeros_like(g)) == "ok"
    assert failure_type(np.zeros_like(g), g) == "under_segmentation"


def test_under_and_leak():
    g = gt()
    under = np.zeros_like(g)
    under[10:30, 10:17] = True
    assert failure_type(under, g) == "under_segmentation"
    leak = np.zeros_like(g)
    leak[2:38, 2:38] = True
    assert failure_type(leak, g) == "leak"


def test_wrong_object():
    g = gt()
    other = np.zeros_like(g)
    other[0:8, 0:8] = True
    assert failure_type(other, g) == "wrong_object"
    assert failure_type(other, np.zeros_like(g)) == "wrong_object"


def test_fragmented():
    g = gt()
    frag = np.zeros_like(g)
    frag[10:30, 10:14] = True
    frag[10:30, 18:22] = True
    frag[10:30, 26:30] = True
    assert failure_type(frag, g) == "fragmented"
