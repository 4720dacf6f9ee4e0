"""The dashboard in a real headless browser (Debian chromium + chromium-driver via selenium)."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.integration.reporting import scenario
from tests.support import auth_token
from shared.auth import TOKEN_COOKIE
from tests.integration.reporting.conftest import apply_directly, scenario_events

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,2000")


@pytest.fixture
def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("the dashboard test needs Debian's `chromium` and `chromium-driver` "
                    "(apt-get install -y chromium chromium-driver); not found on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def test_the_dashboard_shows_the_seeded_figures_and_charts_and_filters_by_agency(start, settings, store, cfg, browser):
    apply_directly(store, scenario_events(scenario.with_roster()), cfg)
    start(clock=lambda: datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc))
    # a browser carries the token as the dashboard cookie (set on the service's origin first)
    browser.get(f"http://{settings.http_address}/health/live")
    browser.add_cookie({"name": TOKEN_COOKIE, "value": auth_token("admin")})
    browser.get(f"http://{settings.http_address}/dashboard?year=2026")

    assert "Dasbor Pengembangan Kompetensi ASN" in browser.title
    assert text(browser, "#known-asn") == "10"
    assert text(browser, "#met-target") == "2"
    assert text(browser, "#met-rate") == "20%"
    assert text(browser, "#average-jp") == "7"
    assert text(browser, "#certificates-issued") == "2"
    # The roster: all ten active on it, N1 (DINKES) never took part, nobody off it earned JP.
    assert (text(browser, "#rostered-asn"), text(browser, "#never-enrolled"), text(browser, "#unlisted-asn")) == \
        ("10", "1", "0")
    dinkes = browser.find_element(By.CSS_SELECTOR, '#table tbody tr[data-agency="DINKES"]')
    assert [dinkes.find_element(By.CSS_SELECTOR, f"td.{c}").text for c in ("known", "rostered", "never")] == \
        ["3", "3", "1"]
    assert [r.get_attribute("data-agency") for r in browser.find_elements(By.CSS_SELECTOR, "#belum-ikut tbody tr")] \
        == ["DINKES"]
    bars = {g.get_attribute("data-agency"): g.text for g in browser.find_elements(By.CSS_SELECTOR, "#compliance g.bar")}
    assert set(bars) == {"DISKOMINFO", "SETDA", "DINKES"}
    assert "10,7 JP · 1/3 ASN" in bars["SETDA"]
    assert "Target 20 JP" in text(browser, "#compliance")
    buckets = {g.get_attribute("data-bucket"): int(g.get_attribute("data-count"))
               for g in browser.find_elements(By.CSS_SELECTOR, "#distribution g.bucket")}
    assert buckets == scenario.DISTRIBUTION_2026
    march = browser.find_element(By.CSS_SELECTOR, '#trend g.month[data-month="2026-03"]')
    assert (march.get_attribute("data-completions"), march.get_attribute("data-certificates")) == ("4", "2")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "reporting-dashboard.png"))

    Select(browser.find_element(By.ID, "agency")).select_by_value("SETDA")
    browser.find_element(By.CSS_SELECTOR, "#filters button").click()
    # The click submits a GET form: on a loaded machine the new page may not have loaded yet.
    WebDriverWait(browser, 15).until(expected_conditions.url_contains("agency=SETDA"))
    assert text(browser, "#known-asn") == "3"
    assert text(browser, "#met-target") == "1"
    assert [r.get_attribute("data-agency") for r in browser.find_elements(By.CSS_SELECTOR, "#table tbody tr")] == \
        ["SETDA"]
    assert browser.save_screenshot(str(ARTIFACTS / "reporting-dashboard-setda.png"))
    assert "Semua ASN aktif di daftar ASN sudah pernah ikut" in text(browser, "#belum-ikut")

    # One OPD's page names its ASN who never took part, and offers the exports.
    Select(browser.find_element(By.ID, "agency")).select_by_value("DINKES")
    browser.find_element(By.CSS_SELECTOR, "#filters button").click()
    WebDriverWait(browser, 15).until(expected_conditions.url_contains("agency=DINKES"))
    listed = browser.find_elements(By.CSS_SELECTOR, "#belum-ikut tbody tr")
    assert [(r.get_attribute("data-nip"), r.find_element(By.CSS_SELECTOR, "td.name").text) for r in listed] == \
        [(scenario.N1["nip"], "Nurhayati")]
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#belum-ikut a")]
    assert any(h.endswith("/exports/never-enrolled.xlsx?year=2026&agency=DINKES") for h in links)
    assert browser.save_screenshot(str(ARTIFACTS / "reporting-dashboard-dinkes-belum-ikut.png"))
