"""Coverage-guided fuzzing of the zoo manifest reader (atheris; see README.md)."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["relucert"]):
    import relucert.zoo
from _harness import main  # noqa: E402

if __name__ == "__main__":
    # open bugs (tests/test_hostile_inputs.py KNOWN_BUGS): deep TOML nesting -> RecursionError, a huge
    # width in a name template -> MemoryError; remove them here once relucert.zoo.manifest is fixed
    main(relucert.zoo.load_manifest, ".toml", "manifest")
