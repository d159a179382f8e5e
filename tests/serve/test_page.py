"""The status page as a person sees it, in Debian's headless Chromium driven by Selenium."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from energy_core.ingest.runner import RunConfig, run

from .conftest import ENTITY

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed: apt-get install chromium "
                    "chromium-driver (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,2000", "--lang=en-US"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_shows_freshness_runs_problems_and_the_forecast_against_actuals(browser, home, serve):
    from selenium.webdriver.common.by import By

    failed = run(RunConfig(sources=("eia",), start=datetime(2024, 2, 10, tzinfo=UTC),
                           end=datetime(2024, 2, 12, tzinfo=UTC), home=home, regions=(ENTITY,),
                           datasets=("eia.region",), simulate=True, offline=True))  # nothing cached: it fails
    assert not failed.ok
    server = serve()
    browser.get(server.url + "/")
    find = browser.find_element
    find_all = browser.find_elements

    assert browser.title == f"energy status: {home.name}"
    assert find(By.TAG_NAME, "h1").text == "energy status"
    cards = {card.find_element(By.TAG_NAME, "span").text: card.find_element(By.TAG_NAME, "b").text
             for card in find_all(By.CSS_SELECTOR, ".card")}
    assert cards == {"datasets and regions": "1", "runs": "2", "runs not ok": "1", "open problems": "3",
                     "entities": "1"}

    freshness = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
                 for row in find_all(By.CSS_SELECTOR, "table.freshness tbody tr")]
    assert [(row[0], row[1], row[5], row[6], row[7]) for row in freshness] == [
        ("eia.region", "PACW", "0", "3,840", "failed")]
    assert "Feb 9, 2024" in freshness[0][3] and "ago" in freshness[0][3]  # the script shows the reader's time

    problems = [row.text for row in find_all(By.CSS_SELECTOR, "table.problems tbody tr")]
    assert problems[0].startswith(f"run {failed.run_id} failed: run eia")
    assert problems[1].startswith("window eia.region PACW failed 2024-02-10 to 2024-02-12: eia:")
    assert "is not in the raw cache" in find(By.CSS_SELECTOR, "table.problems tbody tr.window span") \
        .get_attribute("title")
    assert problems[2].startswith("pending eia eia.region 1 window(s) pending")
    assert "Alerts (freshness, drift) arrive with the monitoring issue" in find(By.CSS_SELECTOR, "p.note").text

    runs = [row.find_elements(By.TAG_NAME, "td")[2].text for row in find_all(By.CSS_SELECTOR, "table.runs tbody tr")]
    assert runs == ["failed", "ok"]

    figure = find(By.ID, f"forecast-{ENTITY}")
    assert figure.find_element(By.TAG_NAME, "figcaption").text.startswith(
        "PACW: eia.demand. Forecast issued ")
    plot = figure.find_element(By.CSS_SELECTOR, "svg.plot")
    assert plot.is_displayed() and plot.size["width"] > 400
    actual = plot.find_element(By.CSS_SELECTOR, "path.actual").get_attribute("d")
    forecast = plot.find_element(By.CSS_SELECTOR, "path.forecast").get_attribute("d")
    assert actual.count("L") == 71 and forecast.count("L") == 23  # 72 hours drawn, then the 24 forecast
    assert len(plot.find_elements(By.CSS_SELECTOR, "circle.forecast")) == 24
    assert [t.text for t in plot.find_elements(By.CSS_SELECTOR, "text.legend")] == [
        "actual", "latest forecast", "earlier forecasts", "P10 to P90"]
    assert plot.find_element(By.CSS_SELECTOR, "path.band").get_attribute("d").count("L") == 47  # 24 up, 24 back
    last_actual_x = float(actual.split()[-1][1:].split(",")[0])
    first_forecast_x = float(forecast.split()[0][1:].split(",")[0])
    assert first_forecast_x > last_actual_x, "the forecast starts after the last actual hour"
