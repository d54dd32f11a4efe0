"""Optional figures (matplotlib is imported only inside the functions, extra ``relucert[plot]``)."""

from __future__ import annotations

import os
import tempfile
from typing import Sequence

from ..errors import RelucertError, SpecError

__all__ = ["plot_rank_sweep", "MissingExtraError"]


class MissingExtraError(RelucertError, ImportError):
    """An optional extra (matplotlib) is not installed."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError("drawing needs matplotlib: pip install 'relucert[plot]'") from None
    return plt


def _save_atomic(fig, path: str) -> None:
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise SpecError(f"plot file must end in .png, .svg or .pdf, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".relucert-plot-", suffix=ext, dir=folder)
    os.close(fd)
    try:
        fig.savefig(tmp, format=ext[1:], dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plot_rank_sweep(rows: Sequence[dict], path: str, *, title: str = "") -> dict:
    """Rank against kernel size, one line per stride (log2 scale), with the maximum and the
    structural bounds dashed; ``rows`` as produced by the ``convac-sweep`` command.

    Returns what was drawn: ``{stride: [(kernel, rank), ...]}`` (one line each)."""
    plt = _pyplot()
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
    try:
        _save_atomic(fig, path)
    finally:
        plt.close(fig)
    return drawn
