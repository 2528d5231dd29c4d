"""The one image type every reader returns.

Arrays are in (z, y, x[, c]) order for 3D and (y, x[, c]) for 2D: voxels in the order stored in the file,
transposed exactly as SimpleITK's ``GetArrayFromImage`` gives them (the convention of the CVPR24 npz
files and the MedSAM preprocessing, see protocols.md "Array order"). No reorientation is applied unless a
reader is asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: ``Image.meta["axes"]`` of a video clip: the first axis is time, (t, y, x[, c]) (see samwidgets.io.video)
TIME_AXES = "tyx"


@dataclass
class Image:
    """A 2D or 3D image.

    array:   (y, x), (y, x, 3), (z, y, x) or (z, y, x, 3). Raw values as read (e.g. HU) until a preset is
             applied; after :func:`samwidgets.io.apply_preset` it is uint8 0-255.
    spacing: voxel size in mm per spatial axis, in the same (z, y, x) / (y, x) order as ``array``.
    affine:  4x4 voxel-to-world matrix in the file's own (x, y, z) index order (NIfTI/DICOM), or None.
    path:    the file it came from (for error messages and saving masks back with the same geometry).
    meta:    reader-specific geometry needed to write a mask back (e.g. the NIfTI header).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray | None = None
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_rgb(self) -> bool:
        """True when the last axis holds 3 colour channels."""
        return self.array.ndim in (3, 4) and self.array.shape[-1] == 3 and self.array.ndim - 1 == len(self.spacing)

    @property
    def is_video(self) -> bool:
        """True for a clip whose first axis is time: (t, y, x[, 3]) (a 3D image in every other respect)."""
        return self.meta.get("axes") == TIME_AXES

    @property
    def is_3d(self) -> bool:
        """True for a volume (z, y, x[, 3])."""
        return len(self.spacing) == 3

    @property
    def n_slices(self) -> int:
        """Number of slices along z; 1 for a 2D image."""
        return int(self.array.shape[0]) if self.is_3d else 1

    def slice2d(self, z: int = 0) -> np.ndarray:
        """The 2D plane z as (y, x) or (y, x, 3); for a 2D image z must be 0."""
        if self.is_3d:
            return self.array[z]
        if z != 0:
            raise IndexError(f"2D image has no slice {z}")
        return self.array

    @property
    def shape2d(self) -> tuple[int, int]:
        """(height, width) of one slice."""
        plane = self.slice2d(0)
        return int(plane.shape[0]), int(plane.shape[1])
