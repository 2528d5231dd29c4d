"""The architecture's rules of the house, checked: imports point down, and the headless core stays light.

Layers, bottom to top: errors/atomic -> io, prompts, masks, metrics, manifest -> models -> evaluation ->
widgets, analysis -> reports, cli. A module may import its own layer or lower ones only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "samwidgets"

LAYER = {
    "errors": 0, "atomic": 0, "paths": 0, "bootstrap": 0, "__init__": 0, "__main__": 9,
    "io": 1, "prompts": 1, "metrics": 1, "manifest": 1, "masks": 1,
    "models": 2,
    "evaluation": 3,
    "widgets": 4, "analysis": 4,
    "reports": 5,
    "cli": 6,
}
LIGHT = ["samwidgets.io", "samwidgets.prompts", "samwidgets.masks", "samwidgets.metrics", "samwidgets.manifest",
         "samwidgets.widgets.session"]
HEAVY = ("torch", "ipywidgets", "ipycanvas")


def _top(module_name: str) -> str:
    parts = module_name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_imports_point_down():
    wrong = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        here = _top(".".join(rel.parts))
        if here == "__init__" and path.parent != PKG:
            continue
        for name in _imports(path):
            if not name.startswith("samwidgets.") or here not in LAYER:
                continue
            there = _top(name)
            if there in LAYER and LAYER[there] > LAYER[here]:
                wrong.append(f"{rel} imports {name}")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("module", LIGHT)
def test_core_modules_do_not_import_torch_or_widgets(module):
    code = (f"import sys, {module}; "
            f"bad = [m for m in {HEAVY!r} if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{module} pulled in {done.stdout.strip()} {done.stderr[-500:]}"
