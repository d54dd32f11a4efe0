"""Pictures of the linear regions of a 2-input network on a box.

Each region is drawn as its exact polygon (the constraints ``H x <= h`` clipped against the box,
in float64 for drawing only) and coloured by its affine map: the hue is the direction of the
gradient of output 0, the lightness its size, the saturation its offset; regions that share
an affine map share a colour, and maps that differ only in offset get different saturations.
SVG needs nothing beyond the standard library; PNG needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import colorsys
import math
import os
from pathlib import Path

import numpy as np

from ..errors import SpecError

__all__ = ["region_polygons", "draw_regions"]


def _clip(poly: list[tuple[float, float]], a: float, b: float, c: float) -> list[tuple[float, float]]:
    """The part of ``poly`` with ``a x + b y <= c`` (Sutherland-Hodgman, one half-plane)."""
    out = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        sp, sq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if sp <= 0:
            out.append(p)
        if (sp < 0 < sq) or (sq < 0 < sp):
            t = sp / (sp - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def region_polygons(regions, box) -> list[list[tuple[float, float]]]:
    """The polygon of each region (float vertices, for drawing)."""
    lo, hi = [float(v) for v in box.lo], [float(v) for v in box.hi]
    square = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0], hi[1])]
    polys = []
    for r in regions:
        poly = square
        for row, rhs in zip(r.H, r.h):
            poly = _clip(poly, float(row[0]), float(row[1]), float(rhs))
            if not poly:
                break
        polys.append(poly)
    return polys


def _colours(regions) -> list[str]:
    grads = [(float(r.A[0][0]), float(r.A[0][1]), float(r.c[0])) for r in regions]
    mags = [math.hypot(gx, gy) for gx, gy, _ in grads]
    top = max(mags, default=1.0) or 1.0
    cs = [c for _, _, c in grads]
    clo, chi = min(cs, default=0.0), max(cs, default=0.0)
    span = (chi - clo) or 1.0
    out = []
    for (gx, gy, c), m in zip(grads, mags):
        hue = (math.atan2(gy, gx) / (2 * math.pi)) % 1.0
        light = 0.85 - 0.5 * (m / top)
        sat = 0.3 + 0.65 * (c - clo) / span        # maps with the same gradient differ by offset
        r, g, b = colorsys.hls_to_rgb(hue, light, sat)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


def draw_regions(net, box, path, *, regions=None, size: int = 640) -> int:
    """Draw the regions of ``net`` (2 inputs) on ``box`` to ``path`` (``.svg`` or ``.png``),
    atomically.  Returns the number of regions drawn."""
    from . import linear_regions

    if net.n_inputs != 2 or box.dim != 2:
        raise SpecError(f"region pictures need a 2-input network and box, got {net.n_inputs} inputs")
    path = Path(os.fspath(path))
    fmt = path.suffix.lower()
    if fmt not in (".svg", ".png"):
        raise SpecError(f"region picture must be .svg or .png, got {path.name!r}")
    R = linear_regions(net, box) if regions is None else regions
    polys = region_polygons(R, box)
    cols = _colours(R)
    lo, hi = np.asarray(box.lo, float), np.asarray(box.hi, float)
    span = np.where(hi > lo, hi - lo, 1.0)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if fmt == ".svg":
        def px(p):
            return (f"{(p[0] - lo[0]) / span[0] * size:.2f},"
                    f"{(1 - (p[1] - lo[1]) / span[1]) * size:.2f}")

        lines = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
                 f'viewBox="0 0 {size} {size}">',
                 f"<title>{len(R)} linear regions of {net.name or 'network'} on {box.to_string()}</title>"]
        for poly, col, r in zip(polys, cols, R):
            if len(poly) >= 3:
                lines.append(f'<polygon points="{" ".join(px(p) for p in poly)}" fill="{col}" '
                             f'stroke="#333" stroke-width="0.6"><title>f = '
                             f'{float(r.A[0][0]):.4g} x0 + {float(r.A[0][1]):.4g} x1 + {float(r.c[0]):.4g}'
                             f'</title></polygon>')
        lines.append("</svg>")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        from ..plotting import pyplot

        plt = pyplot("a PNG region picture (write .svg instead)")
        from matplotlib.patches import Polygon

        fig, ax = plt.subplots(figsize=(size / 100, size / 100), dpi=100)
        for poly, col in zip(polys, cols):
            if len(poly) >= 3:
                ax.add_patch(Polygon(poly, closed=True, facecolor=col, edgecolor="#333", linewidth=0.5))
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.set_title(f"{len(R)} linear regions (colour: affine map of output 0)")
        fig.savefig(tmp, format="png")
        plt.close(fig)
    os.replace(tmp, path)
    return len(R)
