"""Guess a dataset's modality and intensity preset for ``manifest init`` from its files.

Modality: first from words in the folder path and file names (``ct``, ``mri``/``flair``/``t2w``, ``pet``,
``ultrasound``, ``xray``/``cxr``, ``oct``, ``fundus``/``retina``, ``endoscopy``/``polyp``, ``dermoscopy``/
``isic``, ``mammography``, ``pathology``/``h&e``, ``microscopy``/``nuclei``) and CVPR24 file prefixes
(``CT_``, ``MR_``, ``US_`` ...); then from the pixels: integer volumes reaching below -500 are CT (HU),
other volumes MR; 2D colour images pathology, 2D grey ultrasound. Only the path words and HU give a
confident guess; the user is told to confirm every other one.

Preset (following protocols.md "Intensity preprocessing"): CVPR24 npz ``imgs`` (already 0-255) ``none``;
HU-like values (a minimum below -500) ``ct_soft_tissue``; RGB ``rgb``; otherwise ``percentile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samwidgets.manifest.pairing import words

# word -> modality; checked against the words of the folder path and of the file names
MODALITY_WORDS = {
    "ct": "CT", "hu": "CT", "deeplesion": "CT",
    "mr": "MR", "mri": "MR", "flair": "MR", "t1": "MR", "t2": "MR", "t1w": "MR", "t2w": "MR", "brats": "MR",
    "cine": "MR", "acdc": "MR",
    "pet": "PET", "suv": "PET",
    "us": "US", "ultrasound": "US", "sonography": "US", "echo": "US", "busi": "US",
    "xray": "XR", "xr": "XR", "cxr": "XR", "radiograph": "XR", "angiography": "XR", "chest": "XR",
    "oct": "OCT", "octa": "OCT",
    "fundus": "fundus", "retina": "fundus", "retinal": "fundus", "glaucoma": "fundus", "drive": "fundus",
    "endoscopy": "endoscopy", "colonoscopy": "endoscopy", "polyp": "endoscopy", "kvasir": "endoscopy",
    "dermoscopy": "dermoscopy", "skin": "dermoscopy", "isic": "dermoscopy", "derm": "dermoscopy",
    "mammography": "mammography", "mammo": "mammography", "inbreast": "mammography",
    "pathology": "pathology", "histology": "pathology", "histopathology": "pathology", "he": "pathology",
    "glas": "pathology", "monuseg": "pathology", "wsi": "pathology",
    "microscopy": "microscopy", "fluorescence": "microscopy", "nuclei": "microscopy", "cell": "microscopy",
    "cells": "microscopy", "em": "microscopy",
}
# CVPR24 "MedSAM on Laptop" file-name prefixes (CT_..., MR_..., XRay_...)
CVPR24_PREFIXES = {"ct": "CT", "mr": "MR", "pet": "PET", "us": "US", "xray": "XR", "oct": "OCT",
                   "fundus": "fundus", "endoscopy": "endoscopy", "dermoscopy": "dermoscopy",
                   "mammography": "mammography", "microscopy": "microscopy"}


@dataclass
class Guess:
    """``modality`` and ``preset`` guessed, ``why`` says from what, ``sure`` whether it is more than a guess."""

    modality: str
    preset: str
    why: str
    sure: bool


def _from_words(folder: Path, names: list[str]) -> tuple[str, str] | None:
    for name in names[:50]:
        head = name.split("_", 1)[0].lower()
        if "_" in name and head in CVPR24_PREFIXES:
            return CVPR24_PREFIXES[head], f"CVPR24 file prefix '{name.split('_', 1)[0]}_'"
    counts: dict[str, int] = {}
    for part in folder.parts[-3:]:
        for w in words(part):
            if w in MODALITY_WORDS:
                counts[MODALITY_WORDS[w]] = counts.get(MODALITY_WORDS[w], 0) + 1
    if counts:
        best = max(counts, key=counts.get)
        return best, f"folder name words ({', '.join(w for p in folder.parts[-3:] for w in words(p) if MODALITY_WORDS.get(w) == best)})"
    return None


def guess_modality(folder: Path, image_names: list[str], image) -> Guess:
    """Guess from the scanned ``folder`` path, the image file names and one loaded
    :class:`~samwidgets.io.Image` (raw values)."""
    arr = np.asarray(image.array)
    npz = image.meta.get("format") == "npz"
    hu = arr.dtype.kind in "iu" and not image.is_rgb and float(arr.min()) < -500
    if npz:
        preset = "none"
    elif hu:
        preset = "ct_soft_tissue"
    elif image.is_rgb:
        preset = "rgb"
    else:
        preset = "percentile"
    named = _from_words(folder, image_names)
    if named is not None:
        return Guess(named[0], preset, named[1], True)
    if hu:
        return Guess("CT", preset, f"values down to {float(arr.min()):g} (Hounsfield units)", True)
    if image.is_3d:
        return Guess("MR", preset, "a volume without HU values", False)
    if image.is_rgb:
        return Guess("pathology", preset, "2D colour images", False)
    return Guess("US", preset, "2D grey images", False)
