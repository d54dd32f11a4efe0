"""Package-level promises: a light import, the error hierarchy, the command frame."""

from __future__ import annotations

import subprocess
import sys

import pytest

import relucert
from relucert import errors
from relucert.cli import main


def test_import_is_light():
    code = ("import sys, relucert; heavy = [m for m in ('onnx', 'z3', 'highspy', 'pulp', 'matplotlib', "
            "'dask', 'maraboupy', 'onnxruntime') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names():
    for name in relucert.__all__:
        assert getattr(relucert, name) is not None
    assert callable(relucert.verify) and callable(relucert.distance)
    assert callable(relucert.load) and callable(relucert.save)


@pytest.mark.parametrize("cls, builtin", [
    (errors.ModelFormatError, ValueError),
    (errors.UnsupportedModelError, NotImplementedError),
    (errors.ShapeError, ValueError),
    (errors.BoxError, ValueError),
    (errors.SpecError, ValueError),
    (errors.SolverError, RuntimeError),
    (errors.CertificateError, ValueError),
    (errors.ManifestError, ValueError),
])
def test_errors_subclass_library_base_and_builtin(cls, builtin):
    assert issubclass(cls, errors.RelucertError) and issubclass(cls, builtin)


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert relucert.__version__ in capsys.readouterr().out
    assert main([]) == 2
    helptext = capsys.readouterr().out
    for cmd in ("info", "eval", "convert", "verify", "distance", "demo"):
        assert cmd in helptext


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "relucert", "info", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "MODEL" in out.stdout
