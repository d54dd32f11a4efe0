"""The .npz format: exact round trips and clear errors for bad archives."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from relucert import Network
from relucert.errors import ModelFormatError
from relucert.io import load, save


def write_npz(path, **arrays):
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def expect(path, message: str):
    with pytest.raises(ModelFormatError) as err:
        load(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize("sizes", [[3, 2], [4, 9, 9, 1], [6, 1, 6]])
def test_round_trip_is_bitwise_exact(sizes, tmp_path):
    net = Network.random(sizes, seed=2)
    save(net, tmp_path / "n.npz")
    back = load(tmp_path / "n.npz")
    assert back.digest == net.digest and back.name == "n"
    with np.load(tmp_path / "n.npz", allow_pickle=False) as z:
        assert sorted(z.files) == sorted(f"{k}{i}" for i in range(len(sizes) - 1) for k in "Wb")
        assert z["W0"].dtype == np.float64


def test_reads_float32_and_integer_arrays_exactly(tmp_path):
    W = np.array([[1.5, -2.25]], dtype=np.float32)
    path = write_npz(tmp_path / "a.npz", W0=W, b0=np.array([3], dtype=np.int64))
    net = load(path)
    assert net.layers[0].weight.tolist() == [[1.5, -2.25]] and net.layers[0].bias.tolist() == [3.0]


def test_missing_and_extra_arrays(tmp_path):
    W, b = np.ones((2, 3)), np.zeros(2)
    expect(write_npz(tmp_path / "a.npz", W0=W, b0=b, W1=np.ones((1, 2))), "array b1 is missing (2 layers)")
    expect(write_npz(tmp_path / "b.npz", W0=W, b0=b, b1=np.zeros(1)), "array W1 is missing (2 layers)")
    expect(write_npz(tmp_path / "c.npz", W0=W, b0=b, meta=np.zeros(1)),
           "unexpected array 'meta'; expected only W0, b0, W1, b1, ...")
    expect(write_npz(tmp_path / "d.npz", W00=W, b0=b), "unexpected array 'W00'; expected only W0, b0, W1, b1, ...")
    expect(write_npz(tmp_path / "e.npz"), "no weight arrays (expected W0, b0, W1, b1, ...)")


def test_bad_shapes_and_values(tmp_path):
    expect(write_npz(tmp_path / "a.npz", W0=np.ones(3), b0=np.zeros(1)),
           "array 'W0' must have 2 dimension(s), got shape (3,)")
    expect(write_npz(tmp_path / "b.npz", W0=np.ones((2, 3)), b0=np.zeros(3)),
           "array 'b0' has 3 entries but 'W0' has 2 rows")
    expect(write_npz(tmp_path / "c.npz", W0=np.ones((2, 3)), b0=np.zeros(2), W1=np.ones((1, 3)), b1=np.zeros(1)),
           "array 'W1' has 3 columns but 'W0' has 2 rows")
    W = np.ones((2, 3))
    W[1, 2] = np.nan
    expect(write_npz(tmp_path / "d.npz", W0=W, b0=np.zeros(2)), "array 'W0' holds a non-finite value nan at index (1, 2)")
    expect(write_npz(tmp_path / "e.npz", W0=np.ones((1, 1), dtype=complex), b0=np.zeros(1)),
           "array 'W0' has dtype complex128, expected real numbers")


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "p.npz"
    with open(path, "wb") as fh:
        np.savez(fh, W0=np.array([[1.0]], dtype=object), b0=np.zeros(1))
    with pytest.raises(ModelFormatError, match=r"p\.npz: cannot read array 'W0': Object arrays cannot be loaded "
                                               r"when allow_pickle=False"):
        load(path)


def test_not_an_archive(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"definitely not a zip file")
    with pytest.raises(ModelFormatError, match=r"x\.npz: not a readable \.npz archive: "):
        load(path)
    with open(path, "wb") as fh:
        np.save(fh, np.ones(3))
    expect(path, "holds a single array, expected an .npz archive of W0, b0, W1, b1, ...")


def test_truncated_archive(tmp_path):
    save(Network.random([5, 5, 2], seed=0), tmp_path / "t.npz")
    data = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError, match=r"t\.npz: not a readable \.npz archive: "):
        load(tmp_path / "t.npz")


def test_enormous_declared_shape_rejected_before_allocation(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("W0.npy", buf.getvalue())
        zf.writestr("b0.npy", _npy(np.zeros(100000)))
    expect(path, "array 'W0' would hold 10000000000 elements (shape (100000, 100000)), more than the limit of 100000000")


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()
