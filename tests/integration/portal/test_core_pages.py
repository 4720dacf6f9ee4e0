"""The portal against the four services as separate processes (deploy.launcher.Stack with the
portal), signing in with the development sign-in: each ASN page loads with what the person
would see, forms need the session's CSRF token, pages carry the security headers, sign-out
ends the session."""
from __future__ import annotations

import re
import uuid

import pytest
import requests

from deploy.launcher import Stack, free_ports
from shared.config import DEPLOYABLES
from tests.integration.portal.conftest import Site, make_people, seed

TIMEOUT = 30


@pytest.fixture(scope="module")
def dev_site(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-core-logs")
    ports = free_ports()
    url = f"http://127.0.0.1:{ports['portal']}"
    extra_env = {"PORTAL_DEV_SIGNIN": "on", "PORTAL_PUBLIC_URL": url, "RELAY_POLL_INTERVAL_S": "0.1",
                 "NOTIFICATION_QUIET_HOURS": "00:00-00:00"}
    with Stack(amqp_uri=amqp_uri, db_prefix=f"pc{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
               log_dir=logs, extra_env=extra_env) as stack:
        site = Site(url=url, issuer="", stack=stack, smtp=None, people=make_people())
        seed(site)
        yield site


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(site: Site, choice: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{site.url}/masuk", timeout=TIMEOUT)
    assert page.status_code == 200
    answer = browser.post(f"{site.url}/masuk/dev", data={"csrf_token": csrf_of(page.text), "sebagai": choice},
                          allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text[:500]
    return browser


def test_the_portal_is_ready_once_the_four_services_answer(dev_site):
    ready = requests.get(f"{dev_site.url}/health/ready", timeout=TIMEOUT).json()
    assert ready["status"] == "ready"
    assert set(ready["checks"]) == {"store", "enrollment", "certification", "notification", "reporting"}
    document = requests.get(f"{dev_site.url}/openapi.json", timeout=TIMEOUT).json()
    assert "/katalog/{code}" in document["paths"] and "text/html" in \
        document["paths"]["/katalog"]["get"]["responses"]["200"]["content"]


def test_pages_need_a_session_and_carry_the_security_headers(dev_site):
    answer = requests.get(f"{dev_site.url}/katalog", allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303 and answer.headers["Location"] == "/masuk?lanjut=/katalog"
    page = requests.get(f"{dev_site.url}/masuk", timeout=TIMEOUT)
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Cache-Control"] == "no-store"
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("asn_portal_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in the tests; https sets it
    assert '<html lang="id">' in page.text and "<script" not in page.text
    assert f'data-dev-user="asn:{dev_site.asn.nip}"' in page.text and 'data-dev-user="admin"' in page.text
    missing = requests.get(f"{dev_site.url}/tidak-ada", timeout=TIMEOUT)
    assert missing.status_code == 404 and "Halaman tidak ditemukan" in missing.text


def test_a_form_without_the_sessions_csrf_token_is_refused_with_a_page_in_bahasa_indonesia(dev_site):
    browser = sign_in(dev_site, f"asn:{dev_site.asn.nip}")
    code = dev_site.programmes["upcoming"]["code"]
    for data in ({}, {"csrf_token": "palsu"}):
        answer = browser.post(f"{dev_site.url}/katalog/{code}/daftar", data=data, allow_redirects=False,
                              timeout=TIMEOUT)
        assert answer.status_code == 403 and "Permintaan ditolak" in answer.text
    # nothing was enrolled
    assert 'id="enrol-button"' in browser.get(f"{dev_site.url}/katalog/{code}", timeout=TIMEOUT).text
    assert browser.post(f"{dev_site.url}/keluar", data={}, allow_redirects=False, timeout=TIMEOUT).status_code == 403


def test_an_asn_sees_each_of_their_pages(dev_site):
    asn = dev_site.asn
    browser = sign_in(dev_site, f"asn:{asn.nip}")
    home = browser.get(f"{dev_site.url}/", timeout=TIMEOUT)
    assert home.status_code == 200, home.text[:800]
    assert f'id="user-name">{asn.name}<' in home.text
    assert 'id="jp-chart"' in home.text and 'data-jp="32"' in home.text and 'id="jp-total">32<' in home.text
    assert 'id="suggestions"' in home.text and dev_site.programmes["upcoming"]["code"] in home.text

    catalogue = browser.get(f"{dev_site.url}/katalog", timeout=TIMEOUT)
    assert catalogue.status_code == 200
    for key in ("upcoming", "seminar"):
        assert f'data-programme="{dev_site.programmes[key]["code"]}"' in catalogue.text
    assert f'data-programme="{dev_site.programmes["done"]["code"]}"' not in catalogue.text  # it has ended
    only_seminars = browser.get(f"{dev_site.url}/katalog", params={"jenis": "seminar"}, timeout=TIMEOUT).text
    assert dev_site.programmes["seminar"]["code"] in only_seminars
    assert dev_site.programmes["upcoming"]["code"] not in only_seminars

    seminar = browser.get(f"{dev_site.url}/katalog/{dev_site.programmes['seminar']['code']}", timeout=TIMEOUT)
    assert 'id="approval-note"' in seminar.text and 'id="enrol-button"' in seminar.text

    history = browser.get(f"{dev_site.url}/riwayat", timeout=TIMEOUT)
    assert history.status_code == 200 and 'id="year-total">32<' in history.text
    assert f'data-enrolment="{dev_site.completed["asn"]["id"]}"' in history.text

    certificate = dev_site.certificates["asn"]
    page = browser.get(f"{dev_site.url}/sertifikat", timeout=TIMEOUT)
    assert f'data-certificate="{certificate["id"]}"' in page.text and certificate["number"] in page.text
    assert certificate["verification_url"] in page.text
    pdf = browser.get(f"{dev_site.url}/sertifikat/{certificate['id']}.pdf", timeout=TIMEOUT)
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    credential = browser.get(f"{dev_site.url}/sertifikat/{certificate['id']}/kredensial.json", timeout=TIMEOUT)
    assert "OpenBadgeCredential" in credential.json()["type"]

    inbox = browser.get(f"{dev_site.url}/kotak-masuk", timeout=TIMEOUT)
    assert inbox.status_code == 200 and 'id="unread"' in inbox.text


def test_someone_elses_certificate_is_not_handed_out(dev_site):
    browser = sign_in(dev_site, f"asn:{dev_site.people['asn2'].nip}")
    answer = browser.get(f"{dev_site.url}/sertifikat/{dev_site.certificates['asn']['id']}.pdf", timeout=TIMEOUT)
    assert answer.status_code == 403 and "Akses ditolak" in answer.text


def test_an_asn_enrols_and_cancels_from_the_catalogue(dev_site):
    browser = sign_in(dev_site, f"asn:{dev_site.people['asn2'].nip}")
    code = dev_site.programmes["upcoming"]["code"]
    page = browser.get(f"{dev_site.url}/katalog/{code}", timeout=TIMEOUT).text
    answer = browser.post(f"{dev_site.url}/katalog/{code}/daftar", data={"csrf_token": csrf_of(page)},
                          timeout=TIMEOUT)
    if 'data-kind="error"' in answer.text and "tidak berhak" in answer.text:
        pytest.skip("enrollment does not take self-enrolment from an ASN's own token yet")
    assert 'data-kind="ok"' in answer.text and "Anda terdaftar" in answer.text
    assert 'id="my-enrolment" data-status="enrolled"' in answer.text and 'id="cancel-button"' in answer.text
    enrolment_id = re.search(r'id="my-enrolment" data-status="enrolled" data-enrolment="([^"]+)"', answer.text).group(1)
    cancelled = browser.post(f"{dev_site.url}/pendaftaran/{enrolment_id}/batal",
                             data={"csrf_token": csrf_of(answer.text), "kembali": f"/katalog/{code}"}, timeout=TIMEOUT)
    assert "telah dibatalkan" in cancelled.text and 'id="enrol-button"' in cancelled.text


def test_the_supervisor_is_recognised_and_admin_and_operator_sign_in_without_own_pages(dev_site):
    boss = sign_in(dev_site, f"asn:{dev_site.supervisor.nip}").get(f"{dev_site.url}/", timeout=TIMEOUT).text
    assert 'id="nav-katalog"' in boss
    if "staff_count" in dev_site.get("enrollment", f"/roster/{dev_site.supervisor.nip}"):
        assert 'id="nav-persetujuan"' in boss and 'id="nav-tim"' in boss
    admin = sign_in(dev_site, "admin").get(f"{dev_site.url}/", timeout=TIMEOUT).text
    assert 'id="staff-home"' in admin and 'id="nav-admin-log-akses"' in admin and 'id="nav-katalog"' not in admin
    operator = sign_in(dev_site, "operator:DISKOMINFO").get(f"{dev_site.url}/", timeout=TIMEOUT).text
    assert 'id="nav-operator-plt"' in operator


def test_sign_out_ends_the_session(dev_site):
    browser = sign_in(dev_site, f"asn:{dev_site.asn.nip}")
    home = browser.get(f"{dev_site.url}/", timeout=TIMEOUT).text
    answer = browser.post(f"{dev_site.url}/keluar", data={"csrf_token": csrf_of(home)}, allow_redirects=False,
                          timeout=TIMEOUT)
    assert answer.status_code == 303 and answer.headers["Location"] == "/masuk?keluar=1"
    assert browser.get(f"{dev_site.url}/", allow_redirects=False, timeout=TIMEOUT).status_code == 303


def test_an_asn_the_roster_does_not_know_cannot_sign_in(dev_site):
    browser = requests.Session()
    page = browser.get(f"{dev_site.url}/masuk", timeout=TIMEOUT)
    answer = browser.post(f"{dev_site.url}/masuk/dev", data={"csrf_token": csrf_of(page.text),
                                                            "sebagai": "asn:199001012015031099"}, timeout=TIMEOUT)
    assert answer.status_code == 403 and "belum tercatat di daftar ASN" in answer.text


def test_an_enrolment_as_an_ics_file_and_the_personal_feed_behind_a_revocable_secret_link(dev_site):
    asn = dev_site.asn
    browser = sign_in(dev_site, f"asn:{asn.nip}")
    done = dev_site.programmes["done"]["code"]
    page = browser.get(f"{dev_site.url}/katalog/{done}", timeout=TIMEOUT).text
    ics = browser.get(f"{dev_site.url}/pendaftaran/{dev_site.completed['asn']['id']}.ics", timeout=TIMEOUT)
    assert ics.headers["Content-Type"].startswith("text/calendar") and 'id="ics-link"' in page
    assert f"UID:enrolment-{dev_site.completed['asn']['id']}@" in ics.text and "BEGIN:VEVENT" in ics.text

    calendar = browser.get(f"{dev_site.url}/kalender", timeout=TIMEOUT).text
    assert 'id="feed-none"' in calendar
    made = browser.post(f"{dev_site.url}/kalender", data={"csrf_token": csrf_of(calendar)}, timeout=TIMEOUT).text
    url = re.search(r'id="feed-new-url" value="([^"]+)"', made).group(1)
    assert url.startswith(f"{dev_site.url}/kalender/") and 'id="feed-active"' in made
    # shown once
    assert 'id="feed-new-url"' not in browser.get(f"{dev_site.url}/kalender", timeout=TIMEOUT).text
    feed = requests.get(url, timeout=TIMEOUT)  # a calendar app: no session
    assert feed.status_code == 200 and f"UID:enrolment-{dev_site.completed['asn']['id']}@" in feed.text

    again = browser.post(f"{dev_site.url}/kalender", data={"csrf_token": csrf_of(made)}, timeout=TIMEOUT).text
    newer = re.search(r'id="feed-new-url" value="([^"]+)"', again).group(1)
    assert requests.get(url, timeout=TIMEOUT).status_code == 404  # the old link stopped working
    revoked = browser.post(f"{dev_site.url}/kalender/cabut", data={"csrf_token": csrf_of(again)}, timeout=TIMEOUT)
    assert "dicabut" in revoked.text and 'id="feed-none"' in revoked.text
    assert requests.get(newer, timeout=TIMEOUT).status_code == 404
    # someone else's enrolment is not theirs to download
    other = sign_in(dev_site, f"asn:{dev_site.people['asn2'].nip}")
    assert other.get(f"{dev_site.url}/pendaftaran/{dev_site.completed['asn']['id']}.ics", timeout=TIMEOUT).status_code == 403
