"""Showing figures and tables in a notebook so that the exported HTML embeds them.

:func:`show` renders a matplotlib Figure to PNG and displays it as an ``image/png`` output, which
nbconvert embeds as ``<img src="data:image/png;base64,...">``: this does not depend on the kernel's
matplotlib backend. Tables are displayed as pandas HTML.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


def figure_png(fig, *, dpi: int = 90) -> bytes:
    """The PNG bytes of a matplotlib Figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show(fig, *, dpi: int = 90) -> None:
    """Display ``fig`` as an embedded PNG output (and release it)."""
    from IPython.display import Image, display

    display(Image(data=figure_png(fig, dpi=dpi), format="png"))


def heading(text: str, level: int = 2) -> None:
    """Display a markdown heading (visible in the code-hidden HTML)."""
    from IPython.display import Markdown, display

    display(Markdown(f"{'#' * level} {text}"))


def note(text: str) -> None:
    """Display a markdown paragraph."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def ci_text(mean: float, low: float, high: float, n: int | None = None, *, digits: int = 3) -> str:
    """``"0.812 [0.770, 0.851] n=5"``; NaN gives ``"–"``."""
    if mean is None or not np.isfinite(mean):
        return "–"
    text = f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{text} n={int(n)}" if n is not None else text


def summary_table(summary: pd.DataFrame, *, rows=("modality",), columns=("model", "protocol"),
                  metric: str | None = None) -> pd.DataFrame:
    """A wide table of ``mean [ci_low, ci_high] n=…`` strings from :func:`stats.summarize` output."""
    s = summary if metric is None else summary[summary["metric"] == metric]
    if s.empty:
        return pd.DataFrame()
    s = s.assign(value=[ci_text(m, lo, hi, n) for m, lo, hi, n in
                        zip(s["mean"], s["ci_low"], s["ci_high"], s["n"])])
    rows = list(rows) + ([] if metric is not None else ["metric"])
    return s.pivot_table(index=rows, columns=list(columns), values="value", aggfunc="first").fillna("–")


def full_table(df: pd.DataFrame) -> None:
    """Display a table without truncating long cells (prompt logs stay whole)."""
    from IPython.display import display

    with pd.option_context("display.max_colwidth", None, "display.max_rows", 500):
        display(df)


def table_or_note(df: pd.DataFrame, empty: str) -> None:
    """Display ``df``, or the sentence ``empty`` when it has no rows."""
    if df is None or len(df) == 0:
        note(empty)
    else:
        full_table(df)
