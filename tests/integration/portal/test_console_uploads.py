"""The operator console's uploads and marking (issue 21) against the four services and the portal as
separate processes (deploy.launcher.Stack), signing in with the development sign-in: a bulk enrolment
CSV with bad rows through the portal's streaming route (results line by line as enrollment writes them,
rejected rows with their column and reason in Bahasa Indonesia), the fixed rows uploaded again, XLSX
files, the form without JavaScript, the bulk limit (413), and marking a session's attendance; each
route refused to an operator of another OPD, an ASN and an anonymous visitor."""
from __future__ import annotations

import io
import json
import random
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from openpyxl import Workbook

from deploy import demo
from deploy.launcher import Stack, free_ports
from shared.config import DEPLOYABLES
from tests.integration.portal.conftest import Person, Site, _iso, import_roster, make_people, programme_body

TIMEOUT = 60
BULK_MAX_BYTES = 400_000  # enrollment's and so the portal's upload limit in this module
OTHER_AGENCY = "DINKES"


@pytest.fixture(scope="module")
def up(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-uploads-logs")
    ports = free_ports()
    url = f"http://127.0.0.1:{ports['portal']}"
    extra_env = {"PORTAL_DEV_SIGNIN": "on", "PORTAL_PUBLIC_URL": url, "RELAY_POLL_INTERVAL_S": "0.1",
                 "NOTIFICATION_QUIET_HOURS": "00:00-00:00", "ENROLLMENT_BULK_MAX_BYTES": str(BULK_MAX_BYTES),
                 "ENROLLMENT_BULK_CHUNK_ROWS": "100"}
    with Stack(amqp_uri=amqp_uri, db_prefix=f"pu{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
               log_dir=logs, extra_env=extra_env) as stack:
        people = make_people()
        rng = random.Random(2121)
        year = datetime.now(timezone.utc).year
        people["elsewhere"] = Person(demo.make_identifier(rng, year, "1", pppk=False), "Dodi Kesehatan",
                                     "Perawat", "III/a", agency=OTHER_AGENCY)
        site = Site(url=url, issuer="", stack=stack, smtp=None, people=people)
        import_roster(site)
        p = people["elsewhere"]
        site.call("POST", "enrollment", "/roster/import", headers={"Content-Type": "text/csv"},
                  data=f"nip;nama;jenis_asn;kode_opd;jabatan;golongan;status\n{p.nip};{p.name};PNS;{p.agency};"
                       f"{p.position};{p.golongan};aktif\n".encode())
        site.programmes["bulk"] = site.publish(programme_body("BLK", title="Pelatihan Unggah Massal", capacity=30))
        site.programmes["big"] = site.publish(programme_body("BIG", title="Pelatihan Massal Daring",
                                                             capacity=5000))
        now = datetime.now(timezone.utc)
        site.programmes["marking"] = site.publish(programme_body(
            "MRK", title="Pelatihan Dua Hari", starts_at=_iso(now - timedelta(days=1, hours=1)),
            ends_at=_iso(now + timedelta(days=1)), enrolment_opens_at=_iso(now - timedelta(days=5)),
            enrolment_closes_at=_iso(now + timedelta(hours=12))))
        site.rng = rng
        yield site


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(site: Site, choice: str) -> tuple[requests.Session, str]:
    """A browser signed in with the development sign-in, and its session's CSRF token."""
    browser = requests.Session()
    page = browser.get(f"{site.url}/masuk", timeout=TIMEOUT)
    answer = browser.post(f"{site.url}/masuk/dev", data={"csrf_token": csrf_of(page.text), "sebagai": choice},
                          allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text[:500]
    return browser, csrf_of(browser.get(f"{site.url}/", timeout=TIMEOUT).text)


def operator(site: Site, agency: str = "DISKOMINFO") -> tuple[requests.Session, str]:
    return sign_in(site, f"operator:{agency}")


def stream(browser: requests.Session, token: str, site: Site, body: bytes, content_type: str = "text/csv",
           **params) -> requests.Response:
    return browser.post(f"{site.url}/operator/unggah/kirim", params=params, data=body, stream=True,
                        headers={"X-CSRF-Token": token, "Content-Type": content_type, "X-File-Name": "berkas.csv"},
                        timeout=TIMEOUT)


def lines_of(answer: requests.Response) -> list[dict]:
    assert answer.status_code == 200, answer.text[:800]
    assert answer.headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in answer.iter_lines() if line.strip()]


def rows_and_summary(lines: list[dict]) -> tuple[dict[int, dict], dict]:
    assert "summary" in lines[-1], lines[-3:]
    return {line["row"]: line for line in lines if "row" in line}, lines[-1]["summary"]


def fresh_nip(site: Site) -> str:
    return demo.make_identifier(site.rng, datetime.now(timezone.utc).year, "1", pppk=False)


# -- the page ----------------------------------------------------------------------------------------
def test_the_upload_page_has_the_form_the_progress_bar_and_its_script(up):
    browser, _ = operator(up)
    page = browser.get(f"{up.url}/operator/unggah", params={"jenis": "pendaftaran",
                                                             "program": up.programmes["bulk"]["code"]},
                       timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    html = page.text
    for marker in ('id="upload-form"', 'data-stream-url="/operator/unggah/kirim"',
                   f'data-max-bytes="{BULK_MAX_BYTES}"', 'id="upload-progress"', 'role="progressbar"',
                   'aria-valuenow="0"', 'id="accepted-count"', 'id="rejected-count"', 'id="rejected-rows"',
                   'id="download-rejected"', 'id="upload-summary" data-done="false"', 'enctype="multipart/form-data"',
                   '<script src="/static/console-upload.js" defer></script>'):
        assert marker in html, marker
    assert f'<option value="{up.programmes["bulk"]["code"]}" selected>' in html
    assert "<script>" not in html and " style=" not in html  # CSP: no inline script or style
    script = requests.get(f"{up.url}/static/console-upload.js", timeout=TIMEOUT)
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert "getReader" in script.text and "X-CSRF-Token" in script.text


# -- bulk enrolment with bad rows, then the fixed rows ---------------------------------------------------
def test_an_operator_uploads_enrolments_sees_the_rejected_rows_and_uploads_the_fixed_ones(up):
    browser, token = operator(up)
    code = up.programmes["bulk"]["code"]
    staff, elsewhere, unknown = up.people, up.people["elsewhere"], fresh_nip(up)
    csv_text = ("nip;nama\n"
                f"{staff['asn'].nip};{staff['asn'].name}\n"        # 2: accepted
                "12345;Salah Ketik\n"                               # 3: not 18 digits
                f"{elsewhere.nip};{elsewhere.name}\n"               # 4: another OPD's ASN
                "\n"                                                # 5: blank, skipped
                f"{unknown};Tidak Dikenal\n"                        # 6: not on the roster
                f"{staff['asn2'].nip};{staff['asn2'].name}\n")      # 7: accepted
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, csv_text.encode(), jenis="pendaftaran",
                                                     program=code)))
    assert set(rows) == {2, 3, 4, 6, 7}
    assert summary["rows"] == 5 and summary["accepted"] == 2 and summary["rejected"] == 3
    assert rows[2]["accepted"] and rows[2]["enrolment_status"] == "enrolled" and rows[2]["hasil"] == "didaftarkan"
    assert rows[7]["accepted"]
    assert rows[3]["kolom"] == "nip" and "18 angka" in rows[3]["alasan"]
    for row in (4, 6):  # another OPD's ASN reads exactly like one the roster does not know
        assert not rows[row]["accepted"] and rows[row]["kolom"] == "nip"
        assert "daftar ASN aktif OPD DISKOMINFO" in rows[row]["alasan"]
    assert rows[4]["alasan"] == rows[6]["alasan"]

    # the rejected rows fixed (right NIPs of the operator's own staff), the whole file again
    fixed = (f"nip;nama\n{staff['asn'].nip};{staff['asn'].name}\n{staff['staff3'].nip};{staff['staff3'].name}\n"
             f"{staff['staff4'].nip};{staff['staff4'].name}\n")
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, fixed.encode(), jenis="pendaftaran",
                                                     program=code)))
    assert summary["rejected"] == 0 and summary["accepted"] == 3
    assert rows[2]["outcome"] == "unchanged" and rows[3]["outcome"] == rows[4]["outcome"] == "created"
    enrolled = up.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]
    assert sorted(e["nip"] for e in enrolled) == sorted(staff[k].nip for k in ("asn", "asn2", "staff3", "staff4"))


def test_without_javascript_the_form_posts_and_answers_with_the_summary_page(up):
    browser, token = operator(up)
    code = up.programmes["bulk"]["code"]
    body = f"nip,nilai\n{up.people['asn'].nip},not-a-number\n123,80\n".encode()
    answer = browser.post(f"{up.url}/operator/unggah", timeout=TIMEOUT,
                          data={"csrf_token": token, "jenis": "pendaftaran", "program": code},
                          files={"berkas": ("peserta.csv", b"nip\n" + up.people["asn2"].nip.encode() + b"\n99\n",
                                            "text/csv")})
    assert answer.status_code == 200, answer.text[:800]
    assert 'id="upload-summary" class="card" data-done="true" data-accepted="1" data-rejected="1"' in answer.text
    assert 'id="accepted-count">1<' in answer.text and 'id="rejected-count">1<' in answer.text
    assert re.search(r'<tr data-row="3" data-nip="99" data-column="nip">.*?NIP harus 18 angka', answer.text, re.S)
    # a completion file: nilai that is not a number is named in the row
    answer = browser.post(f"{up.url}/operator/unggah", timeout=TIMEOUT,
                          data={"csrf_token": token, "jenis": "kelulusan", "program": code},
                          files={"berkas": ("nilai.csv", body, "text/csv")})
    assert answer.status_code == 200 and 'data-rejected="2"' in answer.text, answer.text[-1500:]
    assert "nilai &#39;not-a-number&#39; bukan angka" in answer.text or "nilai 'not-a-number' bukan angka" in \
        answer.text or "belum dimulai" in answer.text
    # no file, no programme: the form again, each error beside its field
    answer = browser.post(f"{up.url}/operator/unggah", timeout=TIMEOUT,
                          data={"csrf_token": token, "jenis": "pendaftaran"},
                          files={"berkas": ("", b"", "application/octet-stream")})
    assert answer.status_code == 422 and 'id="error-program"' in answer.text and 'id="error-berkas"' in answer.text
    # a programme that is not there: the whole upload refused on the form page
    answer = browser.post(f"{up.url}/operator/unggah", timeout=TIMEOUT,
                          data={"csrf_token": token, "jenis": "pendaftaran", "program": "TIDAK-ADA"},
                          files={"berkas": ("a.csv", b"nip\n1\n", "text/csv")})
    assert answer.status_code == 404 and 'id="upload-refused"' in answer.text and "Program tidak ditemukan" in \
        answer.text


# -- streaming ---------------------------------------------------------------------------------------
def test_a_2000_row_upload_streams_its_results_as_they_are_written(up):
    """The answer comes in many pieces, the first long before the summary: the portal passes each
    line on as enrollment writes it (100 rows a transaction here) instead of waiting for the end."""
    browser, token = sign_in(up, "admin")
    code = up.programmes["big"]["code"]
    nips = set()
    while len(nips) < 2000:
        nips.add(fresh_nip(up))
    lines = ["nip,nama,opd"] + [f"{nip},Peserta {i},DISKOMINFO" for i, nip in enumerate(sorted(nips))]
    lines[500] = "123,Baris Salah,DISKOMINFO"  # one bad row in the middle
    answer = stream(browser, token, up, ("\n".join(lines) + "\n").encode(), jenis="pendaftaran", program=code)
    assert answer.status_code == 200, answer.text[:500]
    chunks, pending, results, first_chunk_lines, summary_chunk = 0, b"", [], None, None
    for chunk in answer.iter_content(chunk_size=None):
        chunks += 1
        pending += chunk
        *complete, pending = pending.split(b"\n")
        results += [json.loads(line) for line in complete if line.strip()]
        if first_chunk_lines is None and results:
            first_chunk_lines = len(results)
        if results and "summary" in results[-1]:
            summary_chunk = chunks
    assert results[-1]["summary"]["rows"] == 2000 and results[-1]["summary"]["rejected"] == 1, results[:2]
    assert results[-1]["summary"]["accepted"] == 1999
    bad = next(r for r in results if not r.get("accepted", True))
    assert bad["row"] == 501 and bad["kolom"] == "nip"
    # the first results arrived on their own, well before the last row was processed
    assert first_chunk_lines < 2000 and chunks >= 20 and summary_chunk == chunks


# -- XLSX ----------------------------------------------------------------------------------------------
def workbook(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_xlsx_files_are_uploaded_like_csv(up):
    browser, token = operator(up)
    code = up.programmes["bulk"]["code"]
    staff = up.people
    data = workbook([["NIP", "Nama"], [staff["asn"].nip, staff["asn"].name], ["999", "Salah"], [None, None],
                     [staff["supervisor"].nip, staff["supervisor"].name]])
    lines = lines_of(stream(browser, token, up, data, XLSX, jenis="pendaftaran", program=code))
    assert lines[0] == {"total": 3}  # the portal read the workbook: the progress bar knows the total
    rows, summary = rows_and_summary(lines)
    assert summary["accepted"] == 2 and summary["rejected"] == 1
    assert rows[2]["outcome"] == "unchanged" and rows[5]["accepted"] and rows[3]["kolom"] == "nip"
    # an 18-digit NIP Excel stored as a number cannot be exact: explained on its row, not guessed
    data = workbook([["nip"], [int(staff["staff3"].nip)]])
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, data, "application/octet-stream",
                                                     jenis="pendaftaran", program=code)))
    assert summary["rejected"] == 1 and rows[2]["kolom"] == "nip"
    # the roster import reads XLSX itself: a new ASN of the operator's own OPD added
    newcomer = fresh_nip(up)
    data = workbook([["NIP BARU", "NAMA", "JENIS ASN", "KODE OPD", "JABATAN", "GOLONGAN", "STATUS"],
                     [newcomer, "Nia Pendatang", "PNS", "DISKOMINFO", "Pranata Komputer", "III/a", "aktif"],
                     ["12", "Baris Salah", "PNS", "DISKOMINFO", "Staf", "II/a", "aktif"]])
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, data, XLSX, jenis="daftar-asn",
                                                     mode="sebagian")))
    assert summary["accepted"] == 1 and summary["rejected"] == 1, summary
    assert rows[2]["accepted"] and rows[3]["kolom"] == "nip" and rows[3]["alasan"]
    assert up.get("enrollment", f"/roster/{newcomer}")["name"] == "Nia Pendatang"
    # an old .xls is refused as a whole with what to do
    refused = stream(browser, token, up, b"\xd0\xcf\x11\xe0" + b"\0" * 100, "application/vnd.ms-excel",
                     jenis="pendaftaran", program=code)
    assert refused.status_code == 422 and ".xls" in refused.json()["pesan"]


# -- who may upload --------------------------------------------------------------------------------------
def test_uploads_are_refused_to_other_opds_asn_anonymous_and_without_the_csrf_token(up):
    code = up.programmes["bulk"]["code"]
    body = f"nip\n{up.people['staff3'].nip}\n".encode()
    # another OPD's operator: the API's per-row refusal (DISKOMINFO's ASN are not on its roster)
    browser, token = operator(up, OTHER_AGENCY)
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, body, jenis="pendaftaran", program=code)))
    assert summary["accepted"] == 0 and "daftar ASN aktif OPD DINKES" in rows[2]["alasan"]
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, b"nip,nilai\n" + up.people["asn"].nip.encode()
                                                     + b",90\n", jenis="kelulusan", program=code)))
    assert summary["accepted"] == 0 and rows[2]["alasan"] == f"tidak terdaftar pada program {code}"
    # an ASN: the page and the upload refused
    asn, asn_token = sign_in(up, f"asn:{up.people['asn'].nip}")
    page = asn.get(f"{up.url}/operator/unggah", timeout=TIMEOUT)
    assert page.status_code == 403 and 'id="error"' in page.text
    refused = stream(asn, asn_token, up, body, jenis="pendaftaran", program=code)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    # anonymous: sign in first; the streamed route answers 401
    anonymous = requests.get(f"{up.url}/operator/unggah", allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/masuk?lanjut=/operator/unggah")
    refused = requests.post(f"{up.url}/operator/unggah/kirim?jenis=pendaftaran&program={code}", data=body,
                            timeout=TIMEOUT)
    assert refused.status_code == 401
    # the operator's own session without (or with a wrong) CSRF token
    browser, token = operator(up)
    for wrong in ("", "x" + token[1:]):
        refused = stream(browser, wrong, up, body, jenis="pendaftaran", program=code)
        assert refused.status_code == 403 and "Permintaan ditolak" in refused.json()["pesan"]
    refused = browser.post(f"{up.url}/operator/unggah", data={"jenis": "pendaftaran", "program": code},
                           files={"berkas": ("a.csv", body, "text/csv")}, timeout=TIMEOUT)
    assert refused.status_code == 403 and "Permintaan ditolak" in refused.text
    assert up.get("enrollment", "/enrolments", params={"programme": code, "nip": up.people["staff3"].nip}
                  )["items"][0]["status"] == "enrolled"  # enrolled earlier by its own operator, nothing else


def test_an_upload_over_the_bulk_limit_is_refused_with_413(up):
    browser, token = operator(up)
    code = up.programmes["bulk"]["code"]
    big = b"nip\n" + b"123456789012345678\n" * (BULK_MAX_BYTES // 19 + 10)
    assert len(big) > BULK_MAX_BYTES
    refused = stream(browser, token, up, big, jenis="pendaftaran", program=code)
    assert refused.status_code == 413 and "melebihi batas unggahan" in refused.json()["pesan"]
    refused = browser.post(f"{up.url}/operator/unggah", data={"csrf_token": token, "jenis": "pendaftaran",
                                                              "program": code},
                           files={"berkas": ("besar.csv", big, "text/csv")}, timeout=TIMEOUT)
    assert refused.status_code == 413 and "Berkas terlalu besar" in refused.text
    # more than the pages' 64 KiB but under the bulk limit goes through (every row refused on its own)
    medium = b"nip\n" + b"12345678901234567X\n" * 4000
    assert 64 * 1024 < len(medium) < BULK_MAX_BYTES
    rows, summary = rows_and_summary(lines_of(stream(browser, token, up, medium, jenis="pendaftaran", program=code)))
    assert summary["rows"] == 4000 and summary["rejected"] == 4000 and rows[4001]["kolom"] == "nip"


# -- marking -------------------------------------------------------------------------------------------
def enrol(site: Site, code: str, key: str) -> str:
    return site.call("POST", "enrollment", f"/programmes/{code}/enrolments", json={"nip": site.people[key].nip},
                     expect=(200, 201)).json()["id"]


def row_of(html: str, enrolment_id: str) -> str:
    match = re.search(rf'<tr data-enrolment="{enrolment_id}".*?</tr>', html, re.S)
    assert match, f"row {enrolment_id} not in the table"
    return match.group(0)


@pytest.fixture(scope="module")
def marking(up):
    code = up.programmes["marking"]["code"]
    ids = {key: enrol(up, code, key) for key in ("asn", "asn2", "staff3", "elsewhere")}
    programme = up.get("enrollment", f"/programmes/{code}")
    return code, ids, programme["sessions"]


def test_an_operator_marks_a_session_for_every_participant_and_a_second_save_changes_nothing(up, marking):
    code, ids, sessions = marking
    assert len(sessions) >= 2
    browser, token = operator(up)
    page = browser.get(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:800]
    session = re.search(r'<article id="marking" data-code="[^"]+" data-session="([^"]*)"', page.text).group(1)
    assert session == sessions[0]["date"] or session <= datetime.now(timezone.utc).date().isoformat() \
        or session in [s["date"] for s in sessions]
    assert 'id="session-picker"' in page.text and sessions[0]["label"] in page.text
    for key in ("asn", "asn2", "staff3"):
        assert f'data-present=""' in row_of(page.text, ids[key])
    assert ids["elsewhere"] not in page.text  # another OPD's participant is not in this operator's table
    assert 'id="complete-toggle"' not in page.text and 'id="complete-later"' in page.text  # not ended yet
    form = {"csrf_token": token, "sesi": session, f"hadir-{ids['asn']}": "ya", f"hadir-{ids['asn2']}": "ya",
            f"hadir-{ids['staff3']}": "tidak"}
    saved = browser.post(f"{up.url}/operator/program/{code}/penilaian", data=form, timeout=TIMEOUT)
    assert saved.status_code == 200, saved.text[:1500]
    assert re.search(r'id="marking-summary"[^>]*data-accepted="3" data-rejected="0"', saved.text), saved.text[:3000]
    for key, present in (("asn", "true"), ("asn2", "true"), ("staff3", "false")):
        row = row_of(saved.text, ids[key])
        assert f'data-present="{present}"' in row and 'data-accepted="true"' in row and \
            'data-outcome="recorded"' in row, row
    stored = {e["id"]: e for e in up.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]}
    assert stored[ids["asn"]]["attendance_days"] == {session: True}
    assert stored[ids["staff3"]]["attendance_days"] == {session: False}
    assert stored[ids["elsewhere"]]["attendance_days"] == {}
    # the same table again: nothing changes
    again = browser.post(f"{up.url}/operator/program/{code}/penilaian", data=form, timeout=TIMEOUT)
    assert re.search(r'id="marking-summary"[^>]*data-accepted="3" data-rejected="0" data-completed="0" '
                     r'data-unchanged="3"', again.text), again.text[:3000]
    after = {e["id"]: e for e in up.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]}
    assert all(after[i]["updated_at"] == stored[i]["updated_at"] for i in ids.values())
    # a session that has not begun yet: the whole table refused on the page, nothing written
    later = [s["date"] for s in sessions if s["date"] > session]
    if later:
        refused = browser.post(f"{up.url}/operator/program/{code}/penilaian",
                               data={**form, "sesi": later[-1]}, timeout=TIMEOUT)
        assert refused.status_code in (409, 422) and 'id="marking-refused"' in refused.text, refused.text[:1500]
    # a score that is no number is named beside its row (with completions only); nothing sent
    bad = browser.post(f"{up.url}/operator/program/{code}/penilaian",
                       data={**form, "lengkap": "ya", f"nilai-{ids['asn']}": "sembilan"}, timeout=TIMEOUT)
    assert bad.status_code == 422 and f'id="row-error-{ids["asn"]}"' in bad.text


def test_marking_is_refused_to_other_opds_asn_and_anonymous(up, marking):
    code, ids, _ = marking
    before = {e["id"]: e for e in up.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]}
    other, token = operator(up, OTHER_AGENCY)
    page = other.get(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT)
    assert page.status_code == 200 and ids["elsewhere"] in page.text and ids["asn"] not in page.text
    # DISKOMINFO's rows posted by DINKES's operator are not its table's: ignored
    answer = other.post(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT,
                        data={"csrf_token": token, "sesi": before[ids["asn"]].get("attendance_days") and
                              next(iter(before[ids["asn"]]["attendance_days"])) or "",
                              f"hadir-{ids['asn']}": "tidak", f"hadir-{ids['elsewhere']}": ""})
    assert answer.status_code in (200, 409, 422)
    after = {e["id"]: e for e in up.get("enrollment", "/enrolments", params={"programme": code, "limit": 50})["items"]}
    assert after[ids["asn"]]["attendance_days"] == before[ids["asn"]]["attendance_days"]
    asn, asn_token = sign_in(up, f"asn:{up.people['asn'].nip}")
    assert asn.get(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT).status_code == 403
    refused = asn.post(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT,
                       data={"csrf_token": asn_token, f"hadir-{ids['asn']}": "ya"})
    assert refused.status_code == 403
    anonymous = requests.get(f"{up.url}/operator/program/{code}/penilaian", allow_redirects=False, timeout=TIMEOUT)
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/masuk")
    browser, _ = operator(up)
    assert browser.post(f"{up.url}/operator/program/{code}/penilaian", data={f"hadir-{ids['asn']}": "tidak"},
                        timeout=TIMEOUT).status_code == 403  # no CSRF token


def test_a_self_paced_programme_records_completions_per_person(up):
    now = datetime.now(timezone.utc)
    programme = up.publish(programme_body("ELR", title="E-learning Literasi Data", kind="e-learning", jp=10,
                                          starts_at=_iso(now - timedelta(days=2)), ends_at=_iso(now + timedelta(days=30)),
                                          enrolment_opens_at=_iso(now - timedelta(days=5)),
                                          enrolment_closes_at=_iso(now + timedelta(days=20))))
    code = programme["code"]
    first, second = enrol(up, code, "asn"), enrol(up, code, "asn2")
    browser, token = operator(up)
    page = browser.get(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT)
    assert page.status_code == 200 and 'id="no-sessions"' in page.text and 'id="complete-toggle"' in page.text
    saved = browser.post(f"{up.url}/operator/program/{code}/penilaian", timeout=TIMEOUT,
                         data={"csrf_token": token, "lengkap": "ya", f"hadir-{first}": "ya", f"nilai-{first}": "85",
                               f"hadir-{second}": ""})
    assert saved.status_code == 200, saved.text[:2000]
    row = row_of(saved.text, first)
    assert 'data-accepted="true"' in row and 'data-status="completed"' in row, row
    assert row_of(saved.text, second).count('data-status="enrolled"') == 1  # nothing given: not completed
    stored = up.get("enrollment", f"/enrolments/{first}")
    assert stored["status"] == "completed" and stored["result"] == "passed"
