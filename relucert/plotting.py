"""matplotlib, loaded only when a figure is drawn (optional extra ``relucert[plot]``).

``import relucert`` never imports matplotlib; the functions that draw call :func:`pyplot`, which
raises :class:`~relucert.errors.MissingExtraError` (an ``ImportError``) naming the extra when it
is not installed.
"""

from __future__ import annotations

import io
import os
import tempfile

from .errors import MissingExtraError, SpecError

__all__ = ["pyplot", "have_matplotlib", "save_figure", "figure_svg", "MissingExtraError"]

_HINT = "pip install 'relucert[plot]'"


def have_matplotlib() -> bool:
    """Whether the ``plot`` extra (matplotlib) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def pyplot(what: str = "drawing"):
    """``matplotlib.pyplot`` on the non-interactive Agg backend (no display needed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingExtraError(f"{what} needs matplotlib: {_HINT}") from None
    return plt


_SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "relucert"}   # text stays text; reproducible ids


def figure_svg(fig) -> str:
    """The figure as SVG text without the XML prolog (so it can be written or embedded), then
    closes the figure.  Text stays ``<text>``; ids are reproducible; no date in the metadata."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_SVG_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    pyplot().close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def save_figure(fig, path, *, formats=(".png", ".svg", ".pdf"), dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` atomically (a temporary file in the same folder, then a rename),
    in the format its extension names; closes the figure."""
    import matplotlib

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in formats:
        names = ", ".join(formats[:-1]) + " or " + formats[-1] if len(formats) > 1 else formats[0]
        raise SpecError(f"plot file must end in {names}, got {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".relucert-plot-", suffix=ext, dir=folder)
    os.close(fd)
    try:
        with matplotlib.rc_context(_SVG_RC):
            fig.savefig(tmp, format=ext[1:], dpi=dpi, bbox_inches="tight", metadata={"Date": None} if ext == ".svg" else None)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    finally:
        pyplot().close(fig)
