"""The operator console's programme pages against the four services and the portal as separate
processes (deploy.launcher.Stack), signing in with the development sign-in: an admin creates a
programme, sees enrollment's refusals beside the fields in Bahasa Indonesia, fixes them and
publishes; an operator enrols ASN of its OPD by name or NIP search, cancels with a reason and
promotes from the waitlist by hand; an operator of another OPD, an ASN and an anonymous visitor
are refused."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pymongo
import pytest
import requests

from deploy.launcher import Stack, free_ports
from shared import timefmt
from shared.config import DEPLOYABLES
from tests.integration.portal.conftest import Site, import_roster, make_people, programme_body

TIMEOUT = 30


@pytest.fixture(scope="module")
def con(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-console-programmes-logs")
    ports = free_ports()
    url = f"http://127.0.0.1:{ports['portal']}"
    extra_env = {"PORTAL_DEV_SIGNIN": "on", "PORTAL_PUBLIC_URL": url, "RELAY_POLL_INTERVAL_S": "0.1"}
    with Stack(amqp_uri=amqp_uri, db_prefix=f"pc{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
               log_dir=logs, extra_env=extra_env) as stack:
        site = Site(url=url, issuer="", stack=stack, smtp=None, people=make_people())
        import_roster(site)
        yield site


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(site: Site, choice: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{site.url}/masuk", timeout=TIMEOUT)
    answer = browser.post(f"{site.url}/masuk/dev", data={"csrf_token": csrf_of(page.text), "sebagai": choice},
                          allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text[:500]
    return browser


def page(browser: requests.Session, site: Site, path: str, status: int = 200) -> str:
    answer = browser.get(site.url + path, timeout=TIMEOUT)
    assert answer.status_code == status, (path, answer.status_code, answer.text[-1500:])
    return answer.text


def post(browser: requests.Session, site: Site, path: str, data: dict, *, csrf_from: str = "/operator/program"):
    token = csrf_of(browser.get(site.url + csrf_from, timeout=TIMEOUT).text)
    return browser.post(site.url + path, data={"csrf_token": token, **data}, allow_redirects=False, timeout=TIMEOUT)


def wib_input(moment: datetime) -> str:
    return timefmt.wib(moment).strftime("%Y-%m-%dT%H:%M")


def published(site: Site, **fields) -> dict:
    return site.publish(programme_body("KON", **fields))


def enrol(site: Site, code: str, key: str) -> dict:
    return site.call("POST", "enrollment", f"/programmes/{code}/enrolments", json={"nip": site.people[key].nip},
                     expect=201).json()


def row(html: str, table: str, enrolment_id: str) -> str:
    body = re.search(rf'<table id="{table}">.*?</table>', html, re.S)
    assert body, f"no table {table}"
    found = re.search(rf'<tr data-enrolment="{enrolment_id}".*?</tr>', body.group(0), re.S)
    assert found, f"{enrolment_id} not in {table}"
    return found.group(0)


def field_error(html: str, name: str) -> str:
    assert re.search(rf'id="field-{name}"[^>]*aria-invalid="true"', html), f"field {name} not marked invalid"
    return re.search(rf'<p id="error-{name}" class="field-error">([^<]*)</p>', html).group(1)


def test_the_admin_creates_a_programme_fixing_the_rules_shown_beside_the_fields_then_publishes(con):
    admin = sign_in(con, "admin")
    form = page(admin, con, "/operator/program/baru")
    assert 'id="nav-operator-program"' in form and 'id="nav-admin-checkpoint"' in form
    assert 'id="hint-judul"' in form and "3–200 karakter" in form
    assert 'src="/static/console-program.js"' in form and "<script>" not in form
    now = datetime.now(timezone.utc)
    code = f"KON-{uuid.uuid4().hex[:6].upper()}"
    fields = {"kode": code, "judul": "ab", "jenis": "seminar", "kompetensi": "teknis", "durasi_hari": "1",
              "penyelenggara": "PEMKOT_BUKITTINGGI", "mulai": wib_input(now + timedelta(days=20)),
              "selesai": wib_input(now + timedelta(days=20, hours=7)), "lokasi": "Aula Balai Kota",
              "daftar_buka": wib_input(now - timedelta(days=1)), "daftar_tutup": wib_input(now + timedelta(days=15)),
              "kapasitas": "20", "izin_atasan": "ya"}

    short = post(admin, con, "/operator/program/baru", fields)
    assert short.status_code == 422
    assert field_error(short.text, "judul") == "Judul harus 3–200 karakter."
    assert 'id="error-summary"' in short.text and 'value="ab"' in short.text  # typed values kept

    fields["judul"] = "Seminar Literasi Data"
    backwards = post(admin, con, "/operator/program/baru", {**fields, "selesai": wib_input(now + timedelta(days=19))})
    assert backwards.status_code == 422
    assert field_error(backwards.text, "selesai") == "Waktu selesai harus setelah waktu mulai."

    created = post(admin, con, "/operator/program/baru", fields)
    assert created.status_code == 303 and created.headers["Location"] == f"/operator/program/{code}"
    shown = page(admin, con, f"/operator/program/{code}")
    assert f'data-code="{code}" data-status="draft"' in shown and 'data-kind="ok"' in shown
    assert 'id="programme-jp" data-jp="4"' in shown  # one seminar day = 4 JP, derived by enrollment
    assert 'id="approval-flag" data-required="ya"' in shown

    preview = admin.get(f"{con.url}/operator/program/jp", params={"jenis": "seminar", "durasi_hari": "2"},
                        timeout=TIMEOUT)
    assert preview.status_code == 200 and preview.json()["jp"] == 8 and "JP per hari" in preview.json()["text"]

    refused = post(admin, con, f"/operator/program/{code}/terbitkan", {})
    assert refused.status_code == 422 and 'id="form-note"' in refused.text
    assert "sebelum diterbitkan" in field_error(refused.text, "narasumber")

    edited = post(admin, con, f"/operator/program/{code}/ubah",
                  {**fields, "narasumber": "Dr. Andi Wijaya\nIr. Sri Rahayu"}, csrf_from=f"/operator/program/{code}/ubah")
    assert edited.status_code == 303, edited.text[-1500:]
    assert con.get("enrollment", f"/programmes/{code}")["speakers"] == ["Dr. Andi Wijaya", "Ir. Sri Rahayu"]
    done = post(admin, con, f"/operator/program/{code}/terbitkan", {})
    assert done.status_code == 303
    shown = page(admin, con, f"/operator/program/{code}")
    assert f'data-code="{code}" data-status="published"' in shown and "diterbitkan" in shown

    no_reason = post(admin, con, f"/operator/program/{code}/batal", {"alasan": "x"})
    assert no_reason.status_code == 422
    assert re.search(r'id="cancel-reason"[^>]*aria-invalid="true"', no_reason.text)
    assert "Alasan harus 3–500 karakter." in no_reason.text
    cancelled = post(admin, con, f"/operator/program/{code}/batal", {"alasan": "Narasumber berhalangan hadir"})
    assert cancelled.status_code == 303
    assert con.get("enrollment", f"/programmes/{code}")["cancel_reason"] == "Narasumber berhalangan hadir"


def test_the_operator_enrols_by_name_search_and_cancels_with_a_reason(con):
    code = published(con, title="Pelatihan Analisis Kebijakan", capacity=1)["code"]
    operator = sign_in(con, "operator:DISKOMINFO")
    listing = page(operator, con, "/operator/program")
    assert 'id="nav-operator-program"' in listing and 'id="nav-admin-checkpoint"' not in listing
    assert f'data-programme="{code}"' in listing and 'class="n opd-enrolled"' in listing

    rina, budi = con.people["asn2"], con.people["asn"]
    found = page(operator, con, f"/operator/program/{code}?cari=Rin")
    hit = re.search(rf'<li class="card" data-nip="{rina.nip}">.*?</li>', found, re.S).group(0)
    assert rina.name in hit and "Pranata Komputer Ahli Pertama" in hit and 'class="jp"' in hit
    assert 'class="agency"' in hit and f"{rina.nip[:8]} {rina.nip[8:14]}" in hit
    enrolled = post(operator, con, f"/operator/program/{code}/daftar", {"nip": rina.nip})
    assert enrolled.status_code == 303
    shown = page(operator, con, f"/operator/program/{code}")
    assert 'data-kind="ok"' in shown and "terdaftar pada program ini" in shown
    rina_id = re.search(rf'<tr data-enrolment="([^"]+)" data-nip="{rina.nip}" data-status="enrolled"', shown).group(1)

    by_nip = page(operator, con, f"/operator/program/{code}?cari={budi.nip}")
    assert f'id="enrol-{budi.nip}"' in by_nip and f'id="enrol-{rina.nip}"' not in by_nip
    post(operator, con, f"/operator/program/{code}/daftar", {"nip": budi.nip})
    shown = page(operator, con, f"/operator/program/{code}")
    assert "daftar tunggu nomor 1" in shown
    budi_id = re.search(rf'<tr data-enrolment="([^"]+)" data-nip="{budi.nip}" data-position="1"', shown).group(1)

    empty = post(operator, con, f"/operator/pendaftaran/{rina_id}/batal", {"alasan": "  ", "kode": code})
    assert empty.status_code == 422
    assert re.search(rf'id="reason-{rina_id}"[^>]*aria-invalid="true"', empty.text)
    assert f'<p id="error-{rina_id}" class="field-error" role="alert">Alasan pembatalan wajib diisi.</p>' in empty.text
    assert con.get("enrollment", f"/enrolments/{rina_id}")["status"] == "enrolled"

    done = post(operator, con, f"/operator/pendaftaran/{rina_id}/batal",
                {"alasan": "Bertugas ke luar daerah", "kode": code})
    assert done.status_code == 303 and done.headers["Location"] == f"/operator/program/{code}#peserta"
    shown = page(operator, con, f"/operator/program/{code}")
    assert re.search(rf'<li data-enrolment="{rina_id}".*?Bertugas ke luar daerah', shown, re.S)
    assert con.get("enrollment", f"/enrolments/{rina_id}")["cancelled_by"] == "operator"
    # the freed seat went to the first on the waitlist (enrollment's automatic promotion)
    assert 'data-status="enrolled"' in row(shown, "participants", budi_id)


def test_a_waitlisted_asn_is_promoted_by_hand_where_a_seat_is_free(con):
    code = published(con, title="Lokakarya Penulisan Laporan", kind="lokakarya", capacity=1,
                     speakers=["Dr. Andi Wijaya"])["code"]
    enrol(con, code, "staff3")
    waiting = enrol(con, code, "staff4")
    operator = sign_in(con, "operator:DISKOMINFO")
    shown = page(operator, con, f"/operator/program/{code}")
    assert 'data-position="1"' in row(shown, "waitlist", waiting["id"])
    assert f'id="promote-{waiting["id"]}"' not in shown  # no seat free
    early = post(operator, con, f"/operator/pendaftaran/{waiting['id']}/naikkan", {"kode": code})
    assert early.status_code == 303
    assert "Tidak ada kursi kosong" in page(operator, con, f"/operator/program/{code}")
    # a seat free while nothing promotes automatically (the state a started programme keeps, issue 24)
    with pymongo.MongoClient(con.stack.store_uri) as client:
        client[f"{con.stack.db_prefix}enrollment"].programmes.update_one({"_id": code}, {"$inc": {"capacity": 1}})
    shown = page(operator, con, f"/operator/program/{code}")
    assert f'id="promote-button-{waiting["id"]}"' in shown and "Naikkan dari daftar tunggu" in shown
    promoted = post(operator, con, f"/operator/pendaftaran/{waiting['id']}/naikkan", {"kode": code})
    assert promoted.status_code == 303
    shown = page(operator, con, f"/operator/program/{code}")
    assert "dinaikkan dari daftar tunggu" in shown
    assert 'data-status="enrolled"' in row(shown, "participants", waiting["id"])
    answer = con.get("enrollment", f"/enrolments/{waiting['id']}")
    assert answer["status"] == "enrolled" and answer["promoted_from_waitlist"] is True


def test_an_operator_of_another_opd_is_refused_that_opds_enrolments(con):
    code = published(con, title="Pelatihan Arsip Elektronik", capacity=5)["code"]
    theirs = enrol(con, code, "staff3")
    other = sign_in(con, "operator:DINKES")
    shown = page(other, con, f"/operator/program/{code}")
    assert 'id="no-participants"' in shown and con.people["staff3"].nip not in shown
    refused = other.get(f"{con.url}/operator/program/{code}?opd=DISKOMINFO", timeout=TIMEOUT)
    assert refused.status_code == 403 and 'id="error"' in refused.text and "OPD lain" in refused.text
    assert 'id="nav-operator-program"' in refused.text  # a page with the person's menu
    for path, data in ((f"/operator/pendaftaran/{theirs['id']}/batal", {"alasan": "Coba", "kode": code}),
                       (f"/operator/pendaftaran/{theirs['id']}/naikkan", {"kode": code})):
        answer = post(other, con, path, data)
        assert answer.status_code == 403 and "OPD lain" in answer.text, (path, answer.status_code)
    assert con.get("enrollment", f"/enrolments/{theirs['id']}")["status"] == "enrolled"
    search = page(other, con, f"/operator/program/{code}?cari=Ilham")
    assert 'id="no-roster-results"' in search
    enrolled = post(other, con, f"/operator/program/{code}/daftar", {"nip": con.people["staff4"].nip})
    assert enrolled.status_code == 303
    assert "tidak ada di daftar ASN aktif OPD Anda" in page(other, con, f"/operator/program/{code}")


def test_asn_anonymous_and_operators_are_refused_what_is_not_theirs(con):
    code = published(con, title="Pelatihan Hanya Admin")["code"]
    anonymous = requests.get(f"{con.url}/operator/program", allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 303 and anonymous.headers["Location"] == "/masuk?lanjut=/operator/program"
    asn = sign_in(con, f"asn:{con.asn.nip}")
    home = page(asn, con, "/")
    assert 'id="nav-operator-program"' not in home
    for path in ("/operator/program", "/operator/program/baru", f"/operator/program/{code}",
                 f"/operator/program/{code}/ubah", "/operator/program/jp?jenis=seminar&durasi_hari=1"):
        answer = asn.get(con.url + path, allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 403 and 'id="error"' in answer.text, (path, answer.status_code)
    created = post(asn, con, "/operator/program/baru", {"kode": "ASN-NOPE", "judul": "Tidak boleh"}, csrf_from="/")
    assert created.status_code == 403
    con.call("GET", "enrollment", "/programmes/ASN-NOPE", expect=404)  # nothing created
    operator = sign_in(con, "operator:DISKOMINFO")
    assert operator.get(f"{con.url}/operator/program/baru", timeout=TIMEOUT).status_code == 403
    for path, data in ((f"/operator/program/{code}/terbitkan", {}), (f"/operator/program/{code}/batal",
                                                                       {"alasan": "Operator mencoba"}),
                       (f"/operator/program/{code}/ubah", {"judul": "Diubah operator"})):
        assert post(operator, con, path, data).status_code == 403, path
    assert con.get("enrollment", f"/programmes/{code}")["status"] == "published"


def test_in_chromium_the_jp_preview_follows_the_form_and_the_pages_pass_axe(con):
    """The programme form's live JP preview (static/console-program.js under the portal's CSP),
    the speakers field hidden for a kind without speakers, and axe-core on the three pages at
    phone size with nothing scrolling sideways."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.integration.portal.conftest import assert_accessible, wait
    from tests.portal_support import chromium

    code = published(con, title="Seminar Etika Pelayanan", kind="seminar", capacity=1, speakers=["Dr. Andi"])["code"]
    enrol(con, code, "asn")
    enrol(con, code, "asn2")  # waitlisted
    admin = sign_in(con, "admin")
    with chromium("phone") as driver:
        driver.get(con.url + "/masuk")
        driver.add_cookie({"name": "asn_portal_session", "value": admin.cookies["asn_portal_session"], "path": "/"})
        driver.get(con.url + "/operator/program/baru")
        Select(driver.find_element(By.ID, "field-jenis")).select_by_value("pelatihan")
        wait(driver, lambda d: not d.find_element(By.ID, "speakers-field").is_displayed())
        Select(driver.find_element(By.ID, "field-jenis")).select_by_value("seminar")
        driver.find_element(By.ID, "field-durasi_hari").send_keys("2")
        wait(driver, lambda d: d.find_element(By.ID, "jp-preview").get_attribute("data-jp") == "8")
        assert "8 JP" in driver.find_element(By.ID, "jp-preview").text
        assert driver.find_element(By.ID, "speakers-field").is_displayed()
        assert_accessible(driver, "/operator/program/baru")
        for path in ("/operator/program", f"/operator/program/{code}?cari=Ilh"):
            driver.get(con.url + path)
            assert_accessible(driver, path)
