"""Coverage-guided fuzzing of the zoo manifest reader (atheris; see README.md)."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["relucert"]):
    import relucert.zoo
from _harness import main  # noqa: E402

if __name__ == "__main__":
    # the two bugs this harness found (deep TOML nesting, format specs in name templates) are fixed
    main(relucert.zoo.load_manifest, ".toml", "manifest")
