"""Region pictures: one polygon per region, the polygons tile the box."""

from __future__ import annotations

import re

import numpy as np
import pytest

import relucert
from relucert import Box
from relucert.cli import main
from relucert.examples import small_regressor, xor_classifier
from relucert.regions import linear_regions
from relucert.regions.draw import region_polygons


def _area(poly):
    x = np.array([p[0] for p in poly])
    y = np.array([p[1] for p in poly])
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def test_polygons_tile_the_box():
    net = small_regressor((2, 6, 6, 1), seed=3)
    box = Box([-1.0, -0.5], [1.0, 2.0])
    R = linear_regions(net, box)
    polys = region_polygons(R, box)
    assert len(polys) == len(R) and all(len(p) >= 3 for p in polys)
    assert sum(_area(p) for p in polys) == pytest.approx(2.0 * 2.5, rel=1e-9)
    # each polygon's centroid lies in its own region: the affine map there is the network
    for poly, r in zip(polys, R):
        c = np.mean(np.array(poly), axis=0)
        assert np.allclose(net(c), r.weight @ c + r.bias, atol=1e-9)


def test_cli_draws_svg_with_one_polygon_per_region(tmp_path, capsys):
    model = tmp_path / "xor.npz"
    relucert.save(xor_classifier(), model)
    out = tmp_path / "regions.svg"
    assert main(["regions", str(model), "--box=-1:1", "--draw", str(out)]) == 0
    n = int(re.search(r"regions: (\d+)", capsys.readouterr().out).group(1))
    assert n == 4  # |x+y| - |x-y|: the four quadrants cut by the two diagonals
    assert out.read_text().count("<polygon") == n


def test_draw_needs_two_inputs(tmp_path, capsys):
    model = tmp_path / "n3.npz"
    relucert.save(small_regressor((3, 4, 1)), model)
    assert main(["regions", str(model), "--box=-1:1", "--draw", str(tmp_path / "x.svg")]) == 2
    assert "--draw needs a 2-input network" in capsys.readouterr().err
