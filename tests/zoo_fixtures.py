"""Shared fixtures of the zoo tests: three small models (f, a close copy, a far copy) and a manifest."""

from __future__ import annotations

import textwrap
from pathlib import Path

import relucert
from relucert import Network

HEADER = """
[defaults]
eps = 0.05
timeout = 10
box = "-1:1"
[[job]]
name = "eq"
f = "f.npz"
g = "close.npz"
[[job]]
name = "neq"
f = "f.npz"
g = "far.npz"
"""


def write_manifest(d: Path, jobs: str = "") -> Path:
    """Write ``f.npz`` (a random 3-8-8-2 net), ``close.npz`` (last layer scaled by 1 + 1e-4: within
    eps = 0.05) and ``far.npz`` (every weight scaled by 1.5) into ``d``, and ``zoo.toml`` with the
    jobs ``eq`` (f vs close) and ``neq`` (f vs far) followed by ``jobs`` (more TOML)."""
    f = Network.random([3, 8, 8, 2], seed=1)
    W = [w.copy() for w in f.weights]
    W[-1] = W[-1] * (1 + 1e-4)
    relucert.save(f, d / "f.npz")
    relucert.save(Network.from_weights(W, f.biases), d / "close.npz")
    relucert.save(Network.from_weights([w * 1.5 for w in f.weights], f.biases), d / "far.npz")
    p = d / "zoo.toml"
    p.write_text(HEADER + textwrap.dedent(jobs))
    return p
