"""Optional figures (matplotlib is imported only inside the functions, extra ``relucert[plot]``)."""

from __future__ import annotations

from typing import Sequence

from ..errors import MissingExtraError
from ..plotting import pyplot, save_figure

__all__ = ["plot_rank_sweep", "MissingExtraError"]


def plot_rank_sweep(rows: Sequence[dict], path: str, *, title: str = "") -> dict:
    """Rank against kernel size, one line per stride (log2 scale), with the maximum and the
    structural bounds dashed; ``rows`` as produced by the ``convac-sweep`` command.

    Returns what was drawn: ``{stride: [(kernel, rank), ...]}`` (one line each)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    strides = sorted({r["stride"] for r in rows})
    drawn = {}
    for s in strides:
        pts = sorted((r["kernel"], r["rank"]) for r in rows if r["stride"] == s)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"stride {s}")
        drawn[s] = [(int(k), int(r)) for k, r in zip(line.get_xdata(), line.get_ydata())]
    ax.scatter([r["kernel"] for r in rows], [r["upper_bound"] for r in rows], marker="x", color="black",
               s=40, zorder=3, label="upper bound (all weights)")
    if rows:
        mx = rows[0]["maximum"]
        ax.axhline(mx, color="grey", linestyle="--", linewidth=1, label=f"maximum {mx}")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("kernel size (receptive field)")
    ax.set_ylabel("matricization rank")
    ax.set_xticks(sorted({r["kernel"] for r in rows}))
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title or "ConvAC rank against kernel and stride (overlapping when stride < kernel)")
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return drawn
