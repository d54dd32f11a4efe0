"""Reports of a results store: Markdown and HTML with plots, CSV and JSON exports.

The plots are drawn with matplotlib (the optional extra ``relucert[plot]``; without it the report
has every table and says the plots were skipped): a *cactus plot* (instances solved, i.e.
EQUIVALENT or NOT_EQUIVALENT, against the time limit that would suffice, the standard picture of
verification competitions), verdict counts, and for each counterexample ``f_k`` and ``g_k`` along
the line through the box centre and the counterexample, ``k`` being the output where the
counterexample violates the spec.  The HTML file is self-contained (its SVGs are embedded as
data-URI images); the Markdown file links the ``.svg`` files written
next to it.  Every file is written atomically.
"""

from __future__ import annotations

import base64
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

from ..plotting import figure_svg, have_matplotlib, pyplot
from .store import VERDICTS

__all__ = ["write_report", "export_json", "export_csv", "cactus_svg", "counts_svg", "counterexample_svg",
           "counterexample_line",
           "TABLE_COLUMNS"]

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


# -- plots (matplotlib, the optional extra relucert[plot]) -------------------------------------------

def cactus_svg(rows: list[dict]) -> str:
    """Cactus plot as SVG: the k-th point of a line is the time of the k-th fastest job with that
    verdict (solved = EQUIVALENT or NOT_EQUIVALENT), time on a log scale.  Needs matplotlib."""
    plt = pyplot("the cactus plot")
    fig, ax = plt.subplots(figsize=(7.0, 3.9))
    groups = [("solved (EQ + NEQ)", ("EQUIVALENT", "NOT_EQUIVALENT"), "#1565c0"),
              ("EQUIVALENT", ("EQUIVALENT",), _COLORS["EQUIVALENT"]),
              ("NOT_EQUIVALENT", ("NOT_EQUIVALENT",), _COLORS["NOT_EQUIVALENT"])]
    for label, verdicts, color in groups:
        times = sorted(max(_time(r) or 0.0, 1e-4) for r in rows if r["verdict"] in verdicts)
        if times:
            ax.plot(range(1, len(times) + 1), times, marker="o", markersize=3, color=color,
                    label=f"{label} ({len(times)})")
    solved = sum(1 for r in rows if r["verdict"] in groups[0][1])
    ax.set_title(f"cactus plot: {solved} of {len(rows)} instances solved")
    ax.set_xlabel("instances solved")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("time per instance (s)")
    if solved:
        ax.set_yscale("log")
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no instance solved", ha="center", va="center", transform=ax.transAxes)
    ax.grid(True, which="both", alpha=0.3)
    return figure_svg(fig)


def counts_svg(counts: dict) -> str:
    """Horizontal bar chart of the verdict counts as SVG.  Needs matplotlib."""
    plt = pyplot("the verdict-count plot")
    names = list(counts)
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(names) + 0.9))
    bars = ax.barh(names, [counts[v] for v in names], color=[_COLORS.get(v, "#777") for v in names])
    ax.bar_label(bars, padding=3)
    ax.invert_yaxis()
    ax.set_title("verdict counts")
    ax.set_xlim(0, max(1, max(counts.values(), default=0)) * 1.12)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return figure_svg(fig)


def _violated_output(ce: dict, spec: dict) -> int:
    m = re.match(r"output (\d+)", ce.get("detail") or "")
    if m:
        return int(m.group(1))
    f = [float(Fraction(v)) for v in ce.get("f", [])]
    g = [float(Fraction(v)) for v in ce.get("g", [])]
    outs = spec.get("outputs") if isinstance(spec, dict) else None
    ks = outs if outs else range(len(f))
    return max(ks, key=lambda k: abs(f[k] - g[k])) if f else 0


def counterexample_line(row: dict, *, samples: int = 201) -> tuple[dict | None, str]:
    """(line, note): ``f_k`` and ``g_k`` sampled along the segment of the line through the box
    centre and the counterexample that lies in the box (``t = 1`` at the counterexample), ``k``
    the violated output.  ``line`` is ``{"k", "t", "f", "g", "t_ce", "f_ce", "g_ce"}``, or None
    (with the reason in ``note``) when the models cannot be loaded or changed since the run."""
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
    t_ce = 1.0 if np.any(np.abs(x - c) > 0) else 0.0
    ts = np.linspace(tmin, tmax, samples)
    if tmin <= t_ce <= tmax:
        ts = np.unique(np.append(ts, t_ce))      # the line passes through the counterexample
    pts = np.clip(c[None, :] + ts[:, None] * d[None, :], lo, hi)
    if t_ce == 1.0:
        pts[ts == t_ce] = x
    k = _violated_output(ce, row.get("spec") or {})
    fy, gy = f.eval(pts)[:, k], g.eval(pts)[:, k]
    fx, gx = float(Fraction(ce["f"][k])), float(Fraction(ce["g"][k]))
    line = {"k": k, "t": ts, "f": fy, "g": gy, "t_ce": t_ce, "f_ce": fx, "g_ce": gx}
    return line, f"|f - g| = {float(Fraction(ce['value'])):.6g} at the counterexample (exact)"


def counterexample_svg(row: dict, *, samples: int = 201) -> tuple[str | None, str]:
    """(SVG, note): the plot of :func:`counterexample_line` (f and g along the line, the
    counterexample's exact values circled).  Needs matplotlib."""
    line, note = counterexample_line(row, samples=samples)
    if line is None:
        return None, note
    k, ts, fy, gy, t_ce, fx, gx = (line[n] for n in ("k", "t", "f", "g", "t_ce", "f_ce", "g_ce"))
    plt = pyplot("a counterexample plot")
    fig, ax = plt.subplots(figsize=(7.0, 3.9))
    ax.plot(ts, fy, color="#1565c0", label=f"f[{k}]")
    ax.plot(ts, gy, color="#ef6c00", label=f"g[{k}]")
    ax.plot([t_ce], [fx], "o", mfc="none", mec="#1565c0", mew=2, label="cex: f")
    ax.plot([t_ce], [gx], "o", mfc="none", mec="#c62828", mew=2, label="cex: g")
    ax.set_title(f"{row['name']}: output {k} along centre + t (x* - centre)")
    ax.set_xlabel("t (t = 1 at the counterexample)")
    ax.set_ylabel(f"output {k}")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    svg = figure_svg(fig)
    return svg, note


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


def _figure_html(fid: str | None, svg: str | None, alt: str, note: str) -> str:
    """An SVG plot embedded as a data-URI image (self-contained, and the plots' ids cannot clash)."""
    ident = f" id='{fid}'" if fid else " class='cex'"
    if svg is None:
        return f"<p{ident}><em>{html.escape(note)}</em></p>"
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f"<figure{ident}><img alt='{html.escape(alt, quote=True)}' src='data:image/svg+xml;base64,{data}'></figure>"


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
    if not plots:
        plot_note = "plots not requested"
    elif not have_matplotlib():
        plots, plot_note = False, "plots skipped: they need matplotlib (pip install 'relucert[plot]')"
    else:
        plot_note = ""
    cactus = counts_plot = None
    if plots:
        cactus, counts_plot = cactus_svg(rows), counts_svg(counts)
        _atomic_write(out / "cactus.svg", cactus)
        _atomic_write(out / "counts.svg", counts_plot)
    export_csv(rows, out / "results.csv")
    export_json(rows, out / "results.json")
    cex_plots: list[tuple[dict, str | None, str]] = []
    for r in rows:
        if r.get("counterexample"):
            svg, note = counterexample_svg(r) if plots else (None, plot_note)
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
    md += ["", "![verdict counts](counts.svg)" if plots else f"_{plot_note}_", "", "## Cactus plot", "",
           "![cactus plot](cactus.svg)" if plots else f"_{plot_note}_", "", "## Results", "", "| name | verdict | lower | upper | time (s) | method | stop | spec | reason |",
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
    h += ["</table>", _figure_html("counts", counts_plot, "verdict counts", plot_note), "<h2>Cactus plot</h2>",
          _figure_html("cactus", cactus, "cactus plot", plot_note), "<h2>Results</h2>",
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
                h.append(_figure_html(None, svg, f"counterexample plot of {r['name']}", note))
    if runs:
        h.append("<h2>Runs</h2><table><tr><th>run</th><th>started</th><th>finished</th><th>status</th>"
                 "<th>engine</th><th>workers</th><th>recorded</th><th>skipped</th></tr>")
        h += [f"<tr><td>{x['run_id']}</td><td>{e(str(x['started']))}</td><td>{e(str(x['finished'] or ''))}</td>"
              f"<td>{e(str(x['status']))}</td><td>{e(str(x['engine']))}</td><td>{x['workers']}</td>"
              f"<td>{x['recorded']}</td><td>{x['skipped']}</td></tr>" for x in runs]
        h.append("</table>")
    h.append("</body></html>")
    _atomic_write(out / "report.html", "\n".join(h) + "\n")
    return {"md": str(out / "report.md"), "html": str(out / "report.html"),
            "cactus": str(out / "cactus.svg") if plots else None, "plots": plots, "plot_note": plot_note,
            "csv": str(out / "results.csv"), "json": str(out / "results.json"),
            "cex": [str(out / "cex" / f"{_safe(r['name'])}.svg") for r, svg, _ in cex_plots if svg is not None]}
