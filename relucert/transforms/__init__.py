"""The papers' transforms as symbolic rewrites, each with the claim it promises.

Each transform is a small reduction (``accepts``, ``apply``, sometimes ``invert``) in a registry::

    from relucert import transforms
    new, claim = transforms.apply("fan-deep", net, box)
    result = transforms.check(new, claim)       # proves or refutes the claim with the verifier
    transforms.fan_deep(net, box)               # the same, by function name

``names()`` lists them; ``get(name)`` returns the transform object.
"""

from __future__ import annotations

from . import arora, fan  # noqa: F401  (register the transforms)
from .base import REGISTRY, Claim, Transform, TransformError, get, names

__all__ = ["Claim", "Transform", "TransformError", "REGISTRY", "get", "names", "apply", "check"]

for _mod in ("demorgan", "vardi", "vardi_approx", "structural", "mutate"):
    try:
        __import__(f"{__name__}.{_mod}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - modules not written yet
        if _exc.name != f"{__name__}.{_mod}":
            raise


def apply(name: str, net, box=None, **params):
    """``get(name).apply(net, box, **params)`` -> ``(new_net, claim)``."""
    return get(name).apply(net, box, **params)


def check(new, claim, *, box=None, method: str = "auto", time_limit: float | None = 60.0):
    """Prove or refute ``claim`` for ``new`` (see :mod:`relucert.transforms.claimcheck`)."""
    from .claimcheck import check_claim

    return check_claim(new, claim, box=box, method=method, time_limit=time_limit)


def _function(name):
    def f(net, box=None, **params):
        return apply(name, net, box, **params)

    f.__name__ = name.replace("-", "_")
    f.__doc__ = f"``{name}``: {get(name).summary}. Returns ``(new_net, claim)``."
    return f


for _name in list(REGISTRY):
    globals()[_name.replace("-", "_")] = _function(_name)
    __all__.append(_name.replace("-", "_"))
