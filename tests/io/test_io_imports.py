"""The io layer must never pull in torch or the widget toolkits (architecture.md, rules of the house)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("torch", "ipywidgets", "ipycanvas")
MODULES = ("samwidgets.io", "samwidgets.io.labels", "samwidgets.io.presets", "samwidgets.io.readers",
           "samwidgets.io.nifti", "samwidgets.io.npz", "samwidgets.io.raster", "samwidgets.io.dicom",
           "samwidgets.io.save", "samwidgets.io.image", "samwidgets.io.itk")


def test_io_imports_no_torch_or_widgets():
    code = (
        "import importlib, sys\n"
        f"for m in {MODULES!r}: importlib.import_module(m)\n"
        "from samwidgets.io import load_image, decode_label, apply_preset\n"
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"io imported: {result.stdout.strip()}"

