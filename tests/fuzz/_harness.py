"""Shared driver of the atheris harnesses (see README.md).  Not collected by pytest."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

#: where inputs are written (a RAM disk when there is one)
_TMP = Path(tempfile.mkdtemp(prefix="relucert-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
CORPUS = Path(__file__).resolve().parents[1] / "data" / "hostile"


def seeds(folder: str, suffix: str) -> list[str]:
    """The hostile corpus files of one kind, used as the fuzzer's seed inputs."""
    return sorted(str(p) for p in (CORPUS / folder).glob(f"*{suffix}"))


def main(read, suffix: str, seed_folder: str, known: tuple = ()) -> None:
    """Fuzz ``read(path)``: any :class:`RelucertError` (or FileNotFoundError) is a correct answer to
    a bad input; every other exception is a finding and stops the fuzzer with its traceback.
    ``known``: exception types of open, reported bugs, tolerated so the run can go on."""
    import atheris

    from relucert.errors import RelucertError

    path = _TMP / f"input{suffix}"

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            read(path)
        except (RelucertError, FileNotFoundError):
            pass
        except known:
            pass

    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus folder given: seed from ours
        seed_dir = _TMP / "seeds"
        seed_dir.mkdir(exist_ok=True)
        for s in seeds(seed_folder, suffix):
            (seed_dir / Path(s).name).write_bytes(Path(s).read_bytes())
        argv.append(str(seed_dir))
    atheris.Setup(argv, one)
    atheris.Fuzz()
