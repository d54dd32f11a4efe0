"""relucert: formal equivalence verification of ReLU networks.

Prove that two ReLU networks agree within eps over an input box, or get an exact counterexample;
rewrite networks with the constructions of the expressivity papers; emit re-checkable certificates.
"""

from __future__ import annotations

from .box import Box
from .errors import (
    BoxError,
    CertificateError,
    ManifestError,
    ModelFormatError,
    RelucertError,
    ShapeError,
    SolverError,
    SpecError,
    UnsupportedModelError,
)
from .network import Layer, Network

# bound eagerly: the sub-package ``relucert.verify`` would otherwise shadow the function
# ``relucert.verify`` as soon as it is imported (it pulls in numpy only; solvers stay lazy)
from .verify import (
    DecisionEquivalence,
    Distance,
    EpsEquivalence,
    Polytope,
    Top1Equivalence,
    Verdict,
    VerificationResult,
    distance,
    verify,
)

__version__ = "0.1.0"

__all__ = [
    "Box",
    "Layer",
    "Network",
    "RelucertError",
    "ModelFormatError",
    "UnsupportedModelError",
    "ShapeError",
    "BoxError",
    "SpecError",
    "SolverError",
    "CertificateError",
    "ManifestError",
    "load",
    "save",
    "verify",
    "distance",
    "EpsEquivalence",
    "Distance",
    "Top1Equivalence",
    "DecisionEquivalence",
    "Polytope",
    "Verdict",
    "VerificationResult",
    "__version__",
]


def __getattr__(name):
    # lazy: keep `import relucert` light (no solver or onnx import until needed)
    if name in ("load", "save"):
        from . import io as _io

        return getattr(_io, name)
    raise AttributeError(f"module 'relucert' has no attribute {name!r}")
