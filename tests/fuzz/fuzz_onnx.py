"""Coverage-guided fuzzing of the .onnx reader (atheris; see README.md)."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["relucert"]):
    import relucert.io
from _harness import main  # noqa: E402

if __name__ == "__main__":
    main(lambda p: relucert.io.load(p, format="onnx"), ".onnx", "onnx")
