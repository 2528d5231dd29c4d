"""The README set-up commands: idempotent install (stamp keyed on pyproject.toml + bootstrap), job dispatch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from samwidgets import bootstrap


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    """bootstrap pointed at a temporary repository whose venv 'exists'; installs are recorded, not run."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    monkeypatch.setattr(bootstrap, "REPO", tmp_path)
    monkeypatch.setattr(bootstrap, "VENV", venv)
    monkeypatch.setattr(bootstrap, "STAMP", venv / ".samwidgets-installed")
    monkeypatch.setattr(bootstrap, "PY", venv / "bin" / "python")
    calls = []
    monkeypatch.setattr(bootstrap, "_run", lambda cmd, **env: calls.append((cmd, env)))
    return tmp_path, calls


def test_second_install_is_skipped(fake_repo):
    repo, calls = fake_repo
    bootstrap.ensure_installed()
    n_first = len(calls)
    assert n_first >= 3 and any("torch" in c for c, _ in calls)
    assert any(env.get("SAM2_BUILD_CUDA") == "0" and "--no-build-isolation" in c for c, env in calls)
    bootstrap.ensure_installed()
    assert len(calls) == n_first  # stamp matches: nothing reinstalled


def test_changed_pyproject_reinstalls(fake_repo):
    repo, calls = fake_repo
    bootstrap.ensure_installed()
    n_first = len(calls)
    (repo / "pyproject.toml").write_text("[project]\nname='x'\nversion='2'\n")
    bootstrap.ensure_installed()
    assert len(calls) == 2 * n_first


def test_failed_install_leaves_no_stamp(fake_repo, monkeypatch):
    repo, _ = fake_repo

    def boom(cmd, **env):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(bootstrap, "_run", boom)
    with pytest.raises(subprocess.CalledProcessError):
        bootstrap.ensure_installed()
    assert not bootstrap.STAMP.exists()


def test_unknown_job_prints_usage(capsys):
    assert bootstrap.main(["nonsense"]) == 2
    assert "bootstrap demo" in capsys.readouterr().out


def test_bootstrap_needs_only_the_standard_library():
    code = ("import sys, samwidgets.bootstrap; "
            "bad = [m for m in ('numpy', 'torch', 'yaml') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_bootstrap_runs_on_the_standard_library_alone(repo_root):
    """``python3 -m samwidgets.bootstrap`` works before any install: with site-packages switched off (-S)
    it imports, finds the repository through samwidgets.paths and prints its usage."""
    import subprocess
    import sys

    code = ("import sys, samwidgets.bootstrap as b; "
            "third = sorted(m for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names "
            "and m.split('.')[0] not in ('samwidgets', '__main__')); print(b.REPO); print(third)")
    done = subprocess.run([sys.executable, "-S", "-c", code], cwd=repo_root, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == [str(repo_root), "[]"]
    usage = subprocess.run([sys.executable, "-S", "-m", "samwidgets.bootstrap"], cwd=repo_root,
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "python3 -m samwidgets.bootstrap demo" in usage.stdout
