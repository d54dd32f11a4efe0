"""Verification: specs, the :func:`verify` entry point, search engines and results."""

from .api import distance, verify
from .result import Counterexample, StopReason, VerificationResult, Verdict
from .spec import DecisionEquivalence, Distance, EpsEquivalence, Polytope, Top1Equivalence

__all__ = [
    "verify",
    "distance",
    "EpsEquivalence",
    "Distance",
    "Top1Equivalence",
    "DecisionEquivalence",
    "Polytope",
    "Verdict",
    "StopReason",
    "VerificationResult",
    "Counterexample",
]
