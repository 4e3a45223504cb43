"""Figures in the format their name asks, at the resolution asked, in the project's style;
the formats recorded for --replot; the style and templates shipped as package data."""

from __future__ import annotations

import fnmatch
import importlib.resources
import io
import tomllib
import warnings
from pathlib import Path

import matplotlib as mpl
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from approx.experiment import Store, classification_plots, figstyle, parse_config, plots, run_sweep
from approx.experiment.folder import is_artefact

ROOT = Path(__file__).resolve().parents[2]


def _magic(data: bytes, fmt: str) -> bool:
    return data.startswith(figstyle.MAGIC[fmt])


def _accuracy_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {"dataset": "xor", "method": "rff", "width": w, "replicate": 0, "accuracy": 1 - 1 / w}
        for w in (2, 8, 32)
    )


@pytest.fixture
def swept(fake_methods, fake_config, tmp_path):
    config = parse_config(fake_config)
    return config, run_sweep(config, tmp_path / "sweep", jobs=1)


@pytest.mark.parametrize("fmt", figstyle.FORMATS)
def test_plot_functions_write_the_format_their_suffix_names(swept, tmp_path, fmt):
    config, table = swept
    convergence = plots.plot_convergence(table, config, tmp_path / f"convergence.{fmt}")
    accuracy = classification_plots.plot_accuracy(_accuracy_rows(), tmp_path / f"acc.{fmt}")
    for path in (convergence, accuracy):
        data = Path(path).read_bytes()
        assert _magic(data, fmt), data[:16]
        for other in set(figstyle.FORMATS) - {fmt}:
            assert not _magic(data, other)
    # written through a temporary that is gone
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(
        [f"convergence.{fmt}", f"acc.{fmt}"])


def test_an_open_file_gets_the_format_in_force():
    for fmt in figstyle.FORMATS:
        buffer = io.BytesIO()
        with mpl.rc_context({"savefig.format": fmt}):
            classification_plots.plot_accuracy(_accuracy_rows(), buffer)
        assert _magic(buffer.getvalue(), fmt)


def test_one_drawing_gives_every_format_at_the_dpi_asked():
    fig = Figure(figsize=(2.0, 1.0), dpi=110)
    fig.subplots().plot([0, 1], [1, 0])
    small, large = (figstyle.Capture("f", figstyle.FORMATS, dpi) for dpi in (100, 300))
    for capture in (small, large):
        figstyle.save_figure(fig, capture)
        assert all(_magic(capture.data[f], f) for f in figstyle.FORMATS)
    shapes = [matplotlib.image.imread(io.BytesIO(c.data["png"])).shape for c in (small, large)]
    assert shapes[0][:2] == (100, 200) and shapes[1][:2] == (300, 600)
    # fixed metadata: the same figure gives the same bytes
    again = figstyle.Capture("f", figstyle.FORMATS, 100)
    figstyle.save_figure(fig, again)
    assert again.data == small.data


def test_the_style_applies_inside_its_context_only():
    before = dict(mpl.rcParams)
    seen = {}

    @figstyle.styled
    def draw():
        seen.update(top=mpl.rcParams["axes.spines.top"], size=mpl.rcParams["font.size"])

    draw()
    assert seen == {"top": False, "size": 9.0}
    assert dict(mpl.rcParams) == before
    with figstyle.style():
        assert mpl.rcParams["pdf.fonttype"] == 42
    assert dict(mpl.rcParams) == before


def test_formats_and_dpi_are_checked():
    assert figstyle.parse_formats(" png, PDF,svg,png") == ("png", "pdf", "svg")
    with pytest.raises(ValueError, match=r"--format: unknown figure format 'jpg'"):
        figstyle.parse_formats("png,jpg")
    with pytest.raises(ValueError, match="did you mean 'svg'"):
        figstyle.parse_formats("sgv")
    with pytest.raises(ValueError, match="empty"):
        figstyle.parse_formats(" , ")
    assert figstyle.check_dpi(300) == 300
    for bad in (5, 10_000, 1.5, True):
        with pytest.raises((ValueError, TypeError), match="--dpi"):
            figstyle.check_dpi(bad)


def _small(fake_config: str) -> str:
    """The fake sweep cut to one target, two widths and one replicate (its figures draw
    in a fraction of the time)."""
    text = fake_config.replace("replicates = 2", "replicates = 1").replace(
        "widths = [3, 6, 12]", "widths = [3, 6]")
    head, bump = text.split('[[targets]]\nname = "bump"')
    return head + bump[bump.index("[[methods]]"):]


def test_a_sweep_writes_each_format_records_them_and_replot_keeps_them(
        fake_methods, fake_config, tmp_path):
    config = parse_config(_small(fake_config))
    run_sweep(config, tmp_path, jobs=1, plots=True, formats=["svg", "pdf"], dpi=150)
    files = sorted(p.name for p in (tmp_path / "plots").iterdir())
    stems = ["convergence", "fits_sin2pi", "training_sin2pi"]
    assert files == sorted(f"{s}.{f}" for s in stems for f in ("pdf", "svg"))
    with Store.read(tmp_path) as store:
        assert store.figure_settings() == (("svg", "pdf"), 150)
        assert {f"plots/{f}" for f in files} <= store.written()
        settings = store.invocations()[-1]["settings"]
    assert settings["figure_formats"] == ["svg", "pdf"] and settings["figure_dpi"] == 150
    for name in files:
        assert is_artefact(f"plots/{name}", config)
        assert _magic((tmp_path / "plots" / name).read_bytes(), name.rpartition(".")[2])
    # --replot without --format: the recorded formats
    paths, skipped = plots.plot_folder(tmp_path)
    assert skipped == [] and sorted(p.name for p in paths) == files
    # with --format: those, recorded for the next one
    paths, _ = plots.plot_folder(tmp_path, formats=("png",))
    assert sorted(p.name for p in paths) == [f"{s}.png" for s in stems]
    with Store.read(tmp_path) as store:
        assert store.figure_settings() == (("png",), 150)
    assert not is_artefact("plots/convergence.jpg", config)
    assert not is_artefact("plots/elsewhere.svg", config)


def test_a_figure_of_the_users_in_another_format_is_never_overwritten(
        fake_methods, fake_config, tmp_path):
    from approx.experiment.store import StoreError

    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "convergence.pdf").write_bytes(b"my own figure")
    with pytest.raises(StoreError, match=r"convergence\.pdf was not written by a sweep"):
        run_sweep(parse_config(_small(fake_config)), tmp_path, jobs=1, plots=True,
                  formats=["pdf"])
    assert (tmp_path / "plots" / "convergence.pdf").read_bytes() == b"my own figure"


def _package_data() -> dict[str, list[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return pyproject["tool"]["setuptools"]["package-data"]


def test_the_style_and_templates_are_package_data():
    """Every file of the package that is not Python is declared as package data (so a
    wheel has it), and is read through importlib.resources."""
    declared = _package_data()
    package = ROOT / "approx"
    data = [p for p in package.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts]
    assert {p.name for p in data} >= {"approx.mplstyle", "report.html.j2", "report.js"}
    for path in data:
        rel = path.relative_to(package.parent)
        owners = [(pkg, pattern) for pkg, patterns in declared.items() for pattern in patterns
                  if rel.as_posix().startswith(pkg.replace(".", "/") + "/") and fnmatch.fnmatch(
                      rel.as_posix()[len(pkg) + 1:], pattern)]
        assert owners, f"{rel} is not declared in [tool.setuptools.package-data]"
        pkg, _ = owners[0]
        resource = importlib.resources.files(pkg).joinpath(rel.as_posix()[len(pkg) + 1:])
        assert resource.read_bytes() == path.read_bytes()
    with warnings.catch_warnings():  # a key matplotlib does not know warns
        warnings.simplefilter("error")
        with importlib.resources.as_file(figstyle.style_file()) as style:
            params = mpl.rc_params_from_file(str(style), use_default_template=False)
    assert params["pdf.fonttype"] == 42 and "savefig.format" not in params


@pytest.mark.slow
def test_a_built_wheel_holds_the_style_and_templates(tmp_path):
    """The package data in a wheel built from the checkout (a non-editable install)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    pytest.importorskip("setuptools")
    source = tmp_path / "source"  # a copy: building writes build/ and egg-info beside it
    shutil.copytree(ROOT / "approx", source / "approx",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr.strip()[-300:]}")
    (wheel,) = tmp_path.glob("approx-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"approx/experiment/approx.mplstyle", "approx/experiment/templates/report.html.j2",
            "approx/experiment/templates/report.js",
            "approx/experiment/templates/report.css"} <= names
    assert np.all([n.startswith(("approx/", "approx-")) for n in names])


def test_a_copy_of_a_sweeps_figures_and_report_is_taken_as_its_own(
        fake_methods, fake_config, tmp_path):
    import shutil

    config = parse_config(_small(fake_config))
    run_sweep(config, tmp_path / "a", jobs=1, plots=True, formats=["pdf", "svg"])
    copy = tmp_path / "b"
    (copy / "plots").mkdir(parents=True)
    copied = ["plots/convergence.pdf", "plots/convergence.svg", "report.html"]
    for rel in copied:
        shutil.copy(tmp_path / "a" / rel, copy / rel)
    run_sweep(config, copy, jobs=1)  # no store, but every file looks like the sweep's
    with Store.read(copy) as store:
        assert set(copied) <= store.written()


@pytest.mark.parametrize(("label", "plain"), [
    (r"$\mathdefault{10^{-3}}$", "10⁻³"),
    (r"$\mathdefault{10^{0}}$", "10⁰"),
    (r"$\mathdefault{10^{12}}$", "10¹²"),
    (r"$\mathdefault{2\times10^{-12}}$", "2×10⁻¹²"),
    (r"$\mathdefault{-10^{5}}$", "−10⁵"),
    (r"$\mathdefault{2^{-7}}$", "2⁻⁷"),
    (r"$\mathdefault{0}$", "0"),
    ("", ""),
    ("0.5", "0.5"),
    (r"$\mathdefault{10^{-0.50}}$", r"$\mathdefault{10^{-0.50}}$"),  # (not a power: kept)
    (r"$d^{-2}$", r"$d^{-2}$"),
])
def test_plain_power_spells_a_log_label_in_unicode(label, plain):
    assert figstyle.plain_power(label) == plain


def test_log_axes_get_the_same_labels_as_plain_text():
    fig = Figure(figsize=(3.0, 2.0))
    ax = fig.subplots()
    ax.loglog([1e-7, 1e3], [3e-3, 4e-2])  # decades on x; minor labels (2×10⁻²) on y
    fig.canvas.draw()
    before = {axis: [t.get_text() for t in axis.get_ticklabels(which="both")]
              for axis in (ax.xaxis, ax.yaxis)}
    assert any(r"\times" in s for s in before[ax.yaxis])
    figstyle.save_figure(fig, io.BytesIO())  # (a figure written gets plain labels)
    fig.canvas.draw()
    for axis, labels in before.items():
        after = [t.get_text() for t in axis.get_ticklabels(which="both")]
        assert after == [figstyle.plain_power(s) for s in labels]
        assert any(after) and not any("$" in s for s in after)


def test_a_report_svg_has_its_text_as_text_and_files_keep_outlines():
    fig = Figure(figsize=(2.0, 1.0))
    ax = fig.subplots()
    ax.set_title("a title")
    ax.semilogy([1, 2], [1e-3, 1e-1])
    report = figstyle.Capture("f", ("png", "svg"), svg_text=True)
    files = figstyle.Capture("f", ("png", "svg"))
    for capture in (report, files):
        figstyle.save_figure(fig, capture)
    text = report.data["svg"].decode()
    assert "a title</text>" in text and "10⁻³</text>" in text
    assert "</text>" not in files.data["svg"].decode()  # glyph outlines only
    assert len(report.data["svg"]) < len(files.data["svg"])


def test_formats_after_the_first_are_drawn_once_with_its_layout():
    fig = Figure(figsize=(2.0, 1.0), layout="constrained")
    fig.subplots().plot([0, 1], [1, 0])
    capture = figstyle.Capture("f", ("png", "svg", "pdf"))
    figstyle.save_figure(fig, capture)
    assert fig.get_layout_engine() is None
    position = fig.axes[0].get_position().bounds
    alone = Figure(figsize=(2.0, 1.0), layout="constrained")
    alone.subplots().plot([0, 1], [1, 0])
    figstyle.save_figure(alone, figstyle.Capture("f", ("png",)))
    assert alone.axes[0].get_position().bounds == position  # the first render's layout


def _busy_figure() -> Figure:
    fig = Figure(figsize=(5.0, 3.0), layout="constrained")
    axes = fig.subplots(2, 2)
    x = np.linspace(0.1, 10.0, 200)
    for k, ax in enumerate(axes.flat):
        ax.loglog(x, x ** -(k + 1.0), marker="o", markevery=20, label=f"d^-{k + 1}")
        ax.set_title(f"panel {k}")
        ax.set_xlabel("width d")
        ax.legend()
    fig.suptitle("a figure laid out by its engine")
    return fig


@pytest.mark.parametrize("dpi", [None, figstyle.DEFAULT_DPI, 45])
def test_a_png_laid_out_ahead_is_the_one_savefig_draws_itself(monkeypatch, dpi):
    with figstyle.style():
        ahead = figstyle.Capture("f", ("png", "svg"), dpi)
        fig = _busy_figure()
        figstyle.save_figure(fig, ahead)
        assert fig.dpi == _busy_figure().dpi  # (its own resolution given back)
        monkeypatch.setattr(figstyle, "_lay_out", lambda fig, dpi: None)  # savefig's way
        itself = figstyle.Capture("f", ("png", "svg"), dpi)
        figstyle.save_figure(_busy_figure(), itself)
    assert ahead.data == itself.data


def test_the_layout_ahead_runs_at_the_resolution_asked(monkeypatch):
    seen = []
    monkeypatch.setattr(figstyle, "_freeze_layout", lambda fig: seen.append(fig.dpi))
    figstyle._lay_out(_busy_figure(), 45)
    assert seen == [_busy_figure().dpi]  # frozen after the figure got its own back
    dpis = []
    fig = _busy_figure()
    engine = fig.get_layout_engine()
    monkeypatch.setattr(engine, "execute", lambda f: dpis.append(f.dpi))
    figstyle._lay_out(fig, 45)
    assert dpis == [45]


@pytest.mark.parametrize(("value", "label"), [
    (1.0, "1"), (0.5, "0.5"), (20.0, "20"), (0.001, "0.001"), (5000.0, "5000"),
    (1e-6, "10⁻⁶"), (2e-8, "2×10⁻⁸"), (1e5, "10⁵"), (0.0, "0"),
])
def test_ratio_labels_are_plain_numbers_near_1_and_powers_of_ten_far_from_it(value, label):
    assert figstyle.ratio_label(value) == label


def _pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


@pytest.mark.parametrize(("size", "dpi"),
                         [((14.4, 7.4), 110), ((5.0, 3.0), 45), ((2.1, 1.3), None)])
def test_a_png_has_the_pixels_matplotlib_writes_in_rgb_where_opaque(size, dpi):
    from PIL import Image

    with figstyle.style():
        fig = _busy_figure()
        fig.set_size_inches(size)  # (14.4 × 110 is a hair under its integer in floats)
        ours = figstyle.Capture("f", ("png",), dpi)
        figstyle.save_figure(fig, ours)
        theirs = io.BytesIO()
        fig.savefig(theirs, format="png", dpi=dpi or "figure", metadata={})
    image = Image.open(io.BytesIO(ours.data["png"]))
    want = Image.open(io.BytesIO(theirs.getvalue()))
    assert image.mode == "RGB" and want.mode == "RGBA"
    assert image.size == want.size and image.info["dpi"] == want.info["dpi"]
    assert image.info["Software"] == want.info["Software"]
    np.testing.assert_array_equal(_pixels(ours.data["png"]), _pixels(theirs.getvalue()))


def _plain_figure(alpha: float = 1.0) -> Figure:
    """A figure without a layout engine (each render the same) on a ground of ``alpha``."""
    fig = Figure(figsize=(3.0, 2.0))
    fig.patch.set_alpha(alpha)
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [1, 0, 1], lw=3)
    ax.set_title("a title")
    return fig


def test_a_png_with_transparent_pixels_keeps_them(tmp_path):
    fig = _plain_figure(alpha=0.0)
    figstyle.save_figure(fig, tmp_path / "f.png")
    theirs = io.BytesIO()
    fig.savefig(theirs, format="png", metadata={})
    data = (tmp_path / "f.png").read_bytes()
    assert _magic(data, "png")
    pixels = _pixels(data)
    assert (pixels[..., 3] < 255).any()
    np.testing.assert_array_equal(pixels, _pixels(theirs.getvalue()))


def test_a_canvas_of_another_size_falls_back_to_matplotlibs_png(monkeypatch):
    fig = _plain_figure()
    real = fig.get_size_inches
    monkeypatch.setattr(fig, "get_size_inches", lambda: real() * 0.5)  # not the canvas's
    out = io.BytesIO()
    figstyle._png(fig, out, 100)
    theirs = io.BytesIO()
    fig.savefig(theirs, format="png", dpi=100, metadata={})
    assert out.getvalue() == theirs.getvalue()  # matplotlib's own bytes
