"""The HTML zoo report renders in a real browser (headless Chromium) with every plot decoded and
drawn.  Needs the optional extra relucert[plot] (matplotlib) and Chromium (Debian package
``chromium``; ``.ci/run`` installs it when it can)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap

import pytest

from relucert.zoo import run_zoo
from relucert.zoo.report import write_report
from zoo_fixtures import write_manifest

pytest.importorskip("matplotlib", reason="the report's plots need the optional extra relucert[plot] (matplotlib)")
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium): apt-get install chromium")

# runs after the load event (every image fetched and decoded or failed): one line per image
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth,
      h: i.naturalHeight, shown_w: i.getBoundingClientRect().width}));
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({imgs, rows: document.querySelectorAll('#results tr').length});
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args, timeout=120):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_html_report_renders_with_its_plots_in_headless_chromium(tmp_path):
    p = write_manifest(tmp_path, textwrap.dedent("""
        [[job]]
        name = "neq-out1"
        f = "f.npz"
        g = "far.npz"
        outputs = [1]
        """))
    db = tmp_path / "r.sqlite"
    run_zoo(p, db, workers=1)
    paths = write_report(str(db), tmp_path / "rep")
    html = (tmp_path / "rep" / "report.html").read_text()
    probe = tmp_path / "rep" / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    r = _chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    m = re.search(r"<pre id=\"probe\">(.*?)</pre>", r.stdout, re.S)
    assert m, "the probe script did not run:\n" + r.stdout[-2000:]
    got = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    alts = [i["alt"] for i in got["imgs"]]
    assert alts[:2] == ["verdict counts", "cactus plot"] and len(alts) == 2 + len(paths["cex"]) == 4
    for img in got["imgs"]:       # decoded (a broken SVG has natural size 0) and laid out
        assert img["complete"] and img["w"] > 200 and img["h"] > 50 and img["shown_w"] > 200, img
    assert got["rows"] == 1 + 3   # header + one row per job
    # and the pixels: a screenshot of the page shows the plots' colours (lines and bars)
    shot = tmp_path / "shot.png"
    r = _chromium("--window-size=1200,4000", f"--screenshot={shot}", (tmp_path / "rep" / "report.html").as_uri())
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    import matplotlib.image as mpimg
    import numpy as np

    px = (mpimg.imread(shot)[..., :3] * 255).round().astype(int)

    def count(hexcolor, tol=40):
        rgb = np.array([int(hexcolor[i:i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(px - rgb).sum(axis=2) < tol).sum())

    assert count("#2e7d32") > 500          # the EQUIVALENT bar (green)
    assert count("#c62828") > 500          # the NOT_EQUIVALENT bar (red) and counterexample markers
    assert count("#1565c0") > 500          # cactus "solved" line and the f lines (blue)
    assert count("#ef6c00") > 200          # the g lines (orange)
