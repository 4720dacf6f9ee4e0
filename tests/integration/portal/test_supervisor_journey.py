"""Supervisor approval (izin atasan) through the portal in real headless Chromium: an ASN enrols in a programme
that needs their supervisor's approval and waits; the supervisor signs in, finds the request in /persetujuan
and approves it; the link from the e-mail, opened afterwards, says it was already decided; a second request is
approved from its link on a phone and the link used again says already decided; tim saya shows the staff in
name order without an aggregate for fewer than 5. axe-core on every page; screenshots of the main pages."""
from __future__ import annotations

import re

from selenium.webdriver.common.by import By

from tests.e2e.conftest import text_of
from tests.integration.portal.conftest import (
    assert_accessible, browser_sign_in, page_of, submit, wait,
)
from tests.portal_support import chromium, screenshot


def request_link(site, participant) -> str:
    """The approval link in the e-mail the supervisor received about this participant's request."""
    mail = site.smtp.wait_for(site.supervisor.email, f"Permohonan izin atasan: {participant.name}", timeout=60)
    [link] = re.findall(rf"{re.escape(site.url)}/persetujuan/[A-Za-z0-9_.=-]+", text_of(mail))
    return link


def enrol_in_browser(driver, site, code: str) -> str:
    driver.get(f"{site.url}/katalog/{code}")
    wait(driver, lambda d: d.find_elements(By.ID, "enrol-button"))
    assert driver.find_elements(By.ID, "approval-note"), "the page says the supervisor must approve"
    submit(driver, "#enrol-button")
    flash = driver.find_element(By.ID, "flash")
    assert "menunggu persetujuan atasan" in flash.text
    mine = driver.find_element(By.ID, "my-enrolment")
    assert mine.get_attribute("data-status") == "awaiting_approval"
    return mine.get_attribute("data-enrolment")


def test_a_supervisor_approves_from_the_portal_and_a_used_link_says_already_decided(site):
    seminar = site.programmes["seminar"]["code"]
    budi, rina = site.people["asn"], site.people["asn2"]

    # -- two staff ask to join the seminar ----------------------------------------------------
    with chromium("desktop") as driver:
        browser_sign_in(driver, site, budi)
        budi_enrolment = enrol_in_browser(driver, site, seminar)
        assert_accessible(driver, "/katalog/<seminar> awaiting approval")
        screenshot(driver, "program-menunggu-persetujuan", "desktop")
        driver.get(site.url + "/")
        waiting = [li.get_attribute("data-enrolment") for li in driver.find_elements(By.CSS_SELECTOR,
                                                                                        "#waiting-approval li")]
        assert waiting == [budi_enrolment]
    with chromium("phone") as driver:
        browser_sign_in(driver, site, rina)
        rina_enrolment = enrol_in_browser(driver, site, seminar)
        assert_accessible(driver, "/katalog/<seminar> awaiting approval (phone)")
        screenshot(driver, "program-menunggu-persetujuan", "phone")

    # -- the supervisor decides Budi's from /persetujuan ---------------------------------------
    with chromium("desktop") as driver:
        browser_sign_in(driver, site, site.supervisor)
        assert driver.find_elements(By.ID, "nav-persetujuan") and driver.find_elements(By.ID, "nav-tim")
        assert driver.find_elements(By.ID, "pending-approvals")
        driver.find_element(By.ID, "nav-persetujuan").click()
        wait(driver, lambda d: page_of(d) == "persetujuan")
        awaiting = {li.get_attribute("data-enrolment") for li in driver.find_elements(By.CSS_SELECTOR, "#awaiting li")}
        assert awaiting == {budi_enrolment, rina_enrolment}
        assert budi.name in driver.find_element(By.CSS_SELECTOR, f'#awaiting li[data-enrolment="{budi_enrolment}"]').text
        assert_accessible(driver, "/persetujuan")
        screenshot(driver, "persetujuan", "desktop")
        # declining needs a reason: an empty one is refused beside the field
        submit(driver, f"#decline-button-{budi_enrolment}")
        assert driver.find_elements(By.ID, f"reason-error-{budi_enrolment}")
        assert_accessible(driver, "/persetujuan with a field error")
        submit(driver, f"#approve-button-{budi_enrolment}")
        assert driver.find_element(By.ID, "flash").get_attribute("data-kind") == "ok"
        decided = driver.find_element(By.CSS_SELECTOR, f'#decided li[data-enrolment="{budi_enrolment}"]')
        assert decided.get_attribute("data-decision") == "approved"
        assert [li.get_attribute("data-enrolment") for li in driver.find_elements(By.CSS_SELECTOR, "#awaiting li")] \
            == [rina_enrolment]
        assert site.get("enrollment", f"/enrolments/{budi_enrolment}")["status"] == "enrolled"

        # the e-mail's link for Budi's request, opened after the decision: already decided
        driver.get(request_link(site, budi))
        wait(driver, lambda d: page_of(d) == "persetujuan-tautan")
        assert "sudah diputuskan" in driver.find_element(By.ID, "already-decided").text.lower()
        assert not driver.find_elements(By.ID, "link-approve-button")
        assert_accessible(driver, "/persetujuan/<token> decided")

        # -- tim saya: own staff, in name order, no aggregate of fewer than 5 ------------------
        driver.find_element(By.ID, "nav-tim").click()
        wait(driver, lambda d: page_of(d) == "tim")
        assert_accessible(driver, "/tim")
        screenshot(driver, "tim", "desktop")
        rows = driver.find_elements(By.CSS_SELECTOR, "#team tbody tr[data-nip]")
        staff = sorted((site.people[k] for k in ("asn", "asn2", "staff3", "staff4")), key=lambda p: p.name)
        assert [r.get_attribute("data-nip") for r in rows] == [p.nip for p in staff]
        jp = {r.get_attribute("data-nip"): r.find_element(By.CSS_SELECTOR, "td.jp").text for r in rows}
        assert (jp[budi.nip], jp[rina.nip], jp[site.people["staff3"].nip]) == ("32", "32", "0")
        assert driver.find_elements(By.ID, "no-summary") and not driver.find_elements(By.ID, "team-summary")
        assert site.people["operator"].nip not in driver.page_source

    # -- Rina's request approved from its link on a phone; the link used again ------------------
    link = request_link(site, rina)
    with chromium("phone") as driver:
        browser_sign_in(driver, site, site.supervisor, lanjut=link.removeprefix(site.url))
        wait(driver, lambda d: page_of(d) == "persetujuan-tautan")
        request = driver.find_element(By.ID, "approval-request")
        assert request.get_attribute("data-enrolment") == rina_enrolment and rina.name in request.text
        assert_accessible(driver, "/persetujuan/<token> (phone)")
        screenshot(driver, "persetujuan-tautan", "phone")
        submit(driver, "#link-approve-button")
        assert site.get("enrollment", f"/enrolments/{rina_enrolment}")["status"] == "enrolled"
        driver.get(link)  # the second use
        wait(driver, lambda d: page_of(d) == "persetujuan-tautan")
        assert "sudah diputuskan (disetujui)" in driver.find_element(By.ID, "already-decided").text.lower()
        assert not driver.find_elements(By.ID, "link-approve-button")
        assert_accessible(driver, "/persetujuan/<token> used again (phone)")
        for path, page in (("/persetujuan", "persetujuan"), ("/tim", "tim")):
            driver.get(site.url + path)
            wait(driver, lambda d: page_of(d) == page)
            assert_accessible(driver, f"{path} (phone)")
            screenshot(driver, page, "phone")


def test_a_link_is_only_for_its_approver(site):
    """Another member of staff opening the supervisor's link is refused, and decides nothing."""
    fitri = site.people["staff4"]
    http = site.session_of(fitri)
    code = site.programmes["seminar"]["code"]
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{site.url}/katalog/{code}").text).group(1)
    assert http.post(f"{site.url}/katalog/{code}/daftar", data={"csrf_token": token}).status_code == 200
    link = request_link(site, fitri)
    with chromium("desktop") as driver:
        browser_sign_in(driver, site, site.people["staff3"], lanjut=link.removeprefix(site.url))
        wait(driver, lambda d: d.find_elements(By.ID, "error") or page_of(d) == "persetujuan-tautan")
        assert driver.find_element(By.ID, "error").get_attribute("data-status") == "403"
        assert not driver.find_elements(By.ID, "link-approve-button")
        assert_accessible(driver, "/persetujuan/<token> refused")
        # and staff without staff of their own have no supervisor pages
        assert not driver.find_elements(By.ID, "nav-persetujuan") and not driver.find_elements(By.ID, "nav-tim")
    [waiting] = [e for e in site.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]
                 if e["participant"]["nip"] == fitri.nip]
    assert waiting["status"] == "awaiting_approval"
