"""The architecture's rules of the house, checked: imports point down, and the headless core stays light.

Layers, bottom to top (architecture.md): the base (errors, atomic, paths, lru, priority; the package root) ->
io, prompts, masks, metrics, manifest -> models -> evaluation -> analysis -> widgets -> reports -> cli.
:data:`ALLOWED` states, for every package and top-level module, which others it may import; anything not
listed is an upward (or sideways) import and fails the test. A new package must add its row.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "samwidgets"

BASE = {"__init__", "errors", "atomic", "paths", "lru", "priority"}
CORE = BASE | {"io", "prompts", "masks", "metrics", "manifest"}
#: package or top-level module -> what it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "__init__": set(), "errors": set(), "atomic": {"errors"}, "paths": {"errors"}, "lru": set(),
    "priority": set(),
    "bootstrap": {"__init__", "paths"},  # standard library + paths only: runs before any install
    "io": BASE,
    "masks": BASE,
    "metrics": BASE,
    "prompts": BASE | {"masks"},
    "manifest": BASE | {"io"},
    "models": CORE,
    "evaluation": CORE | {"models"},
    "analysis": CORE | {"models", "evaluation"},
    "widgets": CORE | {"models", "evaluation", "analysis"},
    "reports": CORE | {"models", "evaluation", "analysis", "widgets"},
    "cli": CORE | {"models", "evaluation", "analysis", "widgets", "reports"},
    "__main__": {"cli"},
}
LIGHT = ["samwidgets.io", "samwidgets.prompts", "samwidgets.masks", "samwidgets.metrics", "samwidgets.manifest",
         "samwidgets.widgets.session"]
HEAVY = ("torch", "ipywidgets", "ipycanvas")


def _owner(path: Path, pkg: Path) -> str:
    """The package or top-level module a file belongs to ("__init__" for samwidgets/__init__.py)."""
    rel = path.relative_to(pkg)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _target(name: str) -> str | None:
    if name == "samwidgets":
        return "__init__"
    return name.split(".")[1] if name.startswith("samwidgets.") else None


def upward_imports(pkg: Path = PKG) -> list[str]:
    """Every import of a samwidgets package or module that :data:`ALLOWED` does not grant, and every
    package or module that has no row in it."""
    wrong = []
    for path in sorted(pkg.rglob("*.py")):
        here = _owner(path, pkg)
        if here not in ALLOWED:
            wrong.append(f"{path.relative_to(pkg)}: '{here}' has no row in ALLOWED (state which layers it may import)")
            continue
        for name in _imports(path):
            there = _target(name)
            if there is not None and there != here and there not in ALLOWED[here]:
                wrong.append(f"{path.relative_to(pkg)} imports {name} ({here} may import {sorted(ALLOWED[here])})")
    return wrong


def test_imports_point_down():
    wrong = upward_imports()
    assert wrong == [], "\n".join(wrong)


def test_an_upward_import_is_caught(tmp_path):
    """The rule can fail: io importing models, and a package nobody placed, are both reported."""
    (tmp_path / "io").mkdir()
    (tmp_path / "io" / "bad.py").write_text("from samwidgets.models import load\nimport samwidgets.errors\n")
    (tmp_path / "newpkg").mkdir()
    (tmp_path / "newpkg" / "x.py").write_text("")
    wrong = upward_imports(tmp_path)
    assert len(wrong) == 2 and "io/bad.py imports samwidgets.models" in wrong[0] and "newpkg" in wrong[1]


@pytest.mark.parametrize("module", LIGHT)
def test_core_modules_do_not_import_torch_or_widgets(module):
    code = (f"import sys, {module}; "
            f"bad = [m for m in {HEAVY!r} if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{module} pulled in {done.stdout.strip()} {done.stderr[-500:]}"
