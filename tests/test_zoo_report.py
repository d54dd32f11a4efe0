"""Zoo reports and the ``relucert zoo`` command line: exit codes, status, report files, exports."""

from __future__ import annotations

import base64
import csv
import json
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path


import numpy as np
import pytest

import relucert
from relucert import Network
from relucert.cli import main
from relucert.zoo import ResultStore, run_zoo
from relucert.zoo.report import cactus_svg, counterexample_line
from zoo_fixtures import write_manifest


def _setup(d: Path, extra: str = "") -> Path:
    return write_manifest(d, textwrap.dedent("""
        [[job]]
        name = "neq|odd<name>"
        f = "f.npz"
        g = "far.npz"
        outputs = [1]
        """) + extra)


PLOT = "the report's plots need the optional extra relucert[plot] (matplotlib)"


def _embedded_svgs(html: str) -> list[str]:
    return [base64.b64decode(m).decode() for m in re.findall(r"src='data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)'", html)]


def test_cli_run_status_report_and_exit_codes(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason=PLOT)
    p = _setup(tmp_path)
    db = tmp_path / "out" / "r.sqlite"
    assert main(["zoo", "check", str(p)]) == 0
    assert "3 job(s)" in capsys.readouterr().err
    # some left undone -> 3; status says so (3); the rest -> 0
    assert main(["zoo", "run", str(p), "--db", str(db), "--workers", "2", "--max-jobs", "1", "--progress", "lines"]) == 3
    err = capsys.readouterr().err
    assert "[1/1]" in err and "2 undone" in err
    assert main(["zoo", "status", str(db), "--manifest", str(p)]) == 3
    assert "2 job(s) of" in capsys.readouterr().out
    assert main(["zoo", "run", str(p), "--db", str(db), "--workers", "2", "--json", "--progress", "none"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["recorded"] == 2 and summary["skipped"] == 1 and summary["exit_code"] == 0
    assert main(["zoo", "status", str(db), "--manifest", str(p), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["counts"]["EQUIVALENT"] == 1 and st["counts"]["NOT_EQUIVALENT"] == 2 and st["undone"] == []
    # reports
    out = tmp_path / "rep"
    jf = tmp_path / "r.json"
    assert main(["zoo", "report", str(db), "--out", str(out), "--json", str(jf), "--csv", str(tmp_path / "r.csv")]) == 0
    data = json.loads(jf.read_text())
    assert [d["name"] for d in data] == ["eq", "neq", "neq|odd<name>"]
    for d in data:
        assert {"name", "verdict", "lower", "upper", "time_s"} <= set(d)
        assert d["lower"] <= d["upper"] and d["time_s"] > 0
    assert [d["verdict"] for d in data] == ["EQUIVALENT", "NOT_EQUIVALENT", "NOT_EQUIVALENT"]
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["verdict"] for r in rows] == ["EQUIVALENT", "NOT_EQUIVALENT", "NOT_EQUIVALENT"]
    assert float(rows[1]["lower"]) == data[1]["lower"]
    html = (out / "report.html").read_text()
    svgs = _embedded_svgs(html)
    assert len(svgs) == 4                     # counts, cactus, two counterexample plots
    for svg in svgs:
        ET.fromstring(svg)
    assert "verdict counts" in svgs[0] and "cactus plot: 3 of 3 instances solved" in svgs[1]
    assert "neq|odd&lt;name&gt;" in html      # names are escaped
    md = (out / "report.md").read_text()
    assert "| EQUIVALENT | 1 |" in md and "| NOT_EQUIVALENT | 2 |" in md and "![cactus plot](cactus.svg)" in md
    assert "neq\\|odd&lt;name&gt;" in md
    for svg in [out / "cactus.svg", out / "counts.svg", *sorted((out / "cex").glob("*.svg"))]:
        ET.fromstring(svg.read_text())     # well-formed XML
    assert len(list((out / "cex").glob("*.svg"))) == 2


def test_cli_usage_errors_exit_2(tmp_path, capsys):
    p = _setup(tmp_path)
    assert main(["zoo", "run", str(p), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[[job]]\nname = "x"\nf = "f.npz"\ng = "far.npz"\neps = "big"\nbox = "-1:1"\n')
    assert main(["zoo", "run", str(bad)]) == 2
    assert f"{bad}:5: job 1 ('x'): eps must be a number" in capsys.readouterr().err
    assert main(["zoo", "run", str(p), "--engine", "dask"]) == 2
    assert "--engine dask needs --scheduler" in capsys.readouterr().err
    assert main(["zoo", "report", str(tmp_path / "none.sqlite"), "--out", str(tmp_path)]) == 2
    assert "no such results database" in capsys.readouterr().err
    assert main(["zoo", "report", str(tmp_path / "none.sqlite")]) == 2
    assert not (tmp_path / "zoo.sqlite").exists()   # nothing ran


def test_counterexample_line_passes_through_the_counterexample(tmp_path):
    from fractions import Fraction

    p = _setup(tmp_path)
    db = tmp_path / "r.sqlite"
    run_zoo(p, db, workers=1, only=["neq"])
    with ResultStore(db, create=False) as s:
        (row,) = s.results()
    line, note = counterexample_line(row)
    assert line is not None and "at the counterexample (exact)" in note
    ce = row["counterexample"]
    k = line["k"]
    i = int(np.flatnonzero(line["t"] == line["t_ce"])[0])       # the sampled line contains the point
    assert line["t_ce"] == 1.0
    assert abs(line["f"][i] - float(Fraction(ce["f"][k]))) < 1e-9
    assert abs(line["g"][i] - float(Fraction(ce["g"][k]))) < 1e-9
    assert abs(line["f"][i] - line["g"][i]) > 0.05                # violates eps = 0.05 there
    assert len(line["t"]) >= 201 and np.all(np.diff(line["t"]) > 0)
    # a model changed since the run: no plot, a clear note
    (tmp_path / "far.npz").rename(tmp_path / "far-orig.npz")
    relucert.save(Network.random([3, 8, 8, 2], seed=9), tmp_path / "far.npz")
    line, note = counterexample_line(row)
    assert line is None and "g changed on disk" in note


def test_counterexample_plot_draws_f_g_and_the_counterexample(tmp_path):
    pytest.importorskip("matplotlib", reason=PLOT)
    from relucert.zoo.report import counterexample_svg

    p = _setup(tmp_path)
    db = tmp_path / "r.sqlite"
    run_zoo(p, db, workers=1, only=["neq"])
    with ResultStore(db, create=False) as s:
        (row,) = s.results()
    svg, note = counterexample_svg(row)
    ET.fromstring(svg)
    k = counterexample_line(row)[0]["k"]
    assert f"f[{k}]" in svg and f"g[{k}]" in svg and "cex: f" in svg and "cex: g" in svg
    assert "stroke: #1565c0" in svg and "stroke: #ef6c00" in svg     # the two lines


def test_cactus_plot_counts_solved_instances():
    pytest.importorskip("matplotlib", reason=PLOT)
    rows = [{"name": str(i), "verdict": v, "time_s": t, "wall_s": t} for i, (v, t) in enumerate(
        [("EQUIVALENT", 0.5), ("NOT_EQUIVALENT", 0.1), ("UNKNOWN", 9.0), ("EQUIVALENT", 2.0), ("TIMEOUT", None)])]
    svg = cactus_svg(rows)
    assert "3 of 5 instances solved" in svg and "solved (EQ + NEQ) (3)" in svg and "EQUIVALENT (2)" in svg
    ET.fromstring(svg)
    assert "no instance solved" in cactus_svg([])


def test_report_without_matplotlib_has_the_tables_and_says_why_no_plots(tmp_path, capsys, monkeypatch):
    import relucert.zoo.report as report

    monkeypatch.setattr(report, "have_matplotlib", lambda: False)
    p = _setup(tmp_path)
    db = tmp_path / "r.sqlite"
    run_zoo(p, db, workers=1)
    out = tmp_path / "rep"
    assert main(["zoo", "report", str(db), "--out", str(out)]) == 0
    assert "plots skipped: they need matplotlib (pip install 'relucert[plot]')" in capsys.readouterr().err
    html = (out / "report.html").read_text()
    assert "data:image/svg" not in html and html.count("plots skipped: they need matplotlib") == 4
    assert "<td class='v-NOT_EQUIVALENT'>NOT_EQUIVALENT</td>" in html
    assert not (out / "cactus.svg").exists() and not (out / "cex").exists()
    assert "| NOT_EQUIVALENT | 2 |" in (out / "report.md").read_text()


def test_progress_bar_on_a_tty_and_plain_lines_otherwise():
    import io

    from relucert.zoo.progress import Progress

    buf = io.StringIO()
    p = Progress(3, stream=buf, tty=True, skipped=2)
    p.start()
    p.update("a", "EQUIVALENT", 0.1)
    p.update("b", "ERROR", 0.2)
    p.update("c", "NOT_EQUIVALENT", 0.3)
    p.close()
    text = buf.getvalue()
    assert "2 job(s) already done" in text and "\r\x1b[2K" in text
    assert text.rstrip().endswith("3/3 | eq 1 neq 1 unk 0 err 1 | 00:00")
    assert "b ERROR 0.20s\n" in text
    buf = io.StringIO()
    p = Progress(2, stream=buf, tty=False)
    p.start()
    p.update("a", "UNKNOWN", 1.5)
    p.update("b", "TIMEOUT", None)
    p.close()
    assert buf.getvalue() == "[1/2] a UNKNOWN 1.50s\n[2/2] b TIMEOUT\n"


def test_cli_other_errors_exit_4(tmp_path, capsys):
    p = _setup(tmp_path)
    notdb = tmp_path / "notes.txt"
    notdb.write_text("precious notes")
    assert main(["zoo", "run", str(p), "--db", str(notdb)]) == 4
    assert "not an SQLite database (refusing to overwrite it)" in capsys.readouterr().err
    assert notdb.read_text() == "precious notes"
    assert main(["zoo", "run", str(p), "--db", str(tmp_path / "ok.sqlite"), "--only", "ne*", "--progress", "none",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recorded"] == 2
