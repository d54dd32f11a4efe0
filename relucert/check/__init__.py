"""The independent certificate checker: ``check_certificate(path)`` -> VERIFIED / REFUTED / INVALID.

It imports neither the bound engines, the encodings, the solvers nor the verifier; it reads the
model files through :mod:`relucert.io` and hashes them with ``Network.digest``.  See
:mod:`relucert.check.checker` for the trusted base and ``proofs/README.md`` for the format.
"""

from .checker import (FORMAT, MAX_BYTES, MAX_NODES, VERSION, CheckReport, MissingModelError,
                      check_certificate, check_document, load_document)

__all__ = ["FORMAT", "VERSION", "MAX_BYTES", "MAX_NODES", "CheckReport", "MissingModelError",
           "check_certificate", "check_document", "load_document"]
