"""Display windowing of the raw image (numpy only): the image stays as loaded (HU for CT, raw MR/PET
values); only what is drawn is windowed. The model's input is a separate matter (the manifest's preset,
see :meth:`Session.model_slice`).

Presets: for data that look like HU (values below -200) the CT windows of :data:`samwidgets.io.PRESETS`;
always a percentile auto-window (0.5-99.5 % of the volume, the MedSAM non-CT rule of protocols.md, as a
display window) and the full range. uint8 data that arrive already windowed (e.g. CVPR24 npz) get one
entry saying so. Window = (level, width) in the image's own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AUTO = "auto (0.5-99.5 %)"
FULL = "full range"
PREWINDOWED = "data arrive windowed (uint8)"
HU_BELOW = -200.0


def looks_like_hu(array: np.ndarray) -> bool:
    arr = np.asarray(array)
    return arr.dtype != np.uint8 and arr.dtype.kind in "iuf" and float(arr.min()) < HU_BELOW


def percentile_window(array: np.ndarray, *, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """(level, width) spanning the [low, high] percentiles of ``array`` (width >= 1e-6)."""
    arr = np.asarray(array)
    if arr.size > 4_000_000:  # a strided sample is plenty for a display window
        arr = arr.reshape(-1)[:: arr.size // 2_000_000]
    lo, hi = (float(v) for v in np.percentile(arr, [low, high]))
    return (lo + hi) / 2.0, max(hi - lo, 1e-6)


def window_presets(array: np.ndarray) -> dict[str, tuple[float, float] | None]:
    """Menu entries name -> (level, width); None = show uint8 data as they are."""
    arr = np.asarray(array)
    if arr.dtype == np.uint8:
        return {PREWINDOWED: None, AUTO: percentile_window(arr)}
    from samwidgets.io import PRESETS

    lo, hi = float(arr.min()), float(arr.max())
    out: dict[str, tuple[float, float] | None] = {}
    if looks_like_hu(arr):
        out.update({f"{p.name} L{p.level:g}/W{p.width:g}": (p.level, p.width)
                    for p in PRESETS.values() if p.kind == "window"})
    out[AUTO] = percentile_window(arr)
    out[f"{FULL} ({lo:g}..{hi:g})"] = ((lo + hi) / 2.0, max(hi - lo, 1e-6))
    return out


def model_input_text(preset: str | None) -> str:
    """"model input: ct_lesion L40/W450" (or the preset's kind for non-window presets)."""
    if preset is None:
        return "model input: the image as is (uint8)"
    from samwidgets.io import PRESETS

    p = PRESETS.get(preset)
    if p is not None and p.kind == "window":
        return f"model input: {p.name} L{p.level:g}/W{p.width:g}"
    return f"model input: {preset}"


@dataclass
class WindowState:
    """The display window: ``current`` (level, width) or None (uint8 shown as is), the menu ``presets``,
    the ``initial`` entry that :meth:`reset` returns to."""

    presets: dict[str, tuple[float, float] | None]
    initial: str
    name: str = ""
    current: tuple[float, float] | None = None
    units: str = ""

    @classmethod
    def for_image(cls, array: np.ndarray, *, preset: str | None = None) -> "WindowState":
        """Start at the model's preset when it is a CT window in the menu, else the first entry."""
        presets = window_presets(array)
        initial = next(iter(presets))
        if preset is not None:
            match = [k for k in presets if k.startswith(f"{preset} L")]
            initial = match[0] if match else initial
        state = cls(presets, initial, units="HU" if looks_like_hu(array) else "")
        state.choose(initial)
        return state

    def choose(self, name: str) -> None:
        self.name, self.current = name, self.presets[name]

    def reset(self) -> None:
        self.choose(self.initial)

    def drag(self, start: tuple[float, float] | None, dx: float, dy: float, *, cw: int, ch: int) -> None:
        """Window from a drag of (dx, dy) canvas pixels started at window ``start``: right = wider,
        down = higher level; a full canvas drag changes the value by one window width."""
        lv, wd = start if start is not None else (127.5, 255.0)
        span = max(wd, 1.0)
        self.current = (lv + dy * span / ch, max(wd + dx * span / cw, 1e-3))
        self.name = ""

    def readout(self) -> str:
        """"L 40 / W 400 HU" (or "as stored" for uint8 data shown unwindowed)."""
        if self.current is None:
            return "window: as stored (uint8 0..255)"
        lv, wd = self.current
        unit = f" {self.units}" if self.units else ""
        return f"window: L {lv:.4g} / W {wd:.4g}{unit}"
