"""The prompt type shared by the simulators, the evaluation runner and the widgets.

Coordinates are xy pixels of the original 2D slice (x = column, y = row); boxes are xyxy. A prompt knows
nothing of models; it serialises to JSON for prompt logs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the kinds of prompt a model can be given (and a protocol can send)
PROMPT_KINDS: tuple[str, ...] = ("box", "point")


@dataclass(frozen=True)
class Prompt:
    """One prompt set for one decode.

    points_xy:    (N, 2) float xy pixels, or None.
    point_labels: (N,) int, 1 = positive (inside the object), 0 = negative; None when no points.
    box_xyxy:     (4,) float [x_min, y_min, x_max, y_max] pixels, or None.
    """

    points_xy: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    box_xyxy: np.ndarray | None = None

    @property
    def n_points(self) -> int:
        return 0 if self.points_xy is None else int(len(self.points_xy))

    def to_json(self) -> dict:
        """A JSON-safe dict (lists of floats/ints); inverse of :meth:`from_json`."""
        return {
            "points_xy": None if self.points_xy is None else np.asarray(self.points_xy, float).tolist(),
            "point_labels": None if self.point_labels is None else np.asarray(self.point_labels, int).tolist(),
            "box_xyxy": None if self.box_xyxy is None else np.asarray(self.box_xyxy, float).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Prompt":
        pts = data.get("points_xy")
        lab = data.get("point_labels")
        box = data.get("box_xyxy")
        return cls(
            points_xy=None if pts is None else np.asarray(pts, float).reshape(-1, 2),
            point_labels=None if lab is None else np.asarray(lab, int).reshape(-1),
            box_xyxy=None if box is None else np.asarray(box, float).reshape(4),
        )

    def decode_kwargs(self) -> dict:
        """Keyword arguments for ``Predictor.decode``."""
        return {"points_xy": self.points_xy, "point_labels": self.point_labels, "box_xyxy": self.box_xyxy}
