"""The expressivity sub-commands: hard-function, depth-separation, zonotope, approx-bound, erm,
convac-rank, convac-sweep."""

from __future__ import annotations

import json

import pytest

import relucert
from relucert.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_convac_rank_3x3_on_4x4_reaches_256(capsys):
    rc, out, _ = run(capsys, "convac-rank", "--size", "4", "--channels", "2", "--kernel", "3", "--stride", "1")
    assert rc == 0
    assert "rank: 256" in out.splitlines()
    assert "upper bound (all weights): 256" in out


@pytest.mark.parametrize("layers,partition,rank", [
    ("2/2:4,2/2:4,2/2:4", "left-right", 4),
    ("2/2:4,2/2:4,2/2:4", "odd-even", 16),
    ("3/1:4,3/1:4", "left-right", 16),
    ("8/8:4", "odd-even", 4),
])
def test_convac_rank_1d_layers(capsys, layers, partition, rank):
    rc, out, _ = run(capsys, "convac-rank", "--size", "8", "--dim", "1", "--layers", layers,
                     "--partition", partition, "--json")
    data = json.loads(out)
    assert rc == 0 and data["rank"] == rank and data["tight"]


def test_convac_rank_shared_non_overlapping_bottleneck(capsys):
    rc, out, _ = run(capsys, "convac-rank", "--size", "4", "--layers", "2/2:4,2/2:4", "--shared")
    assert rc == 0 and "rank: 4" in out.splitlines()
    rc, out, _ = run(capsys, "convac-rank", "--size", "4", "--layers", "2/2:4,2/2:4", "--partition", "checkerboard")
    assert "rank: 256" in out.splitlines()


def test_convac_rank_usage_errors(capsys):
    rc, _, err = run(capsys, "convac-rank", "--size", "4", "--kernel", "3", "--stride", "2")
    assert rc == 2 and "does not tile 4 positions" in err
    rc, _, err = run(capsys, "convac-rank", "--size", "4", "--layers", "3-1-4")
    assert rc == 2 and "kernel/stride:channels" in err
    rc, _, err = run(capsys, "convac-rank", "--size", "4", "--partition", "diagonal")
    assert rc == 2 and "partition must be one of" in err
    rc, _, err = run(capsys, "convac-rank", "--size", "8", "--dim", "1", "--partition", "I=0,9")
    assert rc == 2 and "proper non-empty subset of 0..7" in err
    rc, _, err = run(capsys, "convac-rank", "--size", "4", "--prime", "91")
    assert rc == 2 and "--prime must be a prime below 2**31, got 91" in err
    rc, out, _ = run(capsys, "convac-rank", "--size", "8", "--dim", "1", "--kernel", "4", "--partition", "I=0,1,2,3")
    assert rc == 0 and "rank: 8" in out.splitlines()


def test_convac_sweep_table_and_plot(capsys, tmp_path):
    rc, out, _ = run(capsys, "convac-sweep", "--size", "8", "--dim", "1", "--kernels", "2,3,4", "--strides", "1,2",
                     "--json")
    rows = json.loads(out)
    got = {(r["kernel"], r["stride"]): r["rank"] for r in rows}
    # 1D, N = 8: stride 1 gives 2**(R-1); (3, 2) does not tile 8 positions and is left out
    assert got == {(2, 1): 2, (2, 2): 1, (3, 1): 4, (4, 1): 8, (4, 2): 4}
    assert all(r["rank"] == r["upper_bound"] for r in rows)
    pytest.importorskip("matplotlib", reason="the plot needs the optional extra relucert[plot] (matplotlib)")
    png = tmp_path / "sweep.png"
    rc, out, _ = run(capsys, "convac-sweep", "--size", "4", "--plot", str(png))
    assert rc == 0 and f"wrote {png}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.png"]      # no temporary file left behind
    rc, _, err = run(capsys, "convac-sweep", "--size", "4", "--plot", str(tmp_path / "x.gif"))
    assert rc == 4 and "must end in .png, .svg or .pdf" in err


def test_hard_function_pieces_and_model_out(capsys, tmp_path):
    out_path = tmp_path / "h.npz"
    rc, out, _ = run(capsys, "hard-function", "--w", "3", "--k", "4", "--out", str(out_path))
    assert rc == 0 and "pieces: 81" in out.splitlines()
    net = relucert.load(str(out_path))
    assert net.same_weights(relucert.expressivity.hard_function(3, 4))
    rc, out, _ = run(capsys, "hard-function", "--w", "3", "--k", "4", "--depth", "2")
    assert rc == 0 and "pieces: 81" in out.splitlines() and "widths 9,9" in out
    rc, out, _ = run(capsys, "hard-function", "--sawtooth", "--k", "5")
    assert rc == 0 and "pieces: 32" in out.splitlines()
    rc, out, _ = run(capsys, "hard-function", "--w", "3", "--k", "2", "--breakpoints", "1/2,3/4;1/4,3/4")
    assert rc == 0 and "pieces: 9" in out.splitlines()
    rc, _, err = run(capsys, "hard-function", "--w", "3", "--k", "2", "--breakpoints", "1/3,2/3")
    assert rc == 2 and "not exactly a float64" in err
    rc, _, err = run(capsys, "hard-function", "--w", "3", "--k", "2", "--depth", "3")
    assert rc == 2 and "depth must be <= k" in err


def test_depth_separation_corollary_numbers(capsys):
    rc, out, _ = run(capsys, "depth-separation", "--w", "3", "--k", "9", "--depth", "3", "--json")
    d = json.loads(out)
    assert rc == 0 and d["pieces"] == 19683 and d["lower_bound"]["integer"] == 78
    assert d["lower_bound"]["paper"] == 39.5 and d["construction_size"] == 81
    rc, out, _ = run(capsys, "depth-separation", "--w", "2", "--k", "6", "--depth", "2", "--check")
    assert rc == 0 and "pieces: 64 (H), 64 (construction)" in out and "EQUIVALENT" in out
    rc, _, err = run(capsys, "depth-separation", "--w", "2", "--k", "2", "--depth", "3")
    assert rc == 2 and "--depth must be <= --k" in err


def test_zonotope_regions(capsys):
    rc, out, _ = run(capsys, "zonotope", "--m", "4", "--w", "2", "--k", "2")
    assert rc == 0
    lines = out.splitlines()
    regions = int(next(l for l in lines if l.startswith("regions: ")).split()[1])
    affine = int(next(l for l in lines if l.startswith("distinct affine maps: ")).split()[3])
    assert regions >= affine >= 32
    assert (regions, affine) == (40, 33)          # B-zono-n2, exactly (see tests/test_zonotope_ws.py)


def test_approx_bound_refutes(capsys):
    rc, out, _ = run(capsys, "approx-bound", "--w", "3", "--k", "4", "--units", "30", "--json")
    d = json.loads(out)
    assert rc == 1 and d["verdict"] == "NOT_EQUIVALENT" and d["bound"] == 41 and d["candidate_pieces"] <= 31
    assert d["lower"] > 0.5


def test_erm_from_csv(capsys, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("x,y\n0,1\n1,0\n2,1\n3,0\n4,1\n")
    rc, out, _ = run(capsys, "erm", "--data", str(f), "--width", "2", "--restarts", "20", "--steps", "500",
                     "--json")
    d = json.loads(out)
    assert rc == 0 and d["global_le_gd"] and d["global"]["loss"] <= d["gd"]["best_loss"] + 1e-12
    bad = tmp_path / "bad.csv"
    bad.write_text("0,1\n1,zero\n")
    rc, _, err = run(capsys, "erm", "--data", str(bad))
    assert rc == 2 and "bad.csv:2: not numbers" in err


def test_grid_rank_of_a_model(capsys, tmp_path):
    net = relucert.Network.random([16, 16, 16, 1], seed=1)
    path = tmp_path / "dense.npz"
    relucert.save(net, str(path))
    rc, out, _ = run(capsys, "grid-rank", str(path), "--size", "8", "--dim", "1")
    assert rc == 0 and "rank: 16" in out.splitlines() and "exact rational rank" in out
    rc, _, err = run(capsys, "grid-rank", str(path), "--size", "4", "--channels", "3")
    assert rc == 2 and "expected positions * templates = 48" in err
