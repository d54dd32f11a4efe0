"""Axis-aligned input boxes ``X = [lo, hi]``.

The bounds are float64 numbers and are taken *exactly* (a box given as ``"0.1"`` means the
float64 nearest to 0.1, not the real 1/10): everything relucert proves is about that set.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from .errors import BoxError

__all__ = ["Box"]


def _as_vector(values, name: str) -> np.ndarray:
    try:
        arr = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BoxError(f"box {name} must be numbers, got {values!r}") from None
    return arr


class Box:
    """An axis-aligned box ``{x : lo <= x <= hi}`` with finite float64 bounds.

    >>> Box([-1, 0], [1, 0.5]).dim
    2
    """

    __slots__ = ("_lo", "_hi")

    def __init__(self, lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray):
        lo_a = _as_vector(lo, "lo")
        hi_a = _as_vector(hi, "hi")
        if lo_a.shape != hi_a.shape:
            raise BoxError(f"box lo has {lo_a.size} entries but hi has {hi_a.size}")
        if lo_a.size == 0:
            raise BoxError("box must have at least one dimension")
        bad = ~(np.isfinite(lo_a) & np.isfinite(hi_a))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise BoxError(f"box bounds must be finite, got [{lo_a[i]}, {hi_a[i]}] for input {i}")
        inv = lo_a > hi_a
        if inv.any():
            i = int(np.flatnonzero(inv)[0])
            raise BoxError(f"box needs lo <= hi, got lo={float(lo_a[i])!r} > hi={float(hi_a[i])!r} for input {i}")
        lo_a = lo_a + 0.0  # normalise -0.0
        hi_a = hi_a + 0.0
        lo_a.setflags(write=False)
        hi_a.setflags(write=False)
        self._lo = lo_a
        self._hi = hi_a

    # -- basic properties -------------------------------------------------------------------
    @property
    def lo(self) -> np.ndarray:
        return self._lo

    @property
    def hi(self) -> np.ndarray:
        return self._hi

    @property
    def dim(self) -> int:
        return int(self._lo.size)

    @property
    def center(self) -> np.ndarray:
        return 0.5 * self._lo + 0.5 * self._hi

    @property
    def width(self) -> np.ndarray:
        return self._hi - self._lo

    def __len__(self) -> int:
        return self.dim

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Box)
            and np.array_equal(self._lo, other._lo)
            and np.array_equal(self._hi, other._hi)
        )

    def __hash__(self) -> int:
        return hash((self._lo.tobytes(), self._hi.tobytes()))

    def __repr__(self) -> str:
        return f"Box({self.to_string()!r})"

    def contains(self, x, *, exact: bool = True) -> bool:
        """Whether ``x`` lies in the box (compared exactly: floats and Fractions both work)."""
        xs = list(x)
        if len(xs) != self.dim:
            return False
        return all(Fraction(lo) <= Fraction(v) <= Fraction(hi) for lo, v, hi in zip(self._lo, xs, self._hi))

    def check_dim(self, n: int, *, what: str = "network") -> "Box":
        if self.dim != n:
            raise BoxError(f"box has {self.dim} dimensions but the {what} has {n} inputs")
        return self

    def split(self, axis: int, at: float | None = None) -> tuple["Box", "Box"]:
        """Split along ``axis`` at ``at`` (default: midpoint)."""
        m = float(self.center[axis]) if at is None else float(at)
        lo1, hi1 = self._lo.copy(), self._hi.copy()
        hi1[axis] = m
        lo2, hi2 = self._lo.copy(), self._hi.copy()
        lo2[axis] = m
        return Box(lo1, hi1), Box(lo2, hi2)

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self._lo, self._hi)

    def sample(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        return self._lo + (self._hi - self._lo) * rng.random((n, self.dim))

    def vertices_count(self) -> int:
        return 2 ** int(np.count_nonzero(self.width > 0))

    # -- text forms ---------------------------------------------------------------------------
    def to_string(self) -> str:
        return ",".join(f"{float(a)!r}:{float(b)!r}" for a, b in zip(self._lo, self._hi))

    def to_dict(self) -> dict:
        return {"lo": [float(v) for v in self._lo], "hi": [float(v) for v in self._hi]}

    @classmethod
    def from_string(cls, text: str, dim: int | None = None) -> "Box":
        """Parse ``"-1:1,0:0.5"``; a single interval ``"-1:1"`` is repeated ``dim`` times.

        A bare number ``"0.3"`` is the zero-width interval ``0.3:0.3``.
        """
        if not isinstance(text, str) or not text.strip():
            raise BoxError("box must be a non-empty string like '-1:1,0:0.5'")
        parts = [p.strip() for p in text.split(",")]
        lo: list[float] = []
        hi: list[float] = []
        for k, part in enumerate(parts):
            m = re.fullmatch(r"\s*([^:]+?)\s*(?::\s*([^:]+?)\s*)?", part)
            if not part or m is None:
                raise BoxError(f"cannot parse box interval {k} {part!r}: expected 'lo:hi'")
            a_s, b_s = m.group(1), m.group(2) if m.group(2) is not None else m.group(1)
            try:
                a, b = float(a_s), float(b_s)
            except ValueError:
                raise BoxError(f"cannot parse box interval {k} {part!r}: bounds must be numbers") from None
            lo.append(a)
            hi.append(b)
        if len(parts) == 1 and dim is not None and dim > 1:
            lo, hi = lo * dim, hi * dim
        box = cls(lo, hi)
        if dim is not None:
            box.check_dim(dim)
        return box

    @classmethod
    def cube(cls, dim: int, lo: float = -1.0, hi: float = 1.0) -> "Box":
        return cls([lo] * dim, [hi] * dim)

    @classmethod
    def linf_ball(cls, center, radius: float, *, clip: tuple[float, float] | None = None) -> "Box":
        c = _as_vector(center, "center")
        if not (radius >= 0):
            raise BoxError(f"radius must be >= 0, got radius={radius}")
        lo, hi = c - radius, c + radius
        if clip is not None:
            lo, hi = np.maximum(lo, clip[0]), np.minimum(hi, clip[1])
        return cls(lo, hi)

    @staticmethod
    def hull(boxes: Iterable["Box"]) -> "Box":
        boxes = list(boxes)
        return Box(np.min([b.lo for b in boxes], axis=0), np.max([b.hi for b in boxes], axis=0))
