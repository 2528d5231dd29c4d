"""Export an executed notebook as one standalone HTML file with the code hidden.

nbconvert's ``HTMLExporter`` with ``exclude_input=True`` (and no prompts): outputs only, figures embedded as
``<img src="data:image/png;base64,...">`` and tables as HTML. A markdown header cell is added to the exported
copy (never to the executed notebook) showing the parameters and, when a cell failed, what failed.
stderr stream outputs (library warnings) are left out of the HTML; error outputs are kept.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import nbformat


def _value(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return html.escape(text if len(text) < 300 else text[:297] + "...")


def header_markdown(title: str, params: dict, *, failure: str | None = None, meta: dict | None = None) -> str:
    """Markdown (with inline HTML) for the top of the report: title, failure banner, parameter table."""
    lines = [f"# {html.escape(title)}", ""]
    if failure:
        lines += [
            '<div style="border:2px solid #c00;background:#fee;padding:8px;margin:8px 0">',
            f"<b>This report is incomplete: a cell failed.</b><br>{html.escape(failure)}",
            "</div>", "",
        ]
    if meta:
        lines += [" · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in meta.items()), ""]
    lines += ['<table id="report-parameters">', "<tr><th>parameter</th><th>value</th></tr>"]
    for key, value in params.items():
        lines.append(f"<tr><td><code>{html.escape(str(key))}</code></td><td><code>{_value(value)}</code></td></tr>")
    lines += ["</table>", ""]
    return "\n".join(lines)


def export_html(notebook_path, html_path, *, title: str, params: dict, failure: str | None = None,
                meta: dict | None = None) -> Path:
    """Write ``html_path`` from the executed ``notebook_path`` (code hidden, header with parameters)."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook_path), as_version=4)
    for cell in nb.cells:  # library warnings on stderr are noise in a report; the .ipynb keeps them
        if cell.get("outputs"):
            cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header_markdown(title, params, failure=failure, meta=meta)))
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    html_path = Path(html_path)
    html_path.write_text(body, encoding="utf-8")
    return html_path
