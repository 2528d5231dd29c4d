"""Set-up commands for a fresh clone; standard library only, run with the system python3.

    python3 -m samwidgets.bootstrap demo   # make .venv if needed, install, run the demo report
    python3 -m samwidgets.bootstrap test   # make .venv if needed, install, run the whole test suite

Both are idempotent: the install step is skipped when ``.venv`` holds a stamp matching the current
``pyproject.toml`` and this file. Extra arguments after the job name go to the job (pytest or the report).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from samwidgets.paths import repo_root  # standard library only, nothing runs at import

REPO = repo_root()
if REPO is None:  # pragma: no cover - an installed wheel has no checkout to set up
    raise SystemExit("samwidgets.bootstrap sets up a source checkout (a clone holding pyproject.toml); "
                     "this samwidgets is installed without one")
VENV = REPO / ".venv"
STAMP = VENV / ".samwidgets-installed"
PY = VENV / "bin" / "python"


def _install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (REPO / "pyproject.toml", Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run(cmd: list[str], **env: str) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, **env})


def ensure_installed() -> None:
    """Create .venv and install samwidgets with its test and model extras, unless already done."""
    fingerprint = _install_fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint and PY.exists():
        return
    if sys.version_info < (3, 10):
        raise SystemExit("samwidgets needs Python >= 3.10")
    if not PY.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check"]
    _run(pip + ["--upgrade", "pip", "setuptools", "wheel"])
    # torch + torchvision first: sam2 builds against the installed torch without build isolation
    _run(pip + ["torch", "torchvision"])
    _run(pip + ["-e", f"{REPO}[dev,dicom]"])
    _run(pip + ["--no-build-isolation", "sam2>=1.0"], SAM2_BUILD_CUDA="0")
    STAMP.write_text(fingerprint + "\n")


def run_demo(extra: list[str]) -> int:
    return subprocess.call([str(PY), "-m", "samwidgets", "report", "demo", *extra], cwd=REPO)


def run_tests(extra: list[str]) -> int:
    code = subprocess.call([str(PY), "-m", "pytest", "tests", *extra], cwd=REPO)
    return 1 if code == 5 else code  # pytest's 5 = no test collected: a failure for us


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("demo", "test", "install"):
        print(__doc__)
        return 2
    job, extra = argv[0], argv[1:]
    ensure_installed()
    if job == "install":
        return 0
    return run_demo(extra) if job == "demo" else run_tests(extra)


if __name__ == "__main__":
    raise SystemExit(main())
