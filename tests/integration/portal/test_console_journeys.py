"""The operator console (issue 21) in real headless Chromium, signed in through the OpenID provider's form:
an admin creates a programme (a broken rule shown beside its field in Bahasa Indonesia, fixed; the live JP
preview following the duration), publishes it and opens its page; an operator of one OPD enrols an ASN found
by name (agency, jabatan and this year's JP shown), cancels another with a reason and promotes from the
waitlist into a free seat; an operator of another OPD is refused that OPD's data; a bulk enrolment CSV with
bad rows goes through /operator/unggah with its live progress bar, the rejected rows' file is fixed and
uploaded again; a session is marked for every participant in one save (a second save changes nothing); the
dashboard and the never-enrolled list of the operator's OPD; the admin runs a checkpoint to its end and
revokes a certificate with a reason. axe-core on every page visited (no serious or critical violation), at
360 px nothing scrolls sideways except inside a focusable .table-wrap region, screenshots of the console
(docs/screenshots/portal-operator-*.png, portal-admin-*.png).

One site for the module: conftest's (the provider, the four services and the portal as processes, its seed)
with two people of a second OPD added to the provider and the roster: an operator and an ASN of DINKES."""
from __future__ import annotations

import csv
import random
import re
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import pymongo
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from deploy import demo
from deploy.launcher import Stack, free_ports
from shared import timefmt
from shared.config import DEPLOYABLES
from tests.e2e.conftest import SmtpSink
from tests.integration.portal.conftest import (
    CLIENT_ID, Person, Site, _iso, browser_sign_in, make_people, page_of, portal_env, programme_body, seed, wait,
)
from tests.portal_support import axe_check, chromium, describe_violations, oidc_provider, screenshot

OTHER = "DINKES"  # the second OPD: its operator must not see DISKOMINFO's data


# -- the site: conftest's, plus a second OPD's operator and ASN -------------------------------------
@pytest.fixture(scope="module")
def site(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-journeys-logs")
    people = make_people()
    rng = random.Random(2121)
    year = datetime.now(timezone.utc).year
    people["operator_b"] = Person(demo.make_identifier(rng, year, "1", pppk=False), "Dewi Operator Dinkes",
                                  "Analis SDM", "III/c", roles=("bangkom-operator",), agency=OTHER)
    people["nurse"] = Person(demo.make_identifier(rng, year, "2", pppk=False), "Nur Perawat", "Perawat Ahli Pertama",
                             "III/a", agency=OTHER)
    ports = free_ports()
    url = f"http://127.0.0.1:{ports['portal']}"
    secret = secrets.token_urlsafe(32)
    clients = [{"client_id": CLIENT_ID, "client_secret": secret, "redirect_uris": [f"{url}/masuk/callback"],
                "post_logout_redirect_uris": [f"{url}/", f"{url}/masuk", f"{url}/masuk?keluar=1"]}]
    smtp = SmtpSink().start()
    try:
        with oidc_provider([p.account() for p in people.values()], clients, log_dir=logs) as issuer:
            extra_env = {"NOTIFICATION_SMTP_HOST": "127.0.0.1", "NOTIFICATION_SMTP_PORT": str(smtp.port),
                         "NOTIFICATION_QUIET_HOURS": "00:00-00:00", "RELAY_POLL_INTERVAL_S": "0.1",
                         "ENROLLMENT_BULK_CHUNK_ROWS": "100", **portal_env(url, issuer, secret)}
            with Stack(amqp_uri=amqp_uri, db_prefix=f"pj{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
                       log_dir=logs, extra_env=extra_env) as stack:
                site = Site(url=url, issuer=issuer, stack=stack, smtp=smtp, people=people)
                seed(site)
                _seed_console(site)
                yield site
    finally:
        smtp.stop()


def _seed_console(site: Site) -> None:
    """The nurse on the roster; a small programme to enrol into, one to upload into, one under way to mark."""
    nurse = site.people["nurse"]
    site.call("POST", "enrollment", "/roster/import", headers={"Content-Type": "text/csv"},
              data=f"nip;nama;jenis_asn;kode_opd;jabatan;golongan;status\n{nurse.nip};{nurse.name};PNS;{OTHER};"
                   f"{nurse.position};{nurse.golongan};aktif\n".encode())
    now = datetime.now(timezone.utc)
    site.programmes["small"] = site.publish(programme_body("KCL", title="Pelatihan Analisis Kebijakan", capacity=1))
    site.programmes["bulk"] = site.publish(programme_body("BLK", title="Pelatihan Unggah Massal", capacity=50))
    site.programmes["marking"] = site.publish(programme_body(
        "MRK", title="Pelatihan Dua Hari", starts_at=_iso(now - timedelta(days=1, hours=1)),
        ends_at=_iso(now + timedelta(days=1)), enrolment_opens_at=_iso(now - timedelta(days=5)),
        enrolment_closes_at=_iso(now + timedelta(hours=12))))
    code = site.programmes["marking"]["code"]
    site.marking = {key: site.call("POST", "enrollment", f"/programmes/{code}/enrolments",
                                   json={"nip": site.people[key].nip}, expect=201).json()["id"]
                    for key in ("asn", "asn2", "staff3", "nurse")}


# -- in the browser --------------------------------------------------------------------------------
def as_person(driver, site: Site, key: str, lanjut: str = "/") -> None:
    """Sign ``driver`` in as this person through the provider's form (whoever was signed in before is
    forgotten: the portal's and the provider's cookies share the host)."""
    driver.get(site.url + "/static/portal.css")
    driver.delete_all_cookies()
    browser_sign_in(driver, site, site.people[key], lanjut)


def submit(driver, button_css: str) -> None:
    """Click a form's button and wait for the next document (conftest's staleness wait can meet Chromium's
    "Node ... does not belong to the document" while the page is being replaced)."""
    driver.execute_script("window.__before_submit = true;")
    driver.find_element(By.CSS_SELECTOR, button_css).click()

    def replaced(d) -> bool:
        try:
            return d.execute_script("return window.__before_submit !== true && document.readyState === 'complete'")
        except WebDriverException:  # between two documents
            return False
    wait(driver, replaced)


def phone_overflow(driver) -> dict:
    """The page's width, and the .table-wrap regions scrolling sideways that a keyboard cannot reach."""
    return driver.execute_script(
        "const wraps = Array.from(document.querySelectorAll('.table-wrap'))"
        "  .filter(w => w.scrollWidth > w.clientWidth + 1);"
        "const outside = Array.from(document.querySelectorAll('body *')).filter(e => {"
        "  if (e.closest('.table-wrap')) return false;"
        "  const r = e.getBoundingClientRect(); return r.width > 0 && r.right > 361; })"
        "  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className).slice(0, 5);"
        "return {width: document.documentElement.scrollWidth, outside: outside,"
        "  unreachable: wraps.filter(w => w.getAttribute('tabindex') !== '0' || !w.getAttribute('role'))"
        "    .map(w => w.outerHTML.slice(0, 120))};")


def check(driver, where: str, size: str, shot: str | None = None) -> None:
    """axe-core finds no serious or critical violation; on a phone nothing scrolls sideways but a
    focusable, named .table-wrap region; the screenshot kept."""
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    violations = axe_check(driver)
    assert violations == [], f"{where} ({size}):\n{describe_violations(violations)}"
    if size == "phone":
        found = phone_overflow(driver)
        assert found["width"] <= 361 and not found["unreachable"], f"{where} at 360 px: {found}"
    if shot:
        screenshot(driver, shot, size)


def visit(driver, site: Site, path: str, page: str, size: str, shot: str | None = None) -> None:
    driver.get(site.url + path)
    wait(driver, lambda d: page_of(d) == page)
    check(driver, path, size, shot)


def text(driver, css: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def flash(driver) -> tuple[str, str]:
    element = driver.find_element(By.ID, "flash")
    return element.get_attribute("data-kind"), element.text


def set_value(driver, element_id: str, value: str) -> None:
    """A datetime-local field (its typed form depends on the browser's locale): set, with the events
    a person's typing fires."""
    driver.execute_script(
        "const f = document.getElementById(arguments[0]); f.value = arguments[1];"
        "f.dispatchEvent(new Event('input', {bubbles: true})); f.dispatchEvent(new Event('change', {bubbles: true}));",
        element_id, value)


def retype(driver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def wib_input(moment: datetime) -> str:
    return timefmt.wib(moment).strftime("%Y-%m-%dT%H:%M")


def refused_page(driver, words: str) -> None:
    assert driver.find_elements(By.ID, "error"), driver.page_source[:1500]
    assert driver.find_element(By.ID, "error").get_attribute("data-status") == "403"
    assert words in text(driver, "#error-message") or words in text(driver, "#error"), text(driver, "#error")


# -- admin: a programme from the form to published --------------------------------------------------
def test_the_admin_creates_a_programme_fixes_a_rule_watches_the_jp_follow_the_duration_and_publishes(site):
    now = datetime.now(timezone.utc)
    start = (now + timedelta(days=20)).replace(hour=1, minute=0)  # 08.00 WIB
    code = f"SEM-{uuid.uuid4().hex[:6].upper()}"
    with chromium("desktop") as driver:
        as_person(driver, site, "admin", "/operator/program")
        assert page_of(driver) == "operator-program"
        check(driver, "/operator/program (admin)", "desktop", "admin-program")
        driver.find_element(By.ID, "new-programme").click()
        wait(driver, lambda d: page_of(d) == "operator-program-form")
        check(driver, "/operator/program/baru", "desktop")

        retype(driver, "field-kode", code)
        retype(driver, "field-judul", "ab")  # too short: enrollment refuses it
        Select(driver.find_element(By.ID, "field-jenis")).select_by_value("seminar")
        Select(driver.find_element(By.ID, "field-kompetensi")).select_by_value("teknis")
        set_value(driver, "field-mulai", wib_input(start))
        set_value(driver, "field-selesai", wib_input(start + timedelta(days=1, hours=7)))
        retype(driver, "field-durasi_hari", "1")
        assert driver.find_element(By.ID, "field-penyelenggara-PEMKOT_BUKITTINGGI").is_selected()  # the default
        retype(driver, "field-narasumber", "Dr. Andi Wijaya\nIr. Sri Rahayu")
        retype(driver, "field-lokasi", "Aula Balai Kota Bukittinggi")
        set_value(driver, "field-daftar_buka", wib_input(now - timedelta(days=1)))
        set_value(driver, "field-daftar_tutup", wib_input(start - timedelta(days=3)))
        retype(driver, "field-kapasitas", "25")
        wait(driver, lambda d: d.find_element(By.ID, "jp-preview").get_attribute("data-jp") == "4")
        submit(driver, "#programme-submit")

        # refused: the message beside the field, in Bahasa Indonesia, the typed values kept
        assert page_of(driver) == "operator-program-form"
        judul = driver.find_element(By.ID, "field-judul")
        assert judul.get_attribute("aria-invalid") == "true" and judul.get_attribute("value") == "ab"
        assert text(driver, "#error-judul") == "Judul harus 3–200 karakter."
        assert "error-judul" in judul.get_attribute("aria-describedby")
        assert "Program belum dapat disimpan" in text(driver, "#error-summary")
        assert driver.find_elements(By.CSS_SELECTOR, "#error-summary li") == \
            driver.find_elements(By.CSS_SELECTOR, "#error-summary li")[:1]  # that rule alone
        check(driver, "/operator/program/baru refused", "desktop", "admin-program-baru")

        # fixed; the JP preview follows the duration as it is typed
        retype(driver, "field-judul", "Seminar Literasi Data")
        wait(driver, lambda d: d.find_element(By.ID, "jp-preview").get_attribute("data-jp") == "4")
        assert "4 JP" in text(driver, "#jp-preview")
        retype(driver, "field-durasi_hari", "2")
        wait(driver, lambda d: d.find_element(By.ID, "jp-preview").get_attribute("data-jp") == "8")
        assert "8 JP" in text(driver, "#jp-preview")
        submit(driver, "#programme-submit")

        assert page_of(driver) == "operator-program-detail", text(driver, "main")[:800]
        programme = driver.find_element(By.ID, "console-programme")
        assert programme.get_attribute("data-code") == code and programme.get_attribute("data-status") == "draft"
        kind, message = flash(driver)
        assert kind == "ok" and f"Program {code} disimpan sebagai draf" in message
        assert driver.find_element(By.ID, "programme-jp").get_attribute("data-jp") == "8"
        submit(driver, "#publish-button")
        kind, message = flash(driver)
        assert kind == "ok" and f"Program {code} diterbitkan" in message
        assert driver.find_element(By.ID, "console-programme").get_attribute("data-status") == "published"

        # its page: in the console list, and the page itself with the enrol search (now published)
        visit(driver, site, "/operator/program?status=published", "operator-program", "desktop")
        listed = driver.find_element(By.CSS_SELECTOR, f'#console-programmes tr[data-programme="{code}"]')
        assert listed.get_attribute("data-status") == "published"
        listed.find_element(By.CSS_SELECTOR, f'a[href="/operator/program/{code}"]').click()
        wait(driver, lambda d: page_of(d) == "operator-program-detail")
        assert driver.find_elements(By.ID, "enrol-search") and text(driver, "#seats").startswith("0 dari 25")
        check(driver, f"/operator/program/{code} (admin)", "desktop", "admin-program-detail")
    stored = site.get("enrollment", f"/programmes/{code}")
    assert stored["status"] == "published" and stored["jp"] == 8 and stored["title"] == "Seminar Literasi Data"
    assert stored["speakers"] == ["Dr. Andi Wijaya", "Ir. Sri Rahayu"]


# -- operator of OPD A: enrol, cancel, promote -------------------------------------------------------
def test_the_operator_enrols_by_name_cancels_another_with_a_reason_and_promotes_into_a_free_seat(site):
    code = site.programmes["small"]["code"]  # one seat
    budi, rina, ilham = site.people["asn"], site.people["asn2"], site.people["staff3"]
    path = f"/operator/program/{code}"
    with chromium("phone") as driver:
        as_person(driver, site, "operator", "/operator/program")
        check(driver, "/operator/program (operator)", "phone", "operator-program")
        assert not driver.find_elements(By.ID, "new-programme")
        row = driver.find_element(By.CSS_SELECTOR, f'#console-programmes tr[data-programme="{code}"]')
        row.find_element(By.CSS_SELECTOR, f'a[href="{path}"]').click()
        wait(driver, lambda d: page_of(d) == "operator-program-detail")
        assert driver.find_elements(By.ID, "no-participants")

        def search(term: str, nip: str):
            retype(driver, "enrol-query", term)
            submit(driver, "#enrol-search-button")
            return driver.find_element(By.CSS_SELECTOR, f'#roster-results li[data-nip="{nip}"]')

        # by name: agency, jabatan and this year's JP beside the name (Budi passed a 32 JP certification)
        hit = search("Bud", budi.nip)
        assert hit.find_element(By.CSS_SELECTOR, ".name").text == budi.name
        assert hit.find_element(By.CSS_SELECTOR, ".position").text == budi.position
        assert hit.find_element(By.CSS_SELECTOR, ".agency").text  # the OPD's name
        assert hit.find_element(By.CSS_SELECTOR, ".jp").get_attribute("data-jp") == "32"
        assert f"{budi.nip[:8]} {budi.nip[8:14]}" in hit.find_element(By.CSS_SELECTOR, ".nip").text
        check(driver, f"{path}?cari=Bud", "phone", "operator-program-cari")
        submit(driver, f"#enrol-button-{budi.nip}")
        kind, message = flash(driver)
        assert kind == "ok" and "terdaftar pada program ini" in message, message
        budi_row = driver.find_element(By.CSS_SELECTOR, f'#participants tr[data-nip="{budi.nip}"]')
        assert budi_row.get_attribute("data-status") == "enrolled"

        # the seat is taken: the next two wait, by name and by NIP
        search("Rin", rina.nip)
        submit(driver, f"#enrol-button-{rina.nip}")
        assert "daftar tunggu nomor 1" in flash(driver)[1]
        search(ilham.nip, ilham.nip)
        submit(driver, f"#enrol-button-{ilham.nip}")
        assert "daftar tunggu nomor 2" in flash(driver)[1]
        rina_row = driver.find_element(By.CSS_SELECTOR, f'#waitlist tr[data-nip="{rina.nip}"]')
        rina_id = rina_row.get_attribute("data-enrolment")
        assert rina_row.get_attribute("data-position") == "1"

        # Rina cancelled with a reason: Ilham moves up to first; no seat is free, so no promotion offered
        rina_row.find_element(By.CSS_SELECTOR, "details.cancel-enrolment summary").click()
        driver.find_element(By.ID, f"reason-{rina_id}").send_keys("Bertugas ke luar daerah")
        submit(driver, f"#cancel-enrolment-button-{rina_id}")
        kind, message = flash(driver)
        assert kind == "ok" and "Bertugas ke luar daerah" in message
        cancelled = driver.find_element(By.CSS_SELECTOR, f'#cancelled li[data-enrolment="{rina_id}"]')
        assert cancelled.find_element(By.CSS_SELECTOR, ".reason").text == "Bertugas ke luar daerah"
        ilham_row = driver.find_element(By.CSS_SELECTOR, f'#waitlist tr[data-nip="{ilham.nip}"]')
        ilham_id = ilham_row.get_attribute("data-enrolment")
        assert ilham_row.get_attribute("data-position") == "1"
        assert not driver.find_elements(By.ID, f"promote-button-{ilham_id}")
        check(driver, path, "phone", "operator-program-detail")

        # a seat freed while nothing promotes automatically (what a started programme keeps, issue 24)
        with pymongo.MongoClient(site.stack.store_uri) as client:
            client[f"{site.stack.db_prefix}enrollment"].programmes.update_one({"_id": code}, {"$inc": {"capacity": 1}})
        driver.get(site.url + path)
        wait(driver, lambda d: d.find_elements(By.ID, f"promote-button-{ilham_id}"))
        assert text(driver, f"#promote-button-{ilham_id}") == "Naikkan dari daftar tunggu"
        submit(driver, f"#promote-button-{ilham_id}")
        kind, message = flash(driver)
        assert kind == "ok" and f"{ilham.name} dinaikkan dari daftar tunggu" in message
        promoted = driver.find_element(By.CSS_SELECTOR, f'#participants tr[data-enrolment="{ilham_id}"]')
        assert promoted.get_attribute("data-status") == "enrolled"
        assert driver.find_elements(By.ID, "no-waitlist")
        assert driver.find_element(By.ID, "seats").get_attribute("data-left") == "0"
    assert site.get("enrollment", f"/enrolments/{ilham_id}")["promoted_from_waitlist"] is True
    assert site.get("enrollment", f"/enrolments/{rina_id}")["cancel_reason"] == "Bertugas ke luar daerah"


# -- operator of OPD B: refused OPD A's data ---------------------------------------------------------
def test_an_operator_of_another_opd_is_refused_that_opds_programme_data(site):
    small, marking = site.programmes["small"]["code"], site.programmes["marking"]["code"]
    diskominfo = {site.people[k].nip for k in ("asn", "asn2", "staff3", "staff4", "supervisor")}
    with chromium("desktop") as driver:
        as_person(driver, site, "operator_b", "/operator/program")
        # the programme page lists none of DISKOMINFO's participants; asking for them is refused
        visit(driver, site, f"/operator/program/{small}", "operator-program-detail", "desktop")
        assert driver.find_elements(By.ID, "no-participants") and driver.find_elements(By.ID, "no-waitlist")
        assert not diskominfo & {tr.get_attribute("data-nip") for tr in driver.find_elements(By.CSS_SELECTOR, "tr")}
        driver.get(f"{site.url}/operator/program/{small}?opd=DISKOMINFO")
        refused_page(driver, "OPD lain")
        assert driver.find_elements(By.ID, "nav-operator-program")  # the person's own menu
        check(driver, "another OPD's participants refused", "desktop", "operator-ditolak")
        # the roster search finds no DISKOMINFO ASN
        driver.get(f"{site.url}/operator/program/{small}?cari=Budi")
        assert driver.find_elements(By.ID, "no-roster-results")
        # marking: only DINKES's own participant
        visit(driver, site, f"/operator/program/{marking}/penilaian", "operator-penilaian", "desktop")
        rows = {tr.get_attribute("data-nip") for tr in driver.find_elements(By.CSS_SELECTOR, "#marking-table tbody tr")}
        assert rows == {site.people["nurse"].nip}
        # the dashboard of DISKOMINFO: reporting's refusal as a page
        driver.get(f"{site.url}/operator/dasbor?opd=DISKOMINFO")
        refused_page(driver, "OPD-nya sendiri")
        check(driver, "another OPD's dashboard refused", "desktop")


# -- uploads -----------------------------------------------------------------------------------------
def capture_blobs(driver) -> None:
    """The page's CSP forbids fetch() of a blob: URL, so the Blob given to URL.createObjectURL is kept."""
    driver.execute_script(
        "window.__blobs = []; const make = URL.createObjectURL.bind(URL);"
        "URL.createObjectURL = function (b) { window.__blobs.push(b); return make(b); };")


def last_blob(driver) -> bytes:
    """The last Blob the page made, as bytes (Blob.text() would drop the BOM)."""
    return bytes(driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const b = window.__blobs[window.__blobs.length - 1];"
        "b.arrayBuffer().then(a => done(Array.from(new Uint8Array(a))));"))


def upload(driver, site: Site, code: str, path) -> None:
    driver.get(f"{site.url}/operator/unggah")
    wait(driver, lambda d: page_of(d) == "operator-unggah")
    capture_blobs(driver)
    driver.find_element(By.ID, "upload-kind-pendaftaran").click()
    Select(driver.find_element(By.ID, "upload-programme")).select_by_value(code)
    driver.find_element(By.ID, "upload-file").send_keys(str(path))
    driver.find_element(By.ID, "upload-button").click()
    wait(driver, lambda d: d.find_element(By.ID, "upload-summary").get_attribute("data-done") == "true", timeout=60)


def counters(driver) -> dict:
    return {name: text(driver, f"#{name}-count") for name in ("accepted", "rejected", "done", "total")}


def test_an_upload_with_bad_rows_shows_live_progress_and_the_fixed_rows_go_through(site, tmp_path):
    code = site.programmes["bulk"]["code"]
    staff, nurse = site.people, site.people["nurse"]
    unknown = demo.make_identifier(random.Random(7), datetime.now(timezone.utc).year, "1", pppk=False)
    original = ("nip;nama\n"
                f"{staff['asn2'].nip};{staff['asn2'].name}\n"     # 2: accepted
                "12345;Salah Ketik\n"                             # 3: not 18 digits
                f"{nurse.nip};{nurse.name}\n"                     # 4: another OPD's ASN
                "\n"                                              # 5: blank, skipped
                f"{unknown};Tidak Dikenal\n"                      # 6: not on the roster
                f"{staff['staff4'].nip};{staff['staff4'].name}\n")  # 7: accepted
    first = tmp_path / "peserta.csv"
    first.write_text(original, encoding="utf-8")
    with chromium("desktop") as driver:
        as_person(driver, site, "operator", "/operator/unggah")
        check(driver, "/operator/unggah", "desktop")
        upload(driver, site, code, first)
        bar = driver.find_element(By.ID, "upload-progress")
        assert bar.get_attribute("aria-valuenow") == bar.get_attribute("aria-valuemax") == "5"
        assert driver.execute_script("return document.getElementById('upload-progress-bar').style.width") == "100%"
        assert counters(driver) == {"accepted": "2", "rejected": "3", "done": "5", "total": "5"}
        summary = driver.find_element(By.ID, "upload-summary")
        assert summary.get_attribute("data-accepted") == "2" and summary.get_attribute("data-rejected") == "3"
        assert "Unggahan selesai: 2 diterima, 3 ditolak" in text(driver, "#upload-status")
        rejected = {int(tr.get_attribute("data-row")): tr for tr in driver.find_elements(By.CSS_SELECTOR,
                                                                                          "#rejected-rows tr")}
        assert set(rejected) == {3, 4, 6}
        assert "18 angka" in rejected[3].text and rejected[3].get_attribute("data-column") == "nip"
        assert "daftar ASN aktif OPD DISKOMINFO" in rejected[4].text
        reason = {row: tr.find_elements(By.TAG_NAME, "td")[3].text for row, tr in rejected.items()}
        assert reason[4] == reason[6]  # another OPD's ASN reads exactly like one the roster does not know
        check(driver, "/operator/unggah with rejected rows", "desktop", "operator-unggah")

        # "Unduh baris yang ditolak": the original rows with their reason, the delimiter kept
        link = driver.find_element(By.ID, "download-rejected")
        assert link.is_displayed() and link.text == "Unduh baris yang ditolak"
        assert link.get_attribute("href").startswith("blob:") and link.get_attribute("data-rows") == "3"
        assert link.get_attribute("download") == "baris-ditolak.csv"
        downloaded = last_blob(driver)
        assert downloaded.startswith(b"\xef\xbb\xbf")  # a BOM, so a spreadsheet opens it as UTF-8
        lines = downloaded[3:].decode("utf-8").rstrip("\r\n").split("\r\n")
        records = list(csv.reader(lines, delimiter=";"))
        assert records[0] == ["nip", "nama", "alasan"]
        assert [r[:2] for r in records[1:]] == [["12345", "Salah Ketik"], [nurse.nip, nurse.name],
                                                [unknown, "Tidak Dikenal"]]
        assert "18 angka" in records[1][2] and "daftar ASN aktif OPD DISKOMINFO" in records[2][2]
        assert all(line.startswith(f"{r[0]};{r[1]};") for line, r in zip(lines[1:], records[1:]))  # rows as written

        # the operator fixes the NIPs in that file (the alasan column stays; it is ignored) and uploads it
        fixes = {"12345": staff["staff3"].nip, nurse.nip: staff["supervisor"].nip, unknown: staff["asn"].nip}
        fixed_lines = [lines[0]] + [fixes[line.split(";", 1)[0]] + ";" + line.split(";", 1)[1] for line in lines[1:]]
        second = tmp_path / "baris-ditolak.csv"
        second.write_text("\ufeff" + "\r\n".join(fixed_lines) + "\r\n", encoding="utf-8")
        upload(driver, site, code, second)
        assert counters(driver) == {"accepted": "3", "rejected": "0", "done": "3", "total": "3"}
        assert not driver.find_elements(By.CSS_SELECTOR, "#rejected-rows tr")
        assert not driver.find_element(By.ID, "download-rejected").is_displayed()
        check(driver, "/operator/unggah all accepted", "desktop")
    enrolled = site.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]
    assert sorted(e["nip"] for e in enrolled) == sorted(staff[k].nip for k in ("asn", "asn2", "staff3", "staff4",
                                                                                "supervisor"))


def test_a_large_upload_shows_progress_long_before_it_ends(site, tmp_path):
    """3,000 rows of NIPs not on the operator's roster (enrollment answers 100 rows a transaction here):
    the bar moves while rows are still being processed, its first movement within a second of sending."""
    code = site.programmes["bulk"]["code"]
    rng = random.Random(3000)
    year = datetime.now(timezone.utc).year
    nips = sorted({demo.make_identifier(rng, year, "1", pppk=False) for _ in range(3100)})[:3000]
    big = tmp_path / "massal.csv"
    big.write_text("nip,nama\n" + "".join(f"{nip},Peserta {i}\n" for i, nip in enumerate(nips)), encoding="utf-8")
    with chromium("desktop") as driver:
        as_person(driver, site, "operator", "/operator/unggah")
        driver.execute_script(
            "window.__progress = []; const bar = document.getElementById('upload-progress');"
            "new MutationObserver(() => window.__progress.push([performance.now(), Number(bar.getAttribute("
            "'aria-valuenow'))])).observe(bar, {attributes: true, attributeFilter: ['aria-valuenow']});"
            "document.getElementById('upload-form').addEventListener('submit', () => {"
            " window.__sent = performance.now(); }, true);")
        driver.find_element(By.ID, "upload-kind-pendaftaran").click()
        Select(driver.find_element(By.ID, "upload-programme")).select_by_value(code)
        driver.find_element(By.ID, "upload-file").send_keys(str(big))
        driver.find_element(By.ID, "upload-button").click()
        wait(driver, lambda d: d.find_element(By.ID, "upload-summary").get_attribute("data-done") == "true",
             timeout=120)
        progress, sent = driver.execute_script("return [window.__progress, window.__sent];")
        assert counters(driver) == {"accepted": "0", "rejected": "3000", "done": "3000", "total": "3000"}
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rejected-rows tr")) == 2000  # the table's cap
        assert driver.find_element(By.ID, "download-rejected").get_attribute("data-rows") == "3000"
    moving = [(t, n) for t, n in progress if 0 < n < 3000]
    assert len({n for _, n in moving}) >= 3, progress[:20]  # several steps between none and all
    assert moving[0][0] - sent < 1000, f"first progress after {moving[0][0] - sent:.0f} ms"


# -- marking a session ----------------------------------------------------------------------------------
def test_the_operator_marks_a_session_for_every_participant_in_one_save(site):
    code = site.programmes["marking"]["code"]
    ids = site.marking
    path = f"/operator/program/{code}/penilaian"
    with chromium("phone") as driver:
        as_person(driver, site, "operator", f"/operator/program/{code}")
        driver.find_element(By.ID, "marking-link").click()
        wait(driver, lambda d: page_of(d) == "operator-penilaian")
        session = driver.find_element(By.ID, "marking").get_attribute("data-session")
        assert session and Select(driver.find_element(By.ID, "session-picker")).first_selected_option \
            .get_attribute("value") == session
        rows = {tr.get_attribute("data-enrolment"): tr for tr in driver.find_elements(By.CSS_SELECTOR,
                                                                                       "#marking-table tbody tr")}
        assert set(rows) == {ids["asn"], ids["asn2"], ids["staff3"]}  # not DINKES's nurse
        assert all(tr.get_attribute("data-present") == "" for tr in rows.values())
        assert driver.find_elements(By.ID, "complete-later")  # the programme has not ended
        check(driver, path, "phone")
        marks = {ids["asn"]: "ya", ids["asn2"]: "ya", ids["staff3"]: "tidak"}
        for enrolment, mark in marks.items():
            driver.find_element(By.CSS_SELECTOR, f'label[for="present-{enrolment}-{mark}"]').click()
        submit(driver, "#marking-save")

        summary = driver.find_element(By.ID, "marking-summary")
        assert (summary.get_attribute("data-accepted"), summary.get_attribute("data-rejected"),
                summary.get_attribute("data-unchanged")) == ("3", "0", "0"), summary.text
        for enrolment, mark in marks.items():
            row = driver.find_element(By.CSS_SELECTOR, f'#marking-table tr[data-enrolment="{enrolment}"]')
            assert row.get_attribute("data-present") == ("true" if mark == "ya" else "false")
            result = driver.find_element(By.ID, f"result-{enrolment}")
            assert (result.get_attribute("data-accepted"), result.get_attribute("data-outcome")) == ("true", "recorded")
        check(driver, f"{path} saved", "phone", "operator-penilaian")

        submit(driver, "#marking-save")  # the same marks again
        summary = driver.find_element(By.ID, "marking-summary")
        assert (summary.get_attribute("data-accepted"), summary.get_attribute("data-unchanged")) == ("3", "3")
        assert {driver.find_element(By.ID, f"result-{e}").get_attribute("data-outcome") for e in marks} == {"unchanged"}

        # the programme page shows the session's attendance
        driver.find_element(By.CSS_SELECTOR, f'#marking a[href="/operator/program/{code}"]').click()
        wait(driver, lambda d: page_of(d) == "operator-program-detail")
        for enrolment, mark in marks.items():
            cell = driver.find_element(By.CSS_SELECTOR, f'#participants tr[data-enrolment="{enrolment}"] '
                                                        f'td.attendance[data-session="{session}"]')
            assert cell.get_attribute("data-mark") == ("hadir" if mark == "ya" else "tidak")
        check(driver, f"/operator/program/{code} marked", "phone")
    listing = site.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]
    stored = {e["id"]: e for e in listing}
    assert stored[ids["asn"]]["attendance_days"] == {session: True}
    assert stored[ids["staff3"]]["attendance_days"] == {session: False}
    assert stored[ids["nurse"]]["attendance_days"] == {}


# -- oversight ----------------------------------------------------------------------------------------
def test_the_operator_oversees_its_own_opd(site):
    diskominfo = {site.people[k].nip for k in ("asn", "asn2", "staff3", "staff4", "supervisor")}
    code = site.programmes["done"]["code"]
    with chromium("phone") as driver:
        as_person(driver, site, "operator", "/operator/dasbor")
        wait(driver, lambda d: page_of(d) == "operator-dasbor")
        figures = driver.find_element(By.ID, "figures")
        assert figures.get_attribute("data-agency") == "DISKOMINFO"
        assert text(driver, "#figure-known") == "5"
        check(driver, "/operator/dasbor (operator)", "phone", "operator-dasbor")
        driver.find_element(By.ID, "link-belum-ikut").click()
        wait(driver, lambda d: page_of(d) == "operator-belum-ikut")
        listed = [tr.get_attribute("data-nip")
                  for tr in driver.find_elements(By.CSS_SELECTOR, "#never-enrolled tr[data-nip]")]
        assert listed == sorted(listed) and set(listed) <= diskominfo and site.people["nurse"].nip not in listed
        assert driver.find_element(By.ID, "never-total").get_attribute("data-total") == str(len(listed))
        check(driver, "/operator/belum-ikut", "phone", "operator-belum-ikut")
        # a programme's certificates: the OPD's two, no revoke form for an operator
        visit(driver, site, f"/operator/program/{code}/sertifikat", "operator-sertifikat", "phone",
              "operator-sertifikat")
        assert driver.find_element(By.ID, "certificate-total").get_attribute("data-total") == "2"
        assert not driver.find_elements(By.CSS_SELECTOR, "form[id^=revoke-]")


def test_the_admin_runs_a_checkpoint_to_its_end_and_revokes_a_certificate_with_a_reason(site):
    checkpoint = f"{timefmt.wib_year(datetime.now(timezone.utc)) - 1}-Q4"
    code = site.programmes["done"]["code"]
    target = site.certificates["asn2"]
    reason = "Nilai ujian dibatalkan oleh panitia"
    with chromium("desktop") as driver:
        as_person(driver, site, "admin", "/admin/checkpoint")
        wait(driver, lambda d: page_of(d) == "admin-checkpoint")
        check(driver, "/admin/checkpoint", "desktop")
        Select(driver.find_element(By.ID, "checkpoint-select")).select_by_value(checkpoint)
        submit(driver, "#checkpoint-run-button")
        kind, message = flash(driver)
        assert kind == "ok" and "mulai dijalankan" in message

        def finished(d):
            if d.find_element(By.ID, "job-status").text == "Selesai":
                return True
            if d.find_element(By.ID, "checkpoint-job").get_attribute("data-status") not in ("queued", "running"):
                d.find_element(By.ID, "job-refresh").click()
            return False
        wait(driver, finished, timeout=90)
        assert text(driver, "#job-percent") == "100" and text(driver, "#job-checked") == text(driver, "#job-total")
        row = driver.find_element(By.CSS_SELECTOR, f'#checkpoints tr[data-checkpoint="{checkpoint}"]')
        assert row.get_attribute("data-status") == "done"
        check(driver, "/admin/checkpoint done", "desktop", "admin-checkpoint")

        # certificates of a programme: revoke with a reason (required; too short: refused beside the field)
        visit(driver, site, f"/operator/program/{code}/sertifikat", "operator-sertifikat", "desktop")
        assert driver.find_element(By.ID, f"reason-{target['id']}").get_attribute("required") == "true"
        driver.find_element(By.ID, f"reason-{target['id']}").send_keys("abc")
        submit(driver, f"#revoke-button-{target['id']}")
        reason_field = driver.find_element(By.ID, f"reason-{target['id']}")
        assert reason_field.get_attribute("aria-invalid") == "true"
        assert "5" in text(driver, f"#revoke-error-{target['id']}")
        check(driver, "a revoke refused", "desktop")
        reason_field.clear()
        reason_field.send_keys(reason)
        submit(driver, f"#revoke-button-{target['id']}")
        kind, message = flash(driver)
        assert kind == "ok" and f"Sertifikat {target['number']} dicabut" in message
        card = driver.find_element(By.CSS_SELECTOR, f'#certificate-list li[data-certificate="{target["id"]}"]')
        assert card.get_attribute("data-status") == "revoked"
        assert reason in card.find_element(By.CSS_SELECTOR, ".revoked-reason").text
        assert not driver.find_elements(By.ID, f"revoke-{target['id']}")
        check(driver, "/operator/program/<code>/sertifikat revoked", "desktop", "admin-sertifikat")
    assert site.get("certification", f"/certificates/{target['id']}")["revoked"]["reason"] == reason


# -- every console page at both sizes --------------------------------------------------------------------
def test_every_console_page_passes_axe_and_fits_a_phone(site):
    """The pages the journeys above saw at one size, at the other too (and the admin's oversight pages)."""
    codes = {k: site.programmes[k]["code"] for k in ("small", "marking", "done", "upcoming")}
    operator_pages = [("/operator/program", "operator-program"),
                      (f"/operator/program/{codes['marking']}", "operator-program-detail"),
                      (f"/operator/program/{codes['marking']}/penilaian", "operator-penilaian"),
                      ("/operator/unggah", "operator-unggah"), ("/operator/dasbor", "operator-dasbor"),
                      ("/operator/belum-ikut", "operator-belum-ikut"),
                      (f"/operator/program/{codes['done']}/sertifikat", "operator-sertifikat")]
    admin_pages = [("/operator/program/baru", "operator-program-form"),
                   (f"/operator/program/{codes['upcoming']}/ubah", "operator-program-form"),
                   (f"/operator/program/{codes['small']}", "operator-program-detail"),
                   (f"/operator/program/{codes['marking']}/penilaian", "operator-penilaian"),
                   ("/operator/dasbor", "operator-dasbor"), ("/operator/belum-ikut", "operator-belum-ikut"),
                   ("/admin/checkpoint", "admin-checkpoint"), ("/operator/unggah", "operator-unggah")]
    shots = {"desktop": {"/operator/unggah": "operator-unggah-form", "/operator/dasbor": "operator-dasbor",
                         f"/operator/program/{codes['marking']}/penilaian": "operator-penilaian"},
             "phone": {"/operator/unggah": "operator-unggah-form"}}
    admin_shots = {"phone": {"/operator/program/baru": "admin-program-baru", "/admin/checkpoint": "admin-checkpoint",
                             "/operator/dasbor": "admin-dasbor"},
                   "desktop": {"/operator/dasbor": "admin-dasbor"}}
    for size in ("desktop", "phone"):
        with chromium(size) as driver:
            as_person(driver, site, "operator", "/operator/program")
            for path, page in operator_pages:
                visit(driver, site, path, page, size, shots[size].get(path))
            as_person(driver, site, "admin", "/operator/program")
            for path, page in admin_pages:
                visit(driver, site, path, page, size, admin_shots[size].get(path))
