"""``workers`` > 1: helper processes share every branch-and-bound step; the search must be the
same as in one process, errors in a helper must surface, and bad values must be refused."""

from __future__ import annotations

import os

import numpy as np
import pytest

import relucert
from relucert.box import Box
from relucert.errors import SolverError, SpecError
from relucert.verify import _helpers
from relucert.verify.bab import DistanceBaB
from relucert.verify._helpers import pack, unpack
from test_bab_search import _pair as _noisy_pair, _sampled_max


def _pair(seed=0, sizes=(3, 12, 12, 2), sigma=1e-3):
    return _noisy_pair(seed, sizes, sigma)


def _same_search(a, b):
    """Same tree (structure and split points); leaf bounds equal up to the last bits (the bound
    engines see batches of other shapes, which BLAS may round differently)."""
    ta, tb = a.tree, b.tree
    assert a.status == b.status and a.nodes == b.nodes
    for name in ("parent", "side", "dim", "at"):
        assert np.array_equal(getattr(ta, name), getattr(tb, name), equal_nan=True), name
    assert np.array_equal(np.isnan(ta.leaf_bound), np.isnan(tb.leaf_bound))
    m = ~np.isnan(ta.leaf_bound)
    np.testing.assert_allclose(ta.leaf_bound[m], tb.leaf_bound[m], rtol=1e-9, atol=0)
    assert a.upper == pytest.approx(b.upper, rel=1e-9)
    for key in ("cheap_bounds", "tight_bounds", "strong_branched"):
        assert a.stats[key] == b.stats[key], key


@pytest.mark.parametrize("workers", [2, 3])
def test_helpers_give_the_same_search_as_one_process(workers):
    f, g = _pair(1)
    lo, hi = -np.ones(3), np.ones(3)
    smax = _sampled_max(f, g, lo, hi)
    one = DistanceBaB(f, g, [0, 1], batch=32).run(lo, hi, threshold=1.1 * smax, time_limit=120)
    many = DistanceBaB(f, g, [0, 1], batch=32, workers=workers).run(lo, hi, threshold=1.1 * smax, time_limit=120)
    assert one.status == "below" and one.nodes > 200          # big enough for the helpers to start
    assert one.stats["workers"] == 1 and many.stats["workers"] == workers
    _same_search(one, many)
    assert many.upper <= 1.1 * smax and smax <= many.upper


def test_helpers_with_the_stacked_engine():
    f, _ = _pair(3, (3, 10, 1))
    g, _ = _pair(4, (3, 8, 8, 1))
    lo, hi = -np.ones(3), np.ones(3)
    smax = _sampled_max(f, g, lo, hi)
    kw = dict(threshold=1.01 * smax, node_limit=2000)          # a search that does not end by itself
    one = DistanceBaB(f, g, [0], batch=16).run(lo, hi, **kw)
    two = DistanceBaB(f, g, [0], batch=16, workers=2).run(lo, hi, **kw)
    assert one.status == "node_limit" and two.stats["workers"] == 2
    _same_search(one, two)
    assert two.best_value == pytest.approx(one.best_value, abs=1e-12)
    assert smax <= two.upper


def test_counterexample_found_with_helpers_is_exact():
    f, g = _pair(2, (3, 16, 16, 1))
    box = Box(-np.ones(3), np.ones(3))
    smax = _sampled_max(f, g, box.lo, box.hi)
    res = relucert.verify(f, g, box, relucert.EpsEquivalence(0.9 * smax), method="bab", workers=2)
    assert res.verdict.name == "NOT_EQUIVALENT"
    ce = res.counterexample
    assert max(abs(a - b) for a, b in zip(ce.f, ce.g)) > 0.9 * smax      # exact rationals
    ok = relucert.verify(f, g, box, relucert.EpsEquivalence(1.3 * smax), method="bab", workers=2, batch=32)
    one = relucert.verify(f, g, box, relucert.EpsEquivalence(1.3 * smax), method="bab", batch=32)
    assert ok.verdict.name == one.verdict.name == "EQUIVALENT"
    assert ok.stats["nodes"] == one.stats["nodes"] and ok.stats["workers"] == 2
    assert ok.upper <= 1.3 * smax


class _Failing(DistanceBaB):
    def _helper_work(self, msg):
        raise ValueError("boom in the helper")


class _Dying(DistanceBaB):
    def _helper_work(self, msg):
        os._exit(3)


@pytest.mark.parametrize("cls, pattern", [(_Failing, "helper 1 failed: ValueError: boom in the helper"),
                                          (_Dying, r"helper 1 \(pid \d+\) died \(exit code 3\)")])
def test_a_failing_or_dying_helper_raises_instead_of_hanging(cls, pattern):
    f, g = _pair(1)
    lo, hi = -np.ones(3), np.ones(3)
    smax = _sampled_max(f, g, lo, hi)
    with pytest.raises(SolverError, match=pattern):
        cls(f, g, [0, 1], batch=32, workers=2).run(lo, hi, threshold=1.3 * smax, time_limit=60)


def test_no_fork_falls_back_to_one_process_and_says_why(monkeypatch):
    monkeypatch.setattr(_helpers.mp, "get_all_start_methods", lambda: ["spawn"])
    f, g = _pair(1)
    lo, hi = -np.ones(3), np.ones(3)
    smax = _sampled_max(f, g, lo, hi)
    out = DistanceBaB(f, g, [0, 1], batch=32, workers=2).run(lo, hi, threshold=1.3 * smax, time_limit=120)
    assert out.status == "below" and out.stats["workers"] == 1
    assert "fork" in out.stats["workers_note"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_bad_workers_are_refused_early(bad):
    f, g = _pair(7, (2, 4, 1))
    with pytest.raises(SpecError, match=r"workers must be an integer >= 1, got workers="):
        DistanceBaB(f, g, [0], workers=bad)
    with pytest.raises(SpecError, match=r"workers must be an integer >= 1, got workers="):
        relucert.verify(f, g, Box(-np.ones(2), np.ones(2)), relucert.EpsEquivalence(0.1), workers=bad)


def test_messages_carry_arrays_exactly():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]                 # not contiguous
    msg = {"a": a, "zero_d": np.float64(-np.inf), "i": np.int64(7), "empty": np.zeros((2, 0)),
           "b": np.array([True, False]), "s": np.arange(5, dtype=np.int8), "tiny": np.array([5e-324, -0.0])}
    out = unpack(pack(msg))
    assert set(out) == set(msg)
    for k, v in msg.items():
        v = np.asarray(v)
        assert out[k].dtype == v.dtype and out[k].shape == v.shape, k
        assert np.array_equal(out[k], v), k
    assert np.signbit(out["tiny"][1]) and out["zero_d"] == -np.inf
    out["a"][0, 0] = 1.0                                      # writable copies
    with pytest.raises(TypeError, match="object arrays"):
        pack({"o": np.array([None])})
