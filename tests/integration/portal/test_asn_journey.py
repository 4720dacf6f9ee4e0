"""An ASN's main journey through the portal in real headless Chromium, at desktop size (1280x900) and on a
360x800 phone: sign in through the OpenID provider's form, the home page's JP chart, the catalogue and its
filters, enrolment, the .ics file, riwayat JP, sertifikat, kotak masuk (mark read) and sign-out. axe-core
checks every page visited (no serious or critical violation) and each main page is kept as a screenshot
(docs/screenshots/portal-<page>-<desktop|phone>.png)."""
from __future__ import annotations

from datetime import datetime

import pytest
import requests
from icalendar import Calendar
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select

from shared.timefmt import WIB
from tests.integration.portal.conftest import (
    assert_accessible, browser_sign_in, page_of, session_cookie, submit, wait,
)
from tests.portal_support import chromium, screenshot

# the desktop journey is Budi's, the phone's Rina's: each enrols once in the same programme
WHO = {"desktop": "asn", "phone": "asn2"}


def text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def visit(driver, site, path: str, page: str, size: str, shot: str | None = None) -> None:
    driver.get(site.url + path)
    wait(driver, lambda d: page_of(d) == page)
    assert_accessible(driver, f"{path} ({size})")
    if shot:
        screenshot(driver, shot, size)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_asn_signs_in_enrols_and_finds_their_jp_certificate_and_messages(site, size):
    person = site.people[WHO[size]]
    upcoming, seminar = site.programmes["upcoming"], site.programmes["seminar"]
    certificate = site.certificates[WHO[size]]
    with chromium(size) as driver:
        # -- sign-in page (anonymous) and through the provider ---------------------------------
        driver.get(site.url + "/")
        wait(driver, lambda d: "/masuk" in d.current_url and d.find_elements(By.ID, "sso-sign-in"))
        assert_accessible(driver, f"/masuk ({size})")
        screenshot(driver, "masuk", size)
        browser_sign_in(driver, site, person)
        assert page_of(driver) == "beranda"

        # -- beranda: this year's JP against the target, the checkpoint, what to do next -------
        assert_accessible(driver, f"/ ({size})")
        screenshot(driver, "beranda", size)
        assert text(driver, "#jp-total") == "32"
        chart = driver.find_element(By.ID, "jp-chart")
        assert chart.get_attribute("data-jp") == "32"
        target = int(chart.get_attribute("data-target"))
        assert text(driver, "#jp-target") == str(target) and target > 0
        assert int(chart.get_attribute("data-checkpoint-target")) <= target
        assert driver.find_element(By.ID, "jp-bar").is_displayed()
        quarter = (datetime.now(WIB).month - 1) // 3 + 1
        assert driver.find_element(By.ID, "checkpoint").get_attribute("data-checkpoint") == \
            f"{datetime.now(WIB).year}-Q{quarter}"
        suggested = [li.get_attribute("data-programme") for li in driver.find_elements(By.CSS_SELECTOR, "#suggestions li")]
        assert upcoming["code"] in suggested
        unread_before = int(text(driver, "#unread-count"))
        assert unread_before >= 2  # the completion and the certificate

        # -- katalog, filtered by kind then by month ----------------------------------------
        driver.find_element(By.ID, "nav-katalog").click()
        wait(driver, lambda d: page_of(d) == "katalog")
        assert_accessible(driver, f"/katalog ({size})")
        screenshot(driver, "katalog", size)
        listed = {li.get_attribute("data-programme") for li in driver.find_elements(By.CSS_SELECTOR, "#programmes li")}
        # the programmes still to come; the certification that has ended is no longer offered
        assert {upcoming["code"], seminar["code"]} <= listed and site.programmes["done"]["code"] not in listed
        Select(driver.find_element(By.ID, "filter-jenis")).select_by_value("seminar")
        submit(driver, "#catalogue-filters button[type=submit]")
        assert "jenis=seminar" in driver.current_url
        assert [li.get_attribute("data-programme") for li in driver.find_elements(By.CSS_SELECTOR, "#programmes li")] \
            == [seminar["code"]]
        assert_accessible(driver, f"/katalog?jenis=seminar ({size})")
        month = datetime.fromisoformat(upcoming["starts_at"].replace("Z", "+00:00")).astimezone(WIB).strftime("%Y-%m")
        Select(driver.find_element(By.ID, "filter-jenis")).select_by_value("")
        Select(driver.find_element(By.ID, "filter-bulan")).select_by_value(month)
        submit(driver, "#catalogue-filters button[type=submit]")
        by_month = {li.get_attribute("data-programme") for li in driver.find_elements(By.CSS_SELECTOR, "#programmes li")}
        assert upcoming["code"] in by_month and seminar["code"] not in by_month  # the seminar is months later
        seats_before = int(driver.find_element(
            By.CSS_SELECTOR, f'#programmes li[data-programme="{upcoming["code"]}"]').get_attribute("data-seats-left"))

        # -- the programme's page; enrol -----------------------------------------------------
        driver.find_element(By.CSS_SELECTOR, f'#programmes li[data-programme="{upcoming["code"]}"] a').click()
        wait(driver, lambda d: d.find_elements(By.ID, "programme"))
        assert driver.find_element(By.ID, "programme").get_attribute("data-code") == upcoming["code"]
        assert_accessible(driver, f"/katalog/{upcoming['code']} ({size})")
        screenshot(driver, "program", size)
        submit(driver, "#enrol-button")
        flash = driver.find_element(By.ID, "flash")
        assert flash.get_attribute("data-kind") == "ok" and "terdaftar" in flash.text.lower()
        mine = driver.find_element(By.ID, "my-enrolment")
        assert mine.get_attribute("data-status") == "enrolled"
        enrolment_id = mine.get_attribute("data-enrolment")
        assert_accessible(driver, f"/katalog/{upcoming['code']} enrolled ({size})")
        screenshot(driver, "program-terdaftar", size)
        # the catalogue shows the enrolment and one seat fewer
        driver.get(site.url + "/katalog")
        card = driver.find_element(By.CSS_SELECTOR, f'#programmes li[data-programme="{upcoming["code"]}"]')
        assert card.get_attribute("data-enrolment-status") == "enrolled"
        assert int(card.get_attribute("data-seats-left")) == seats_before - 1

        # -- the enrolment's calendar file (the browser's cookie, as a download would send it) -----
        driver.get(f"{site.url}/katalog/{upcoming['code']}")
        ics_href = driver.find_element(By.ID, "ics-link").get_attribute("href")
        assert ics_href == f"{site.url}/pendaftaran/{enrolment_id}.ics"
        ics = requests.get(ics_href, cookies=session_cookie(driver), timeout=30)
        assert ics.status_code == 200 and ics.headers["Content-Type"].startswith("text/calendar")
        assert "attachment" in ics.headers.get("Content-Disposition", "")
        [event] = Calendar.from_ical(ics.content).walk("VEVENT")
        assert enrolment_id in str(event["UID"]) and upcoming["title"] in str(event["SUMMARY"])
        assert requests.get(ics_href, timeout=30, allow_redirects=False).status_code in (303, 401)  # not without it

        # -- riwayat JP ------------------------------------------------------------------------
        visit(driver, site, "/riwayat", "riwayat", size, shot="riwayat")
        assert text(driver, "#year-total") == "32"
        rows = driver.find_elements(By.CSS_SELECTOR, "#ledger tbody tr[data-enrolment]")
        assert [r.get_attribute("data-enrolment") for r in rows] == [site.completed[WHO[size]]["id"]]
        assert certificate["number"] in rows[0].text

        # -- sertifikat: PDF, verification link, credential ------------------------------------
        visit(driver, site, "/sertifikat", "sertifikat", size, shot="sertifikat")
        item = driver.find_element(By.CSS_SELECTOR, f'#certificates li[data-certificate="{certificate["id"]}"]')
        assert item.get_attribute("data-status") == "valid" and certificate["number"] in item.text
        pdf = requests.get(driver.find_element(By.ID, f"pdf-{certificate['id']}").get_attribute("href"),
                           cookies=session_cookie(driver), timeout=30)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert driver.find_element(By.ID, f"verify-{certificate['id']}").get_attribute("href") == \
            certificate["verification_url"]
        credential = requests.get(driver.find_element(By.ID, f"credential-{certificate['id']}").get_attribute("href"),
                                  cookies=session_cookie(driver), timeout=30)
        assert credential.status_code == 200 and "OpenBadgeCredential" in credential.text

        # -- kotak masuk: the enrolment's message arrived; mark one read -------------------------
        visit(driver, site, "/kotak-masuk", "kotak-masuk", size)
        wait(driver, lambda d: _has_message(d, site, upcoming["title"]), timeout=30)
        assert_accessible(driver, f"/kotak-masuk ({size})")
        screenshot(driver, "kotak-masuk", size)
        unread = int(text(driver, "#unread"))
        first = driver.find_element(By.CSS_SELECTOR, '#inbox li[data-read="false"]')
        message_id = first.get_attribute("data-message")
        submit(driver, f"#mark-read-{message_id} button")
        assert driver.find_element(By.CSS_SELECTOR, f'#inbox li[data-message="{message_id}"]').get_attribute(
            "data-read") == "true"
        assert int(text(driver, "#unread")) == unread - 1
        assert not driver.find_elements(By.ID, f"mark-read-{message_id}")
        assert_accessible(driver, f"/kotak-masuk after marking ({size})")

        # -- sign out: the portal's session is gone (and the provider's, after its confirmation) ---
        old_cookie = session_cookie(driver)
        submit(driver, "#sign-out-button")
        if driver.find_elements(By.ID, "keluar-sso"):  # the provider asks before it signs out too
            driver.find_element(By.ID, "keluar-sso").click()
        wait(driver, lambda d: d.current_url.startswith(f"{site.url}/masuk") and d.find_elements(By.ID, "signed-out"))
        assert_accessible(driver, f"/masuk?keluar=1 ({size})")
        driver.get(site.url + "/riwayat")
        wait(driver, lambda d: "/masuk" in d.current_url)
        assert not driver.find_elements(By.ID, "user-name")
        # the old cookie no longer opens anything
        replay = requests.get(site.url + "/riwayat", cookies=old_cookie, allow_redirects=False, timeout=30)
        assert replay.status_code == 303 and "/masuk" in replay.headers["Location"]


def _has_message(driver, site, title: str) -> bool:
    if any(title in h.text for h in driver.find_elements(By.CSS_SELECTOR, "#inbox li h2")):
        return True
    driver.refresh()
    return False


def test_the_providers_role_claim_makes_an_operator_who_has_no_supervisor_pages(site):
    """The operator's role comes from the provider's role claim (PORTAL_ROLE_MAP), not from the roster."""
    with chromium("desktop") as driver:
        browser_sign_in(driver, site, site.people["operator"])
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-role") == "operator"
        assert driver.find_elements(By.ID, "nav-operator-plt")
        assert not driver.find_elements(By.ID, "nav-persetujuan") and not driver.find_elements(By.ID, "nav-tim")
        assert not driver.find_elements(By.ID, "nav-admin-log-akses")
        assert_accessible(driver, "/ as operator")
        driver.get(site.url + "/admin/log-akses")
        wait(driver, expected_conditions.presence_of_element_located((By.ID, "error")))
        assert driver.find_element(By.ID, "error").get_attribute("data-status") == "403"
        assert_accessible(driver, "/admin/log-akses refused to an operator")
