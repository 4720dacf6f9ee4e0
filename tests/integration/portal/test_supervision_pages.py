"""The supervisor's, operator's and admin's pages against the four services and the portal as
separate processes (deploy.launcher.Stack), signing in with the development sign-in: izin atasan
from /persetujuan and from the notification's link (once), tim saya without a summary for fewer
than five, a Plh named by the operator receiving the next request, and the admin's merged access
log; each page refused to the roles it is not for."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from deploy.launcher import Stack, free_ports
from shared import timefmt
from shared.config import DEPLOYABLES
from tests.integration.portal.conftest import Site, import_roster, make_people, programme_body
from tests.support import wait_for

TIMEOUT = 30


@pytest.fixture(scope="module")
def sup(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-supervision-logs")
    ports = free_ports()
    url = f"http://127.0.0.1:{ports['portal']}"
    extra_env = {"PORTAL_DEV_SIGNIN": "on", "PORTAL_PUBLIC_URL": url, "RELAY_POLL_INTERVAL_S": "0.1",
                 "NOTIFICATION_QUIET_HOURS": "00:00-00:00", "NOTIFICATION_DELIVERY_POLL_INTERVAL_S": "0.2"}
    with Stack(amqp_uri=amqp_uri, db_prefix=f"ps{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
               log_dir=logs, extra_env=extra_env) as stack:
        site = Site(url=url, issuer="", stack=stack, smtp=None, people=make_people())
        import_roster(site)
        for key, title in (("approve", "Seminar Keamanan Siber"), ("decline", "Seminar Arsip Digital"),
                           ("link", "Lokakarya Tautan Persetujuan"), ("plh", "Seminar Layanan Publik")):
            site.programmes[key] = site.publish(programme_body(
                "SUP", title=title, kind="seminar", jp=8, requires_supervisor_approval=True,
                speakers=["Dr. Andi Wijaya, Diskominfo Provinsi Sumatera Barat"]))
        # tim saya reads reporting's copy of the roster (from enrollment's events)
        wait_for(lambda: len(site.get("reporting", "/team", params={"supervisor": site.supervisor.nip})
                             .get("members", [])) == 4, timeout=60, interval=0.2, message="the head's 4 staff in reporting")
        yield site


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(site: Site, choice: str, lanjut: str | None = None) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    page = browser.get(f"{site.url}/masuk", timeout=TIMEOUT)
    data = {"csrf_token": csrf_of(page.text), "sebagai": choice, **({"lanjut": lanjut} if lanjut else {})}
    answer = browser.post(f"{site.url}/masuk/dev", data=data, allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text[:500]
    return browser, answer


def person(site: Site, key: str) -> requests.Session:
    return sign_in(site, f"asn:{site.people[key].nip}")[0]


def self_enrol(site: Site, key: str, programme: str) -> str:
    """The ASN enrols from the programme's page; returns the enrolment waiting for approval."""
    browser = person(site, key)
    code = site.programmes[programme]["code"]
    page = browser.get(f"{site.url}/katalog/{code}", timeout=TIMEOUT).text
    answer = browser.post(f"{site.url}/katalog/{code}/daftar", data={"csrf_token": csrf_of(page)}, timeout=TIMEOUT)
    assert "menunggu persetujuan atasan" in answer.text, answer.text[-1500:]
    return re.search(r'id="my-enrolment" data-status="awaiting_approval" data-enrolment="([^"]+)"',
                     answer.text).group(1)


def item(html: str, enrolment_id: str) -> str:
    """The <li> of one request on /persetujuan."""
    match = re.search(rf'<li class="card" data-enrolment="{enrolment_id}".*?</li>', html, re.S)
    assert match, f"request {enrolment_id} not on the page"
    return match.group(0)


def test_the_supervisor_approves_a_self_enrolment_and_the_asn_is_enrolled(sup):
    enrolment_id = self_enrol(sup, "asn", "approve")
    boss = person(sup, "supervisor")
    home = boss.get(f"{sup.url}/", timeout=TIMEOUT).text
    assert 'id="nav-persetujuan"' in home and re.search(r'<a href="/persetujuan"><span id="pending-approvals">', home)
    page = boss.get(f"{sup.url}/persetujuan", timeout=TIMEOUT)
    assert page.status_code == 200
    waiting = item(page.text, enrolment_id)
    nip = sup.asn.nip
    assert sup.asn.name in waiting and f"{nip[:8]} {nip[8:14]} {nip[14]} {nip[15:]}" in waiting
    assert "Seminar Keamanan Siber" in waiting and "Kursi ditahan" in waiting and " WIB" in waiting
    assert 'data-acting=""' in waiting and 'data-holds="seat"' in waiting
    answer = boss.post(f"{sup.url}/persetujuan/{enrolment_id}/keputusan",
                       data={"csrf_token": csrf_of(page.text), "keputusan": "setuju"}, allow_redirects=False,
                       timeout=TIMEOUT)
    assert answer.status_code == 303 and answer.headers["Location"] == "/persetujuan"
    after = boss.get(f"{sup.url}/persetujuan", timeout=TIMEOUT).text
    assert 'data-kind="ok"' in after and "disetujui" in after
    assert f'data-enrolment="{enrolment_id}" data-decision="approved"' in after
    code = sup.programmes["approve"]["code"]
    mine = person(sup, "asn").get(f"{sup.url}/katalog/{code}", timeout=TIMEOUT).text
    assert f'id="my-enrolment" data-status="enrolled" data-enrolment="{enrolment_id}"' in mine


def test_declining_needs_a_reason_shown_beside_the_field(sup):
    enrolment_id = self_enrol(sup, "asn2", "decline")
    boss = person(sup, "supervisor")
    page = boss.get(f"{sup.url}/persetujuan", timeout=TIMEOUT).text
    empty = boss.post(f"{sup.url}/persetujuan/{enrolment_id}/keputusan",
                      data={"csrf_token": csrf_of(page), "keputusan": "tolak", "alasan": "  "}, timeout=TIMEOUT)
    assert empty.status_code == 422
    field = item(empty.text, enrolment_id)
    assert re.search(rf'id="reason-{enrolment_id}"[^>]*aria-invalid="true"', field)
    assert f'id="reason-error-{enrolment_id}"' in field and "Alasan wajib diisi" in field
    declined = boss.post(f"{sup.url}/persetujuan/{enrolment_id}/keputusan",
                         data={"csrf_token": csrf_of(page), "keputusan": "tolak",
                               "alasan": "Bertepatan dengan pelaporan akhir triwulan"}, timeout=TIMEOUT)
    assert declined.status_code == 200 and "ditolak" in declined.text
    done = item(declined.text, enrolment_id)
    assert 'data-decision="declined"' in done and "Bertepatan dengan pelaporan akhir triwulan" in done
    # a forged form decides nothing
    forged = boss.post(f"{sup.url}/persetujuan/{enrolment_id}/keputusan", data={"keputusan": "setuju"},
                       timeout=TIMEOUT)
    assert forged.status_code == 403 and "Permintaan ditolak" in forged.text


def _link_in_inbox(site: Site, browser: requests.Session, title: str) -> str | None:
    inbox = browser.get(f"{site.url}/kotak-masuk", timeout=TIMEOUT).text
    for message in re.findall(r'<li class="card[^"]*" data-message=.*?</li>', inbox, re.S):
        found = re.search(r'href="[^"]*/persetujuan/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"', message)
        if title in message and found:
            return found.group(1)
    return None


def test_the_link_from_the_notification_decides_once_and_only_for_its_approver(sup):
    enrolment_id = self_enrol(sup, "staff3", "link")
    boss = person(sup, "supervisor")
    token = wait_for(lambda: _link_in_inbox(sup, boss, "Lokakarya Tautan Persetujuan"), timeout=60, interval=0.3,
                     message="the approval link in the head's inbox")
    path = f"/persetujuan/{token}"
    # not signed in: to the sign-in page and back to the link (the token stays in our own path)
    anonymous = requests.get(sup.url + path, allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == f"/masuk?lanjut={path}"
    browser, signed_in = sign_in(sup, f"asn:{sup.supervisor.nip}", lanjut=path)
    assert signed_in.headers["Location"] == path
    page = browser.get(sup.url + path, timeout=TIMEOUT)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    assert f'id="approval-request" class="card" data-enrolment="{enrolment_id}" data-status="awaiting_approval"' \
        in page.text and sup.people["staff3"].name in page.text
    # someone else's link
    other = person(sup, "asn").get(sup.url + path, timeout=TIMEOUT)
    assert other.status_code == 403 and "atasan lain" in other.text and 'id="error"' in other.text
    decided = browser.post(sup.url + path, data={"csrf_token": csrf_of(page.text), "keputusan": "setuju"},
                           timeout=TIMEOUT)
    assert decided.status_code == 200 and 'data-kind="ok"' in decided.text
    assert 'id="already-decided"' in decided.text and "Permohonan ini sudah diputuskan (disetujui)" in decided.text
    again = browser.post(sup.url + path, data={"csrf_token": csrf_of(page.text), "keputusan": "tolak",
                                               "alasan": "Berubah pikiran"}, timeout=TIMEOUT)
    assert again.status_code == 409 and 'id="already-decided"' in again.text
    assert "Permohonan ini sudah diputuskan (disetujui)" in again.text
    assert 'data-status="enrolled"' in again.text


def test_tim_saya_lists_the_staff_by_name_without_a_summary_below_five(sup):
    boss = person(sup, "supervisor")
    page = boss.get(f"{sup.url}/tim", timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="privacy-note"' in page.text and "akses Anda tercatat" in page.text
    staff = sorted((sup.people[k] for k in ("asn", "asn2", "staff3", "staff4")), key=lambda p: p.name.lower())
    assert re.findall(r'<tr data-nip="(\d{18})"', page.text) == [p.nip for p in staff]
    assert re.search(rf'data-nip="{sup.asn.nip}".*?<td class="n jp">0</td>', page.text, re.S)
    assert 'class="team-bar"' in page.text and 'id="no-summary"' in page.text and 'id="team-summary"' not in page.text
    # an ASN without staff: an empty team, not an error; admin has no team
    alone = person(sup, "asn").get(f"{sup.url}/tim", timeout=TIMEOUT)
    assert alone.status_code == 200 and 'id="team-empty"' in alone.text
    assert sign_in(sup, "admin")[0].get(f"{sup.url}/tim", timeout=TIMEOUT).status_code == 403


def test_the_admin_sees_who_read_whose_data_and_no_one_else_may(sup):
    person(sup, "supervisor").get(f"{sup.url}/tim", timeout=TIMEOUT)  # the head reads the team
    admin = sign_in(sup, "admin")[0]
    page = admin.get(f"{sup.url}/admin/log-akses", params={"nip": sup.asn.nip}, timeout=TIMEOUT)
    assert page.status_code == 200, page.text[-800:]
    assert re.search(rf'data-service="reporting" data-subject="{sup.asn.nip}" data-what="team" '
                     rf'data-reader="dev:{sup.supervisor.nip}"', page.text)
    assert 'id="access-missing"' not in page.text and " WIB" in page.text
    other = admin.get(f"{sup.url}/admin/log-akses", params={"nip": sup.people["staff4"].nip,
                                                            "pembaca": "dev:tidak-ada"}, timeout=TIMEOUT)
    assert 'id="access-empty"' in other.text
    bad = admin.get(f"{sup.url}/admin/log-akses", params={"nip": "123"}, timeout=TIMEOUT)
    assert bad.status_code == 422 and 'id="error-nip"' in bad.text
    for choice in ("operator:DISKOMINFO", f"asn:{sup.supervisor.nip}"):
        refused = sign_in(sup, choice)[0].get(f"{sup.url}/admin/log-akses", timeout=TIMEOUT)
        assert refused.status_code == 403 and "Akses ditolak" in refused.text


def test_an_operator_names_a_plh_who_receives_the_next_request(sup):
    boss, plh = sup.supervisor, sup.people["staff4"]
    operator = sign_in(sup, "operator:DISKOMINFO")[0]
    page = operator.get(f"{sup.url}/operator/plt", timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="acting-form"' in page.text
    until = (timefmt.wib(datetime.now(timezone.utc)) + timedelta(days=7)).date().isoformat()
    wrong = operator.post(f"{sup.url}/operator/plt", data={"csrf_token": csrf_of(page.text), "atasan": boss.nip,
                                                          "pelaksana": plh.nip, "jenis": "plh", "sampai": ""},
                          timeout=TIMEOUT)
    assert wrong.status_code == 422 and 'id="error-sampai"' in wrong.text
    set_ = operator.post(f"{sup.url}/operator/plt", data={"csrf_token": csrf_of(page.text), "atasan": boss.nip,
                                                         "pelaksana": plh.nip, "jenis": "plh", "sampai": until},
                         allow_redirects=False, timeout=TIMEOUT)
    assert set_.status_code == 303, set_.text[-800:]
    shown = operator.get(sup.url + set_.headers["Location"], timeout=TIMEOUT).text
    assert 'data-kind="ok"' in shown
    assert f'id="acting-current" data-supervisor="{boss.nip}" data-acting="{plh.nip}" data-kind="plh"' in shown
    try:
        enrolment_id = self_enrol(sup, "asn", "plh")
        acting = person(sup, "staff4")
        assert 'id="nav-persetujuan"' in acting.get(f"{sup.url}/", timeout=TIMEOUT).text
        request = item(acting.get(f"{sup.url}/persetujuan", timeout=TIMEOUT).text, enrolment_id)
        assert 'data-acting="plh"' in request and "Plh (pelaksana harian)" in request
        assert f'data-enrolment="{enrolment_id}"' not in person(sup, "supervisor").get(
            f"{sup.url}/persetujuan", timeout=TIMEOUT).text
    finally:
        ended = operator.post(f"{sup.url}/operator/plt/akhiri", data={"csrf_token": csrf_of(page.text),
                                                                      "atasan": boss.nip}, timeout=TIMEOUT)
    assert f'id="acting-none" data-supervisor="{boss.nip}"' in ended.text and "diakhiri" in ended.text
    # an ASN may not name a Plt/Plh
    asn = person(sup, "asn")
    refused = asn.get(f"{sup.url}/operator/plt", timeout=TIMEOUT)
    assert refused.status_code == 403 and "Akses ditolak" in refused.text
    posted = asn.post(f"{sup.url}/operator/plt", data={"csrf_token": csrf_of(refused.text), "atasan": boss.nip,
                                                       "pelaksana": plh.nip, "jenis": "plh", "sampai": until},
                      timeout=TIMEOUT)
    assert posted.status_code == 403
    # another OPD's operator cannot look at this head
    stranger = sign_in(sup, "operator:DINKES")[0].get(f"{sup.url}/operator/plt", params={"atasan": boss.nip},
                                                     timeout=TIMEOUT)
    assert 'id="lookup-unknown"' in stranger.text


def test_the_operator_and_admin_pages_are_accessible_on_a_phone(sup):
    """axe-core (no serious or critical violation) and no sideways scrolling at 360 px, with an
    error beside a field and the looked-up delegation shown."""
    from tests.portal_support import axe_check, chromium, describe_violations, overflows_horizontally

    pages = {"operator:DISKOMINFO": [f"/operator/plt?atasan={sup.supervisor.nip}", "/operator/plt?atasan=1"],
             "admin": [f"/admin/log-akses?nip={sup.asn.nip}", "/admin/log-akses?nip=12", "/operator/plt"]}
    with chromium("phone") as driver:
        for choice, paths in pages.items():
            browser = sign_in(sup, choice)[0]
            driver.get(f"{sup.url}/masuk")
            driver.delete_all_cookies()
            driver.add_cookie({"name": "asn_portal_session", "value": browser.cookies["asn_portal_session"],
                               "path": "/"})
            for path in paths:
                driver.get(sup.url + path)
                assert driver.find_element("tag name", "body").get_attribute("data-role") in ("operator", "admin")
                violations = axe_check(driver)
                assert violations == [], f"{path}:\n{describe_violations(violations)}"
                assert not overflows_horizontally(driver), f"{path} is wider than the screen"
