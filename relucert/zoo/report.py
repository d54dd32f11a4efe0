"""Reports of a results store: Markdown and HTML with plots, CSV and JSON exports.

The plots are SVG written directly (no plotting library needed, so the report works wherever
relucert does): a *cactus plot* (instances solved, i.e. EQUIVALENT or NOT_EQUIVALENT, against the
time limit that would suffice, the standard picture of verification competitions), verdict
counts, and for each counterexample ``f_k`` and ``g_k`` along the line through the box centre and
the counterexample, ``k`` being the output where the counterexample violates the spec.  The HTML
file is self-contained (its SVGs are inline); the Markdown file links the ``.svg`` files written
next to it.  Every file is written atomically.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from .store import VERDICTS

__all__ = ["write_report", "export_json", "export_csv", "cactus_svg", "line_plot_svg", "TABLE_COLUMNS"]

TABLE_COLUMNS = ["name", "verdict", "lower", "upper", "time_s", "wall_s", "method", "stop_reason", "spec",
                 "reason", "f_path", "g_path", "f_digest", "g_digest", "certificate", "relucert_version"]
_COLORS = {"EQUIVALENT": "#2e7d32", "NOT_EQUIVALENT": "#c62828", "UNKNOWN": "#9e9e9e", "TIMEOUT": "#ef6c00",
           "ERROR": "#6a1b9a"}


def _atomic_write(path, data: str | bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _jnum(v):
    if v is None:
        return None
    f = float(v)
    if math.isnan(f):
        return None
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def _time(r) -> float | None:
    """A job's time: verify's own time when it answered, else the wall time."""
    t = r.get("time_s")
    return float(t) if t is not None else (float(r["wall_s"]) if r.get("wall_s") is not None else None)


def export_json(rows: list[dict], path) -> None:
    """``[{"name", "verdict", "lower", "upper", "time_s"}, ...]``, one per job (plus a few more keys)."""
    out = []
    for r in rows:
        out.append({"name": r["name"], "verdict": r["verdict"], "lower": _jnum(r.get("lower")),
                    "upper": _jnum(r.get("upper")), "time_s": _jnum(_time(r)),
                    "wall_s": _jnum(r.get("wall_s")), "method": r.get("method"),
                    "stop_reason": r.get("stop_reason"), "reason": r.get("reason") or "",
                    "spec": r.get("spec"), "f_digest": r.get("f_digest"), "g_digest": r.get("g_digest"),
                    "counterexample": r.get("counterexample"), "certificate": r.get("certificate")})
    _atomic_write(path, json.dumps(out, indent=2) + "\n")


def _spec_text(spec) -> str:
    if not isinstance(spec, dict):
        return str(spec or "")
    kind = spec.get("kind")
    if kind == "eps":
        outs = spec.get("outputs")
        return f"eps={spec.get('eps'):g}" + ("" if outs is None else f" outputs={outs}")
    return kind + " " + " ".join(f"{k}={v:g}" for k, v in spec.items() if isinstance(v, (int, float)))


def export_csv(rows: list[dict], path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(TABLE_COLUMNS)
    for r in rows:
        vals = []
        for c in TABLE_COLUMNS:
            v = _time(r) if c == "time_s" else r.get(c)
            if c == "spec":
                v = _spec_text(v)
            vals.append("" if v is None else (repr(float(v)) if isinstance(v, float) else v))
        w.writerow(vals)
    _atomic_write(path, buf.getvalue())


# -- SVG -------------------------------------------------------------------------------------------

def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step) * step
    out, v = [], start
    while v <= hi + 1e-12 * abs(step):
        out.append(round(v, 12))
        v += step
    return out


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def line_plot_svg(series: list[dict], *, title: str, xlabel: str, ylabel: str, logy: bool = False,
                  points: list[dict] | None = None, width: int = 600, height: int = 340, step: bool = False) -> str:
    """An SVG line chart. ``series``: ``[{"label", "x": [...], "y": [...], "color"}]``;
    ``points``: markers ``[{"x", "y", "label", "color"}]``."""
    ml, mr, mt, mb = 64, 150, 30, 46
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for s in series for x in s["x"]] + [p["x"] for p in points or []]
    ys = [y for s in series for y in s["y"]] + [p["y"] for p in points or []]
    if logy:
        ys = [y for y in ys if y > 0]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{ml + pw / 2}" y="18" text-anchor="middle" font-size="13">{html.escape(title)}</text>']
    if not xs or not ys:
        parts.append(f'<text x="{ml + pw / 2}" y="{mt + ph / 2}" text-anchor="middle">no data</text></svg>')
        return "\n".join(parts)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    ty = (lambda y: math.log10(y)) if logy else (lambda y: y)
    y0, y1 = min(map(ty, ys)), max(map(ty, ys))
    if y1 == y0:
        y0, y1 = y0 - (1 if logy else max(1e-9, abs(y0) * 0.1 or 1)), y1 + (1 if logy else max(1e-9, abs(y1) * 0.1 or 1))
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def X(x):
        return ml + (x - x0) / (x1 - x0) * pw

    def Y(y):
        return mt + ph - (ty(y) - y0) / (y1 - y0) * ph

    parts.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    for t in _ticks(x0, x1):
        parts.append(f'<line x1="{X(t):.1f}" y1="{mt + ph}" x2="{X(t):.1f}" y2="{mt + ph + 4}" stroke="#444"/>'
                     f'<text x="{X(t):.1f}" y="{mt + ph + 16}" text-anchor="middle">{_fmt(t)}</text>')
    if logy:
        yt = [10.0 ** e for e in range(math.floor(y0), math.ceil(y1) + 1) if y0 <= e <= y1]
        if len(yt) < 3:  # less than a couple of decades: label 1, 2, 5 of each
            yt = [m * 10.0 ** e for e in range(math.floor(y0), math.ceil(y1) + 1) for m in (1, 2, 5)
                  if y0 <= math.log10(m * 10.0 ** e) <= y1]
    else:
        yt = _ticks(y0, y1)
    for t in yt:
        yy = mt + ph - ((math.log10(t) if logy else t) - y0) / (y1 - y0) * ph
        parts.append(f'<line x1="{ml - 4}" y1="{yy:.1f}" x2="{ml + pw}" y2="{yy:.1f}" stroke="#ddd"/>'
                     f'<text x="{ml - 6}" y="{yy + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    parts.append(f'<text x="{ml + pw / 2}" y="{height - 8}" text-anchor="middle">{html.escape(xlabel)}</text>')
    parts.append(f'<text transform="translate(14,{mt + ph / 2}) rotate(-90)" text-anchor="middle">'
                 f'{html.escape(ylabel)}</text>')
    for i, s in enumerate(series):
        pts = [(x, y) for x, y in zip(s["x"], s["y"]) if not logy or y > 0]
        if not pts:
            continue
        color = s.get("color", "#1565c0")
        if step:
            d, prev = [], None
            for x, y in pts:
                if prev is not None:
                    d.append(f"{X(x):.1f},{Y(prev[1]):.1f}")
                d.append(f"{X(x):.1f},{Y(y):.1f}")
                prev = (x, y)
            coords = " ".join(d)
        else:
            coords = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in pts)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        if step or len(pts) <= 60:
            for x, y in pts if step else []:
                parts.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="2.5" fill="{color}"/>')
        ly = mt + 14 + 16 * i
        parts.append(f'<line x1="{ml + pw + 10}" y1="{ly - 4}" x2="{ml + pw + 28}" y2="{ly - 4}" stroke="{color}" '
                     f'stroke-width="2"/><text x="{ml + pw + 32}" y="{ly}">{html.escape(s["label"])}</text>')
    for j, p in enumerate(points or []):
        color = p.get("color", "#000")
        parts.append(f'<circle cx="{X(p["x"]):.1f}" cy="{Y(p["y"]):.1f}" r="4" fill="none" stroke="{color}" '
                     f'stroke-width="2"/>')
        if p.get("label"):
            ly = mt + 14 + 16 * (len(series) + j)
            parts.append(f'<circle cx="{ml + pw + 19}" cy="{ly - 4}" r="4" fill="none" stroke="{color}" '
                         f'stroke-width="2"/><text x="{ml + pw + 32}" y="{ly}">{html.escape(p["label"])}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def cactus_svg(rows: list[dict]) -> str:
    """Solved instances against time: the k-th point is the k-th fastest solved job's time."""
    series = []
    groups = [("solved (EQ + NEQ)", ("EQUIVALENT", "NOT_EQUIVALENT"), "#1565c0"),
              ("EQUIVALENT", ("EQUIVALENT",), _COLORS["EQUIVALENT"]),
              ("NOT_EQUIVALENT", ("NOT_EQUIVALENT",), _COLORS["NOT_EQUIVALENT"])]
    for label, verdicts, color in groups:
        times = sorted(max(_time(r) or 0.0, 1e-4) for r in rows if r["verdict"] in verdicts)
        if times:
            series.append({"label": f"{label} ({len(times)})", "x": list(range(1, len(times) + 1)), "y": times,
                           "color": color})
    return line_plot_svg(series, title=f"cactus plot: {sum(1 for r in rows if r['verdict'] in groups[0][1])} of "
                                       f"{len(rows)} instances solved",
                         xlabel="instances solved", ylabel="time per instance (s, log)", logy=True, step=True)


def counts_svg(counts: dict) -> str:
    width, bar_h, ml = 600, 22, 130
    total = max(1, max(counts.values(), default=0))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{len(counts) * (bar_h + 6) + 30}" '
             f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>',
             '<text x="8" y="16" font-size="13">verdict counts</text>']
    for i, (v, n) in enumerate(counts.items()):
        y = 26 + i * (bar_h + 6)
        w = (width - ml - 60) * n / total
        parts.append(f'<text x="{ml - 6}" y="{y + 15}" text-anchor="end">{v}</text>'
                     f'<rect x="{ml}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{_COLORS[v]}"/>'
                     f'<text x="{ml + w + 6:.1f}" y="{y + 15}">{n}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _violated_output(ce: dict, spec: dict) -> int:
    m = re.match(r"output (\d+)", ce.get("detail") or "")
    if m:
        return int(m.group(1))
    f = [float(Fraction(v)) for v in ce.get("f", [])]
    g = [float(Fraction(v)) for v in ce.get("g", [])]
    outs = spec.get("outputs") if isinstance(spec, dict) else None
    ks = outs if outs else range(len(f))
    return max(ks, key=lambda k: abs(f[k] - g[k])) if f else 0


def counterexample_svg(row: dict, *, samples: int = 201) -> tuple[str | None, str]:
    """(SVG, note): f_k and g_k along the line through the box centre and the counterexample."""
    import numpy as np

    from ..io import load
    from .worker import _apply_transform, lookup_transform

    ce, box = row.get("counterexample"), row.get("box")
    if not ce or not box or not row.get("f_path"):
        return None, "no counterexample"
    try:
        lo_opts = row.get("load_options") or {}
        opts = {k: True for k, v in lo_opts.items() if v}
        f = load(row["f_path"], **{k: v for k, v in opts.items()
                                   if (k == "fold_normalization") == row["f_path"].lower().endswith(".nnet")})
        if row["kind"] == "transform":
            t = row.get("transform") or {}
            from ..box import Box

            g, _ = _apply_transform(lookup_transform(t.get("name")), f, Box(box["lo"], box["hi"]), t.get("options") or {})
        else:
            g = load(row["g_path"], **{k: v for k, v in opts.items()
                                       if (k == "fold_normalization") == row["g_path"].lower().endswith(".nnet")})
    except Exception as exc:  # noqa: BLE001 - a plot is never worth failing the report
        return None, f"plot skipped: cannot load the models ({type(exc).__name__}: {exc})"
    if row.get("f_digest") and f.digest != row["f_digest"]:
        return None, "plot skipped: f changed on disk since the run (digest differs)"
    if row.get("g_digest") and g.digest != row["g_digest"]:
        return None, "plot skipped: g changed on disk since the run (digest differs)"
    lo, hi = np.array(box["lo"], float), np.array(box["hi"], float)
    if lo.size != f.n_inputs:
        return None, "plot skipped: the box does not fit f (loaded with other options?)"
    x = np.array([float(Fraction(v)) for v in ce["x"]])
    c = 0.5 * (lo + hi)
    d = x - c
    if not np.any(np.abs(d) > 0):
        d = np.zeros_like(c)
        d[int(np.argmax(hi - lo))] = 1.0
    # the segment {c + t d} inside the box
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(d != 0, (lo - c) / d, -np.inf)
        tb = np.where(d != 0, (hi - c) / d, np.inf)
    tmin = float(np.max(np.minimum(ta, tb)))
    tmax = float(np.min(np.maximum(ta, tb)))
    if not (math.isfinite(tmin) and math.isfinite(tmax)) or tmax <= tmin:
        tmin, tmax = -1.0, 1.0
    ts = np.linspace(tmin, tmax, samples)
    pts = np.clip(c[None, :] + ts[:, None] * d[None, :], lo, hi)
    k = _violated_output(ce, row.get("spec") or {})
    fy, gy = f.eval(pts)[:, k], g.eval(pts)[:, k]
    t_ce = 1.0 if np.any(np.abs(x - c) > 0) else 0.0
    fx, gx = float(Fraction(ce["f"][k])), float(Fraction(ce["g"][k]))
    svg = line_plot_svg(
        [{"label": f"f[{k}]", "x": ts.tolist(), "y": fy.tolist(), "color": "#1565c0"},
         {"label": f"g[{k}]", "x": ts.tolist(), "y": gy.tolist(), "color": "#ef6c00"}],
        points=[{"x": t_ce, "y": fx, "label": "cex: f", "color": "#1565c0"},
                {"x": t_ce, "y": gx, "label": "cex: g", "color": "#c62828"}],
        title=f"{row['name']}: output {k} along centre + t (x* - centre)", xlabel="t (t = 1 at the counterexample)",
        ylabel=f"output {k}")
    return svg, f"|f - g| = {float(Fraction(ce['value'])):.6g} at the counterexample (exact)"


# -- the report ------------------------------------------------------------------------------------

def _num_text(v) -> str:
    if v is None:
        return ""
    f = float(v)
    return "inf" if math.isinf(f) else f"{f:.6g}"


def _md(text) -> str:
    """Text for a Markdown table cell: no pipes, newlines or raw HTML."""
    return (str(text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "job"


def write_report(rows, out_dir, *, runs: list[dict] | None = None, plots: bool = True, db: str | None = None) -> dict:
    """Write ``report.md``, ``report.html``, ``cactus.svg``, ``counts.svg``, ``results.csv``,
    ``results.json`` and ``cex/NAME.svg`` into ``out_dir``; ``rows`` is a list of result dicts
    (:meth:`ResultStore.results`) or the path of a store.  Returns the paths written."""
    if isinstance(rows, (str, os.PathLike)):
        from .store import ResultStore

        db = db or os.fspath(rows)
        with ResultStore(rows, create=False) as store:
            rows, runs = store.results(), store.runs()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in VERDICTS}
    cactus = cactus_svg(rows)
    counts_plot = counts_svg(counts)
    _atomic_write(out / "cactus.svg", cactus)
    _atomic_write(out / "counts.svg", counts_plot)
    export_csv(rows, out / "results.csv")
    export_json(rows, out / "results.json")
    cex_plots: list[tuple[dict, str | None, str]] = []
    for r in rows:
        if r.get("counterexample"):
            svg, note = counterexample_svg(r) if plots else (None, "plots not requested")
            if svg is not None:
                _atomic_write(out / "cex" / f"{_safe(r['name'])}.svg", svg)
            cex_plots.append((r, svg, note))
    solved = counts["EQUIVALENT"] + counts["NOT_EQUIVALENT"]
    total_time = sum(_time(r) or 0.0 for r in rows)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    versions = sorted({r.get("relucert_version") or "?" for r in rows})
    head = [f"{len(rows)} job(s), {solved} solved; total job time {total_time:.1f}s; relucert {', '.join(versions)}"]
    if db:
        head.append(f"database: {db}")
    # Markdown
    md = ["# relucert zoo report", "", f"_{when}_", "", *[f"- {h}" for h in head], "", "## Verdicts", "",
          "| verdict | count |", "|---|---:|"]
    md += [f"| {v} | {n} |" for v, n in counts.items()]
    md += ["", "![verdict counts](counts.svg)", "", "## Cactus plot", "", "![cactus plot](cactus.svg)", "",
           "## Results", "", "| name | verdict | lower | upper | time (s) | method | stop | spec | reason |",
           "|---|---|---:|---:|---:|---|---|---|---|"]
    for r in rows:
        reason = _md(r.get("reason"))
        md.append(f"| {_md(r['name'])} | {r['verdict']} | {_num_text(r.get('lower'))} | {_num_text(r.get('upper'))} | "
                  f"{_num_text(_time(r))} | {r.get('method') or ''} | {r.get('stop_reason') or ''} | "
                  f"{_spec_text(r.get('spec'))} | {reason[:160]} |")
    if cex_plots:
        md += ["", "## Counterexamples", ""]
        for r, svg, note in cex_plots:
            md += [f"### {_md(r['name'])}", "", f"x = [{', '.join(r['counterexample'].get('x_decimal', []))}]", "",
                   f"{_md(r['counterexample'].get('detail', ''))}; {_md(note)}", ""]
            if svg is not None:
                md += [f"![counterexample plot](cex/{_safe(r['name'])}.svg)", ""]
    if runs:
        md += ["", "## Runs", "", "| run | started | finished | status | engine | workers | recorded | skipped |",
               "|---:|---|---|---|---|---:|---:|---:|"]
        md += [f"| {x['run_id']} | {x['started']} | {x['finished'] or ''} | {x['status']} | {x['engine']} | "
               f"{x['workers']} | {x['recorded']} | {x['skipped']} |" for x in runs]
    _atomic_write(out / "report.md", "\n".join(md) + "\n")
    # HTML (self-contained)
    e = html.escape
    h = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'><title>relucert zoo report</title>",
         "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
         "font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}th{background:#f3f3f3}"
         "td.num{text-align:right;font-variant-numeric:tabular-nums}"
         + "".join(f".v-{v}{{color:{c};font-weight:bold}}" for v, c in _COLORS.items()) +
         "figure{margin:1em 0}</style></head><body>",
         "<h1>relucert zoo report</h1>", f"<p><em>{e(when)}</em></p><ul>"]
    h += [f"<li>{e(x)}</li>" for x in head] + ["</ul>", "<h2>Verdicts</h2>", "<table><tr><th>verdict</th><th>count</th></tr>"]
    h += [f"<tr><td class='v-{v}'>{v}</td><td class='num'>{n}</td></tr>" for v, n in counts.items()]
    h += ["</table>", f"<figure id='counts'>{counts_plot}</figure>", "<h2>Cactus plot</h2>",
          f"<figure id='cactus'>{cactus}</figure>", "<h2>Results</h2>",
          "<table id='results'><tr>" + "".join(f"<th>{c}</th>" for c in
                                               ("name", "verdict", "lower", "upper", "time (s)", "method", "stop",
                                                "spec", "reason")) + "</tr>"]
    for r in rows:
        h.append(f"<tr><td>{e(r['name'])}</td><td class='v-{e(r['verdict'])}'>{e(r['verdict'])}</td>"
                 f"<td class='num'>{_num_text(r.get('lower'))}</td><td class='num'>{_num_text(r.get('upper'))}</td>"
                 f"<td class='num'>{_num_text(_time(r))}</td><td>{e(r.get('method') or '')}</td>"
                 f"<td>{e(r.get('stop_reason') or '')}</td><td>{e(_spec_text(r.get('spec')))}</td>"
                 f"<td>{e((r.get('reason') or '')[:300])}</td></tr>")
    h.append("</table>")
    if cex_plots:
        h.append("<h2>Counterexamples</h2>")
        for r, svg, note in cex_plots:
            ce = r["counterexample"]
            h.append(f"<h3>{e(r['name'])}</h3><p>x = [{e(', '.join(ce.get('x_decimal', [])))}]<br>"
                     f"{e(ce.get('detail', ''))}; {e(note)}</p>")
            if svg is not None:
                h.append(f"<figure class='cex'>{svg}</figure>")
    if runs:
        h.append("<h2>Runs</h2><table><tr><th>run</th><th>started</th><th>finished</th><th>status</th>"
                 "<th>engine</th><th>workers</th><th>recorded</th><th>skipped</th></tr>")
        h += [f"<tr><td>{x['run_id']}</td><td>{e(str(x['started']))}</td><td>{e(str(x['finished'] or ''))}</td>"
              f"<td>{e(str(x['status']))}</td><td>{e(str(x['engine']))}</td><td>{x['workers']}</td>"
              f"<td>{x['recorded']}</td><td>{x['skipped']}</td></tr>" for x in runs]
        h.append("</table>")
    h.append("</body></html>")
    _atomic_write(out / "report.html", "\n".join(h) + "\n")
    return {"md": str(out / "report.md"), "html": str(out / "report.html"), "cactus": str(out / "cactus.svg"),
            "csv": str(out / "results.csv"), "json": str(out / "results.json"),
            "cex": [str(out / "cex" / f"{_safe(r['name'])}.svg") for r, svg, _ in cex_plots if svg is not None]}
