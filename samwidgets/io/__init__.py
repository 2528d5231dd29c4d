"""Image and label input/output: readers for every format, intensity presets, label decoding, saving.

This layer uses numpy, scipy, nibabel, Pillow, tifffile/imagecodecs (and pydicom, SimpleITK when installed) only: it never imports
torch, ipywidgets or ipycanvas. Arrays are (z, y, x[, 3]) / (y, x[, 3]) in file voxel order (protocols.md
"Array order"); spacing is per spatial axis in the same order.
"""

from __future__ import annotations

from samwidgets.io.image import Image
from samwidgets.io.labels import check_label_shape, decode_label, instance_masks
from samwidgets.io.presets import PRESETS, Preset, apply_preset, percentile_normalise, window
from samwidgets.io.readers import load_image, load_label_array
from samwidgets.io.save import save_mask

__all__ = [
    "Image",
    "PRESETS",
    "Preset",
    "apply_preset",
    "check_label_shape",
    "decode_label",
    "instance_masks",
    "load_image",
    "load_label_array",
    "percentile_normalise",
    "save_mask",
    "window",
]
