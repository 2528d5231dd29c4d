"""Fixtures for the report tests: a tiny notebook that needs no model, and a session cache root."""

from __future__ import annotations

import nbformat
import pytest


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    """One cache root (embeddings/ + results/) shared by every notebook test of the session."""
    return tmp_path_factory.mktemp("samwidgets-cache")


@pytest.fixture()
def tiny_notebook(tmp_path):
    """A report notebook with parameters ``n`` and ``fail``: a table, a figure, and an optional failure."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('n = 3  # rows\nfail = False  # raise in the third cell\nlabel = "tiny"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Tiny report"),
        params,
        nbformat.v4.new_code_cell(
            "import pandas as pd\nfrom matplotlib.figure import Figure\nfrom samwidgets.analysis import display as D\n"
            "fig = Figure(); fig.subplots().plot(range(n))\nD.show(fig)\n"
            "pd.DataFrame({'row': range(n), 'label': [label] * n})"),
        nbformat.v4.new_code_cell("import sys\nprint('noise', file=sys.stderr)\n"
                                  "if fail:\n    raise ValueError(f'boom with n={n}')\nprint('after')"),
        nbformat.v4.new_code_cell("D.note('last cell ran')\nprint('kernel python:', sys.executable)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    return path


from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
