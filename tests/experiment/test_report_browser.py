"""report.html in a real browser: headless Chromium driven by selenium opens the report
of a cut quickstart (two widths, one replicate) and checks what a reader sees.

Skipped where selenium, Chromium or its driver (``chromedriver``) is absent; ``.ci/run``
installs the last two from the distribution's packages when it can. Set
``APPROX_REPORT_SCREENSHOTS`` to a folder to keep the screenshots.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import matplotlib.image
import pytest

from approx.experiment import load_config, run_sweep

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

BROWSER = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(BROWSER is None or DRIVER is None,
                       reason="no headless Chromium and chromedriver (apt-get install "
                       "chromium chromium-driver)"),
]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """The quickstart cut to two widths and one replicate, run with its figures."""
    folder = tmp_path_factory.mktemp("quickstart")
    config = load_config(ROOT / "experiments" / "quickstart.toml",
                         ["widths=[4, 8]", "replicates=1"])
    table = run_sweep(config, folder, jobs=1, plots=True)
    return folder, table


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1600",
                     "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _visible(driver) -> list:
    return [r for r in driver.find_elements(By.CSS_SELECTOR, "#run-table tbody tr")
            if r.is_displayed()]


def _not_blank(png: bytes) -> tuple[float, float]:
    """The screenshot's pixel standard deviation and its share of non-white pixels."""
    pixels = matplotlib.image.imread(io.BytesIO(png))[..., :3]
    return float(pixels.std()), float((pixels.min(axis=-1) < 0.9).mean())


def _keep(name: str, png: bytes) -> None:
    folder = os.environ.get("APPROX_REPORT_SCREENSHOTS")
    if folder:
        Path(folder, name).write_bytes(png)


def test_the_report_renders_filters_and_shows_every_figure(quickstart, browser):
    folder, table = quickstart
    browser.get((folder / "report.html").as_uri())
    assert browser.title == "quickstart: sweep report"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    # the table holds every run, and the filters select what they say
    assert len(_visible(browser)) == len(table) == len(set(table["run_id"]))
    method = Select(browser.find_element(By.CSS_SELECTOR, "#filters select[data-name='method']"))
    method.select_by_visible_text("chebyshev")
    assert len(_visible(browser)) == (table["method"] == "chebyshev").sum() > 0
    width = Select(browser.find_element(By.CSS_SELECTOR, "#filters select[data-name='width']"))
    width.select_by_visible_text("8")
    rows = _visible(browser)
    assert len(rows) == ((table["method"] == "chebyshev") & (table["width"] == 8)).sum()
    assert all("chebyshev" in r.text and ".d8." in r.text for r in rows)
    assert browser.find_element(By.ID, "shown").text == f"showing {len(rows)} of {len(table)} runs"
    method.select_by_index(0)
    width.select_by_index(0)
    status = Select(browser.find_element(By.CSS_SELECTOR, "#filters select[data-name='status']"))
    status.select_by_visible_text("ok")
    assert len(_visible(browser)) == (table["status"] == "ok").sum()
    status.select_by_index(0)
    # sorting by max error puts the smallest first
    header = browser.find_element(By.XPATH, "//table[@id='run-table']//th[.='max_error']")
    header.click()
    first = _visible(browser)[0].find_elements(By.TAG_NAME, "td")[0].text
    assert first == table.loc[table["max_error"].idxmin(), "run_id"]
    # every figure is there, drawn: an SVG of real size with its paths, not blank
    figures = sorted(p.stem for p in (folder / "plots").iterdir())
    shown = browser.find_elements(By.CSS_SELECTOR, "figure.figure")
    assert sorted(f.get_attribute("id").removeprefix("figure-") for f in shown) == figures
    for figure in shown:
        svg = figure.find_element(By.TAG_NAME, "svg")
        assert svg.size["width"] > 300 and svg.size["height"] > 150
        assert browser.execute_script(
            "return arguments[0].querySelectorAll('path').length", svg) > 20
    browser.execute_script("arguments[0].scrollIntoView()", shown[0])
    picture = shown[0].screenshot_as_png
    _keep("figure.png", picture)
    assert _not_blank(picture)[0] > 0.05
    browser.execute_script("window.scrollTo(0, 0)")
    page = browser.get_screenshot_as_png()
    _keep("report.png", page)
    spread, inked = _not_blank(page)
    assert spread > 0.05 and inked > 0.01
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
