"""Coverage-guided fuzzing of the certificate checker's reader (atheris; see README.md)."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["relucert"]):
    import relucert.check
from _harness import main  # noqa: E402

if __name__ == "__main__":
    main(relucert.check.check_certificate, ".json", "cert")
