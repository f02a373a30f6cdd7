"""Plots of PBS frames (`checkers/pbs.py`): P(consistent) against t, one curve per group.

Same conventions as `plots.py`: draw into `ax` (or a new Figure), never touch pyplot,
return the Axes.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def consistency_vs_t(curve: pd.DataFrame, *, hue: str = "config", ax: Axes | None = None,
                     paper: pd.DataFrame | None = None) -> Axes:
    """P(consistent) against t (bin left edges) with the Wilson 95% band, one line per
    `hue` level (e.g. "LNKD-SSD N3 R1 W1"); `paper` points (columns `hue`, t_ms, paper)
    are drawn as black crosses."""
    if ax is None:
        ax = Figure(figsize=(7.5, 4.5), layout="constrained").add_subplot()
    levels = list(dict.fromkeys(curve[hue])) if hue in curve else [None]
    palette = sns.color_palette(n_colors=max(len(levels), 1))
    for color, level in zip(palette, levels, strict=False):
        part = curve[curve[hue] == level] if level is not None else curve
        part = part.sort_values("t_ms")
        ax.plot(part["t_ms"], part["p_consistent"], marker="o", ms=3, color=color, label=str(level), gid=str(level))
        ax.fill_between(part["t_ms"], part["ci_low"], part["ci_high"], color=color, alpha=0.2, linewidth=0)
    if paper is not None and len(paper):
        ax.scatter(paper["t_ms"], paper["paper"], marker="x", color="black", zorder=5, label="paper (text)")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set(xlabel="t: ms since the latest write committed", ylabel="P(consistent read)",
           title="t-visibility (PBS): probability a read sees the latest committed write")
    ax.set_ylim(top=1.01)
    ax.legend(fontsize=8)
    return ax

