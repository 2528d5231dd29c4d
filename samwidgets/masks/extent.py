"""The extent of a mask: the half-open (y0, y1, x0, x1) bounds of its non-zero pixels, in array order
(numpy only). Used to work on the part of a plane that holds something (the viewer's overlay and its
Dice/IoU on a click)."""

from __future__ import annotations

import numpy as np

Bounds = tuple[int, int, int, int]


def bounds(plane: np.ndarray) -> Bounds | None:
    """(y0, y1, x0, x1), half-open, of the non-zero pixels of an (H, W) array; None when there are none."""
    rows = np.flatnonzero(plane.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(plane[rows[0]:rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def union_bounds(*boxes: Bounds | None) -> Bounds | None:
    """The bounds covering every given bounds (None entries skipped); None when all are None."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes),
            max(b[3] for b in boxes))
