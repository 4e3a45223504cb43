"""How every figure looks and is written: the project's style, the formats, the bytes.

- :func:`style`: a context manager applying ``approx.mplstyle`` (shipped with the
  package, read through :mod:`importlib.resources`, so an installed wheel has it) for
  the figures drawn inside it; matplotlib's settings are restored on exit, nothing of
  pyplot's global state is touched;
- :func:`save_figure`: writes a figure in the format its file name asks (``.png``,
  ``.pdf``, ``.svg``: the suffix decides, never a PNG under another name), atomically
  for a path; to an open binary file in ``savefig.format``; or into a :class:`Capture`;
- :class:`Capture`: stands for a figure's file while it is drawn and keeps its bytes in
  each of several formats, so one drawing gives the PNG, PDF and SVG files of a sweep
  and the SVG of its report (with its text as text: a browser draws it);
- :func:`plain_log_labels`: log axes' tick labels as plain text with Unicode
  superscripts (``10⁻³``), the same labels without matplotlib's mathtext parser (applied
  to every figure written).

Every figure is written with fixed metadata (no creation date), so the same figure
gives the same bytes. A PNG holds the pixels matplotlib draws, in RGB where every pixel
is opaque (as the figures' white ground makes them), at zlib level :data:`PNG_LEVEL`.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import matplotlib as mpl
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, LogFormatterMathtext
from PIL import Image, PngImagePlugin

from approx.core import validate

__all__ = [
    "DEFAULT_DPI", "FORMATS", "MAGIC", "PNG_LEVEL", "Capture", "PlainPowers", "check_dpi",
    "parse_formats", "plain_log_labels", "plain_power", "ratio_label", "save_figure", "style",
    "style_file", "styled",
]

#: the formats a figure may be written in
FORMATS = ("png", "pdf", "svg")
#: the resolution of raster output (PNG, and the rasterized parts of PDF and SVG)
DEFAULT_DPI = 110
#: the first bytes of a file of each format (an SVG may start with its XML declaration)
MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "pdf": (b"%PDF-",), "svg": (b"<?xml", b"<svg")}
#: metadata written with each format: no date, so a figure's bytes depend on it alone
_METADATA: dict[str, dict[str, Any]] = {
    "png": {}, "pdf": {"CreationDate": None}, "svg": {"Date": None},
}
#: zlib's level for the PNGs written: 3 takes a third less CPU than matplotlib's 6, and
#: with RGB where every pixel is opaque (the figures' white ground) the files come out
#: about 6 % smaller than matplotlib's RGBA ones (the quickstart's figures)
PNG_LEVEL = 3
_F = TypeVar("_F", bound=Callable[..., Any])


def style_file() -> Traversable:
    """The project's matplotlib style file, as shipped with the package."""
    return importlib.resources.files("approx.experiment") / "approx.mplstyle"


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Draw the figures created inside with the project's style (``approx.mplstyle``).

    matplotlib's settings are restored on exit; drawing on bare
    :class:`~matplotlib.figure.Figure` objects inside keeps pyplot out of it.
    """
    # fontTools, subsetting a font into a PDF, warns that its "created" date is old
    fonts = logging.getLogger("fontTools")
    level = fonts.level
    fonts.setLevel(max(level, logging.ERROR))
    try:
        with importlib.resources.as_file(style_file()) as path, mpl.style.context(str(path)):
            yield
    finally:
        fonts.setLevel(level)


def styled(function: _F) -> _F:
    """``function`` drawing inside :func:`style` (for the public plot functions)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with style():
            return function(*args, **kwargs)

    wrapper.__name__ = function.__name__
    wrapper.__qualname__ = function.__qualname__
    wrapper.__doc__ = function.__doc__
    wrapper.__wrapped__ = function  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def parse_formats(text: str | Sequence[str], what: str = "--format") -> tuple[str, ...]:
    """The formats named in ``text`` ("png,pdf,svg", or a sequence), in order, once each.

    Raises
    ------
    ValueError
        One line naming the unknown format, or an empty list.
    """
    names = text.split(",") if isinstance(text, str) else list(text)
    formats = tuple(dict.fromkeys(n.strip().lower().lstrip(".") for n in names if n.strip()))
    for name in formats:
        if name not in FORMATS:
            raise ValueError(f"{what}: unknown figure format {name!r}; "
                             f"{validate.did_you_mean(name, FORMATS)}choose from "
                             f"{', '.join(FORMATS)} (comma-separated)")
    if not formats:
        raise ValueError(f"{what} is empty; give one or more of {', '.join(FORMATS)}, "
                         "e.g. png,pdf")
    return formats


def check_dpi(dpi: int, what: str = "--dpi") -> int:
    """``dpi`` if it is an integer from 20 to 2400.

    Raises
    ------
    ValueError
        One line, otherwise.
    """
    return validate.integer(dpi, what, minimum=20, maximum=2400)


#: a log axis's tick label in mathtext: ``$\mathdefault{[-][m\times]b^{e}}$``
_MATH_POWER = re.compile(
    r"^\$\\mathdefault\{(-?)(?:([0-9.]+)\\times)?([0-9]+)\^\{(-?[0-9]+)\}\}\$$"
)
#: a plain number in mathtext (``$\mathdefault{0}$``, from a symlog axis)
_MATH_NUMBER = re.compile(r"^\$\\mathdefault\{(-?[0-9.]+)\}\$$")
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def plain_power(label: str) -> str:
    r"""A log axis's mathtext tick label (``$\mathdefault{10^{-3}}$``,
    ``$\mathdefault{2\times10^{-3}}$``, ``$\mathdefault{0}$``) as plain text with
    Unicode superscripts (``10⁻³``, ``2×10⁻³``, ``0``); any other label unchanged."""
    match = _MATH_POWER.match(label)
    if match is None:
        number = _MATH_NUMBER.match(label)
        return label if number is None else number.group(1).replace("-", "−")
    sign, coeff, base, exponent = match.groups()
    head = "−" * bool(sign) + (f"{coeff}×" if coeff else "")
    return f"{head}{base}{exponent.translate(_SUPERSCRIPT)}"


def ratio_label(value: float) -> str:
    """A ratio's tick label as plain text: ``0.5``, ``2``, ``20`` from 10⁻³ up to 10⁴,
    a power of ten beyond (``10⁻⁶``, ``2×10⁻⁸``), never ``1e-06``."""
    if not value > 0 or 1e-3 <= value < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:.0e}".split("e")
    power = f"10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    return power if mantissa == "1" else f"{mantissa}×{power}"


class PlainPowers(Formatter):
    """A log formatter's labels (:class:`~matplotlib.ticker.LogFormatterMathtext` and
    its subclasses) as plain text (:func:`plain_power`): the same labels, drawn without
    the mathtext parser, which costs a figure with a few log axes about half its
    rendering time (labels are parsed again for every renderer)."""

    def __init__(self, inner: LogFormatterMathtext) -> None:
        self.inner = inner

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs: Any) -> None:
        self.inner.set_locs(locs)

    def __call__(self, x: float, pos: int | None = None) -> str:
        return plain_power(self.inner(x, pos))

    def format_data(self, value: float) -> str:
        return plain_power(self.inner.format_data(value))

    def format_data_short(self, value: float) -> str:
        return self.inner.format_data_short(value)

    def get_offset(self) -> str:
        return self.inner.get_offset()


def plain_log_labels(fig: Figure) -> None:
    """Give every log axis of ``fig`` whose labels are mathtext powers :class:`PlainPowers`
    (the same labels as plain text)."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for formatter, setter in ((axis.get_major_formatter(), axis.set_major_formatter),
                                      (axis.get_minor_formatter(), axis.set_minor_formatter)):
                if isinstance(formatter, LogFormatterMathtext):
                    setter(PlainPowers(formatter))


class Capture:
    """Stands for a figure's file: :func:`save_figure` keeps its bytes in each format.

    Parameters
    ----------
    name : str
        The figure's name (its file name without suffix); it salts the SVG's element
        ids, so SVGs of several figures can share one HTML page.
    formats : sequence of str
        Formats of :data:`FORMATS` to keep.
    dpi : int, optional
        Resolution of raster output; default the figure's own.
    svg_text : bool
        Write the SVG's text as text (``svg.fonttype: none``: the viewer's fonts draw
        it) instead of glyph outlines: for an SVG shown in a browser (the report's), at
        about a third of the outlines' rendering time and size. SVG files keep outlines.
    """

    def __init__(self, name: str, formats: Sequence[str], dpi: int | None = None,
                 svg_text: bool = False) -> None:
        self.name = name
        self.formats = tuple(formats)
        self.dpi = dpi
        self.svg_text = svg_text
        #: format → the figure's bytes, once drawn
        self.data: dict[str, bytes] = {}

    def take(self, fig: Figure) -> None:
        """Render ``fig`` in each format, laid out once (the first render's layout kept
        for the others: the layout engine is the larger part of a render)."""
        if self.formats[:1] == ("png",):
            _lay_out(fig, self.dpi)
        for k, fmt in enumerate(self.formats):
            buffer = io.BytesIO()
            settings: dict[str, Any] = {"svg.hashsalt": self.name}
            if fmt == "svg" and self.svg_text:
                settings["svg.fonttype"] = "none"
            with mpl.rc_context(settings):
                _savefig(fig, buffer, fmt, self.dpi or "figure")
            self.data[fmt] = buffer.getvalue()
            if k == 0 and len(self.formats) > 1:
                _freeze_layout(fig)


def _lay_out(fig: Figure, dpi: float | None = None) -> None:
    """Run ``fig``'s layout engine as a PNG at ``dpi`` (default the figure's own) would,
    then freeze the layout (:func:`_freeze_layout`). ``savefig`` with a layout engine
    first draws the whole figure with its output switched off at the resolution asked,
    only to run the engine on the way: that draw is a fifth of a figure's CPU and
    changes nothing (the PNG and SVG are byte for byte those of the two-draw path)."""
    engine = fig.get_layout_engine()
    if engine is None or not fig.axes:  # (Figure.draw runs an engine only with axes)
        return
    own = fig.dpi
    fig.dpi = own if dpi is None else dpi  # (as savefig sets it while it draws)
    try:
        engine.execute(fig)
    except ValueError:  # (as Figure.draw: a layout that cannot be done is skipped)
        pass
    finally:
        fig.dpi = own
    _freeze_layout(fig)


def _freeze_layout(fig: Figure) -> None:
    """Keep ``fig``'s axes where its layout engine last put them: no engine from now on,
    not even matplotlib's placeholder for ``"none"``, with which every later render
    would still draw the whole figure once more before drawing it (nothing is added to
    the figure after its first render, which the placeholder is for)."""
    with mpl.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
        fig.set_layout_engine(None)


def _savefig(fig: Figure, out: BinaryIO, fmt: str, dpi: float | str | None) -> None:
    """``fig.savefig`` in ``fmt`` at ``dpi`` (default ``savefig.dpi``) with the format's
    fixed metadata; a PNG by :func:`_png`."""
    dpi = mpl.rcParams["savefig.dpi"] if dpi is None else dpi
    if fmt == "png":
        _png(fig, out, dpi)
    else:
        fig.savefig(out, format=fmt, dpi=dpi, metadata=_METADATA.get(fmt))


def _png(fig: Figure, out: BinaryIO, dpi: float | str) -> None:
    """``fig`` as the PNG ``savefig`` writes (its pixels, matplotlib's metadata and the
    resolution), but in RGB where every pixel is opaque, at zlib level :data:`PNG_LEVEL`."""
    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=dpi)
    used = fig.dpi if dpi == "figure" else float(dpi)
    pixels = np.frombuffer(raw.getbuffer(), dtype=np.uint8)
    # the canvas's size: the figure's in pixels, which the canvas truncates (a product
    # such as 14.4 × 110 may land on either side of its integer)
    w, h = fig.get_size_inches() * used
    sizes = [(a, b) for a in {math.floor(w), math.ceil(w)} for b in {math.floor(h), math.ceil(h)}
             if 4 * a * b == pixels.size]
    if len(sizes) != 1:  # (not the canvas's size: matplotlib's own writer)
        fig.savefig(out, format="png", dpi=dpi, metadata=_METADATA["png"])
        return
    width, height = sizes[0]
    pixels = pixels.reshape(height, width, 4)
    opaque = bool((pixels[:, :, 3] == 255).all())
    image = Image.fromarray(np.ascontiguousarray(pixels[:, :, :3]) if opaque else pixels)
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"Matplotlib version{mpl.__version__}, https://matplotlib.org/")
    image.save(out, format="png", compress_level=PNG_LEVEL, pnginfo=info, dpi=(used, used))


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return suffix or "png"


def save_figure(fig: Figure, path: str | PathLike[str] | BinaryIO | Capture
                ) -> Path | BinaryIO | Capture:
    """Write ``fig`` and return where it went.

    Parameters
    ----------
    path : path, binary file or Capture
        A path: written atomically (through a temporary beside it) in the format its
        suffix names (``.png``, ``.pdf``, ``.svg``, or any other matplotlib writes; PNG
        without a suffix). A binary file opened for writing: written in matplotlib's
        ``savefig.format`` (PNG unless set). A :class:`Capture`: rendered in its formats.
    """
    plain_log_labels(fig)
    if isinstance(path, Capture):
        path.take(fig)
        return path
    if not isinstance(path, (str, PathLike)):
        fmt = mpl.rcParams["savefig.format"]
        fig.savefig(path, format=fmt, metadata=_METADATA.get(fmt))
        return path
    path = Path(path)
    fmt = _format_of(path)
    tmp = path.with_name(f".{path.name}.tmp.{fmt}")
    try:
        with open(tmp, "wb") as out:
            _savefig(fig, out, fmt, None)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
