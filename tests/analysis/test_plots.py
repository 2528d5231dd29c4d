import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from samwidgets.analysis import plots
from samwidgets.analysis.stats import clicks_curve, failure_breakdown, paired_differences, summarize
from samwidgets.analysis.volumes import distance_curve, slice_distance


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_summary_plot_has_one_bar_per_group_and_hue(results):
    s = summarize(results, metrics=("dice",), rng=np.random.default_rng(0), n_boot=50)
    fig = plots.plot_summary(s, metric="dice")
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert sum(np.isfinite(heights)) == len(s)  # one drawn bar per modality x (model, protocol) present
    assert sorted(h for h in heights if np.isfinite(h)) == sorted(s["mean"])
    assert _png(fig).startswith(b"\x89PNG")


def test_plots_render_and_handle_empty_tables(results):
    rng = np.random.default_rng(0)
    figs = [
        plots.plot_clicks(clicks_curve(results, rng=rng, n_boot=20)),
        plots.plot_failure_breakdown(failure_breakdown(results)),
        plots.plot_distance(distance_curve(slice_distance(results), rng=rng, n_boot=20)),
        plots.plot_paired(paired_differences(results[results["protocol"] == "box"], metric="dice", column="model",
                                             a="litemedsam", b="sam_vit_b"), metric="dice", a="litemedsam", b="sam_vit_b"),
        plots.plot_clicks(pd.DataFrame(columns=["modality", "model", "protocol", "n_points", "mean"])),
        plots.plot_distance(pd.DataFrame()),
        plots.plot_summary(pd.DataFrame(columns=["modality", "model", "protocol", "metric", "mean", "ci_low", "ci_high"])),
    ]
    for fig in figs:
        assert _png(fig).startswith(b"\x89PNG")
    # the failure breakdown stacks one bar segment per (modality, failure type)
    b = failure_breakdown(results)
    assert len(figs[1].axes[0].patches) == b.shape[0] * b.shape[1]
