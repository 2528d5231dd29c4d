"""One owner for the results schema: the synthetic table the analysis tests use and a table written by a real
``run_sweep`` have the same columns and dtypes, and no module but ``evaluation/table.py`` (columns),
``evaluation/failures.py`` (failure types) and ``evaluation/protocols.py`` (protocols) defines them."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from samwidgets.analysis.results import check_results
from samwidgets.evaluation import run_sweep
from samwidgets.evaluation.table import COLUMNS

from evaluation.fakes import FakePredictor, fake_manifest

from .synthetic import synthetic_results

PKG = Path(__file__).resolve().parents[2] / "samwidgets"
#: module (relative to samwidgets/) -> the public schema constants only it may define
SCHEMA_OWNERS = {
    "evaluation/table.py": ("COLUMNS", "METRICS", "REQUIRED_COLUMNS", "SORT_COLUMNS", "DESCRIPTOR_COLUMNS"),
    "evaluation/failures.py": ("FAILURE_TYPES", "FORMER_FAILURE_TYPES"),
    "evaluation/protocols.py": ("PROTOCOLS", "PROTOCOL_HELP", "VOLUME_PROTOCOLS"),
    "prompts/types.py": ("PROMPT_KINDS",),
}


def _schema(df):
    return [(c, str(df[c].dtype)) for c in df.columns]


def test_synthetic_and_real_sweep_tables_have_the_same_schema(tmp_path):
    real = run_sweep([fake_manifest(tmp_path)], [FakePredictor()], ["box"], progress=False, seed=0)
    synthetic = synthetic_results(rng=np.random.default_rng(0), n_cases=1)
    assert list(real.columns) == list(COLUMNS)
    assert _schema(synthetic) == _schema(real)
    # and the analysis reads both the same way
    assert _schema(check_results(synthetic)) == _schema(check_results(real))


def _module_constants(path: Path):
    """(name, value node) of each module-level assignment to a public UPPER_CASE name."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and not target.id.startswith("_"):
                yield target.id, value


def _schema_copies(pkg: Path) -> list[str]:
    """Every module-level definition under ``pkg`` of a schema constant outside its owner, and every
    module-level tuple/list (5+ strings) made mostly of results column names outside evaluation/table.py."""
    owner_of = {name: module for module, names in SCHEMA_OWNERS.items() for name in names}
    columns = set(COLUMNS)
    wrong = []
    for path in sorted(pkg.rglob("*.py")):
        module = path.relative_to(pkg).as_posix()
        for name, value in _module_constants(path):
            if name in owner_of and owner_of[name] != module:
                wrong.append(f"{module} defines {name} (owned by {owner_of[name]}: import it)")
            if module != "evaluation/table.py" and isinstance(value, (ast.Tuple, ast.List)):
                items = [e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if len(items) >= 5 and sum(i in columns for i in items) * 2 >= len(items):
                    wrong.append(f"{module} lists results columns in {name}: use evaluation.table")
    return wrong


def test_each_schema_constant_is_defined_once():
    for module, names in SCHEMA_OWNERS.items():
        defined = {name for name, _ in _module_constants(PKG / module)}
        assert set(names) <= defined, f"{module} no longer defines {set(names) - defined}"
    wrong = _schema_copies(PKG)
    assert wrong == [], "\n".join(wrong)


def test_the_check_catches_a_second_definition(tmp_path):
    """The scan finds a copy of a schema constant and a renamed copy of the columns (so the test can fail)."""
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "results.py").write_text(
        'FAILURE_TYPES = ("ok", "leak")\n'
        'RESULT_COLUMNS = ("dataset", "modality", "case", "label", "slice", "model", "other")\n')
    assert _schema_copies(tmp_path) == [
        "analysis/results.py defines FAILURE_TYPES (owned by evaluation/failures.py: import it)",
        "analysis/results.py lists results columns in RESULT_COLUMNS: use evaluation.table",
    ]
