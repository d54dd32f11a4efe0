"""The ConvAC rank plot (convac-sweep --plot): what is drawn matches the table, and the PNG is a
real picture.  Needs the optional extra relucert[plot] (matplotlib); skipped without it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from relucert.cli import main


def test_import_relucert_does_not_load_matplotlib():
    code = "import sys, relucert, relucert.expressivity, relucert.cli.expressivity; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_rank_sweep_png_shows_the_table(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot needs the optional extra relucert[plot] (matplotlib)")
    import matplotlib.image as mpimg
    import numpy as np

    from relucert.expressivity.plots import plot_rank_sweep

    assert main(["convac-sweep", "--size", "8", "--dim", "1", "--kernels", "1,2,3,4,5", "--strides", "1,2",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    png = tmp_path / "sweep.png"
    drawn = plot_rank_sweep(rows, str(png), title="test")
    # one line per stride through exactly the table's (kernel, rank) points; stride 1: 2**(R-1)
    assert drawn == {s: sorted((r["kernel"], r["rank"]) for r in rows if r["stride"] == s) for s in (1, 2)}
    assert drawn[1] == [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)]
    img = mpimg.imread(str(png))
    h, w = img.shape[:2]
    assert 300 < h < 1000 and 500 < w < 1200
    rgb = (img[..., :3] * 255).round().astype(int).reshape(-1, 3)
    # the stride-1 line (matplotlib's C0 blue, #1f77b4) and the stride-2 line (C1 orange, #ff7f0e)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):
        assert int(np.sum(np.all(np.abs(rgb - colour) <= 8, axis=1))) > 200
