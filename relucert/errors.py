"""Exception hierarchy.

Every error relucert raises on purpose derives from :class:`RelucertError` and also from the
builtin exception a Python user would expect, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "RelucertError",
    "ModelFormatError",
    "UnsupportedModelError",
    "ShapeError",
    "BoxError",
    "SpecError",
    "SolverError",
    "CertificateError",
    "ManifestError",
    "MissingExtraError",
]


class RelucertError(Exception):
    """Base class of every error raised by relucert."""


class ModelFormatError(RelucertError, ValueError):
    """A model file is malformed, truncated, corrupt or holds non-finite numbers."""


class UnsupportedModelError(RelucertError, NotImplementedError):
    """A model uses an operation or structure that relucert cannot represent."""


class ShapeError(RelucertError, ValueError):
    """Arrays or networks have incompatible shapes."""


class BoxError(RelucertError, ValueError):
    """An input box is malformed (non-finite, lo > hi, wrong dimension, unparsable)."""


class SpecError(RelucertError, ValueError):
    """A specification or a verification option is invalid."""


class SolverError(RelucertError, RuntimeError):
    """A solver failed in a way that leaves no usable answer."""


class CertificateError(RelucertError, ValueError):
    """A certificate is malformed (not a failed proof: that is an INVALID verdict)."""


class ManifestError(RelucertError, ValueError):
    """A zoo manifest is malformed."""


class MissingExtraError(RelucertError, ImportError):
    """An optional extra (e.g. matplotlib, ``relucert[plot]``) is not installed."""
