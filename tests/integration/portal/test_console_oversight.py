"""The operator console's oversight pages (issue 21) against the four services and the portal as
separate processes (deploy.launcher.Stack), signing in with the development sign-in: the dashboard
and the never-enrolled list of the operator's own OPD (another OPD's refused as a page in Bahasa
Indonesia), the admin's view of every OPD with the figures of an OPD under five ASN hidden, the
exports streamed through from reporting, a shortfall checkpoint run and watched to its end, and a
programme's certificates with the admin's revoke (a reason required; an operator can only look).
ASN and anonymous visitors are refused everywhere."""
from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from deploy import demo
from deploy.launcher import Stack, free_ports
from shared import timefmt
from shared.config import DEPLOYABLES
from tests.integration.portal.conftest import Site, make_people, programme_body
from tests.support import wait_for

TIMEOUT = 30
SMALL = "DINKES"  # an OPD of two ASN: its aggregates are never shown
GET_PAGES = ("/operator/dasbor", "/operator/belum-ikut", "/operator/ekspor/kepatuhan.csv", "/admin/checkpoint",
             "/admin/checkpoint/status?checkpoint=2020-Q4")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def ov(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-oversight-logs")
    ports = free_ports()
    url = f"http://127.0.0.1:{ports['portal']}"
    extra_env = {"PORTAL_DEV_SIGNIN": "on", "PORTAL_PUBLIC_URL": url, "RELAY_POLL_INTERVAL_S": "0.1",
                 "NOTIFICATION_QUIET_HOURS": "00:00-00:00", "NOTIFICATION_DELIVERY_POLL_INTERVAL_S": "0.2"}
    with Stack(amqp_uri=amqp_uri, db_prefix=f"po{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
               log_dir=logs, extra_env=extra_env) as stack:
        site = Site(url=url, issuer="", stack=stack, smtp=None, people=make_people())
        _seed(site)
        yield site


def _seed(site: Site) -> None:
    """DISKOMINFO: a head and four staff (two passed a certification: a certificate each);
    DINKES: two nurses who never enrolled."""
    import random
    rng = random.Random(21)
    year = datetime.now(timezone.utc).year
    site.small = [demo.make_identifier(rng, year, "2", pppk=False) for _ in range(2)]
    rows = ["nip;nama;jenis_asn;kode_opd;jabatan;golongan;nip_atasan;status;email;telepon"]
    for key in ("supervisor", "asn", "asn2", "staff3", "staff4"):
        p = site.people[key]
        rows.append(f"{p.nip};{p.name};PNS;{p.agency};{p.position};{p.golongan};{p.supervisor_nip or ''};aktif;"
                    f"{p.email};")
    for i, nip in enumerate(site.small):
        rows.append(f"{nip};Perawat {i + 1};PNS;{SMALL};Perawat Ahli Pertama;III/a;;aktif;perawat{i}@example.go.id;")
    answer = site.call("POST", "enrollment", "/roster/import", data=("\n".join(rows) + "\n").encode(),
                       headers={"Content-Type": "text/csv"})
    assert '"rejected": 0' in answer.text.replace('"rejected":0', '"rejected": 0'), answer.text[-400:]
    now = datetime.now(timezone.utc)
    site.programmes["done"] = site.publish(programme_body(
        "PBJ", title="Sertifikasi Pengadaan Barang/Jasa", kind="sertifikasi", competency_type="teknis", jp=32,
        starts_at=_iso(now - timedelta(hours=2)), ends_at=_iso(now + timedelta(days=2)),
        enrolment_opens_at=_iso(now - timedelta(days=7)), enrolment_closes_at=_iso(now + timedelta(days=1)),
        passing_score=70, certificate_validity_months=36))
    code = site.programmes["done"]["code"]
    enrolments = [site.call("POST", "enrollment", f"/programmes/{code}/enrolments",
                            json={"nip": site.people[key].nip}, expect=201).json() for key in ("asn", "asn2")]
    site.programmes["done"] = site.end_programme(code)  # both passed once it had ended
    for enrolment in enrolments:
        site.call("POST", "enrollment", f"/enrolments/{enrolment['id']}/completion", json={"score": 88})
    wait_for(lambda: site.get("certification", "/certificates", params={"programme": code})["total"] == 2,
             timeout=60, interval=0.2, message="two certificates")

    def figures_ready():
        rows = {r["agency"]: r for r in site.get("reporting", "/compliance", params={"limit": 1000})["items"]}
        kominfo, small = rows.get("DISKOMINFO", {}), rows.get(SMALL, {})
        monthly = site.get("reporting", "/certificates/monthly", params={"agency": "DISKOMINFO"})
        return (kominfo.get("known_asn") == 5 and kominfo.get("never_enrolled") == 3 and kominfo.get("jp_total") == 64
                and small.get("known_asn") == 2 and sum(m["issued"] for m in monthly["months"]) == 2)
    wait_for(figures_ready, timeout=90, interval=0.3, message="reporting's figures of both OPDs")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(site: Site, choice: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{site.url}/masuk", timeout=TIMEOUT)
    answer = browser.post(f"{site.url}/masuk/dev", data={"csrf_token": csrf_of(page.text), "sebagai": choice},
                          allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303, answer.text[:500]
    return browser


def operator(site: Site, agency: str = "DISKOMINFO") -> requests.Session:
    return sign_in(site, f"operator:{agency}")


def admin(site: Site) -> requests.Session:
    return sign_in(site, "admin")


def get(browser: requests.Session, site: Site, path: str, **kwargs) -> requests.Response:
    return browser.get(site.url + path, timeout=TIMEOUT, **kwargs)


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert found, f"#{element_id} not on the page"
    return found.group(1).strip()


def refused(answer: requests.Response, status: int = 403) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text[:800])
    assert 'id="error"' in answer.text and "Akses ditolak" in answer.text, answer.text[:800]


# -- dashboard ---------------------------------------------------------------------------------
def test_the_operator_sees_its_own_opds_figures_and_charts(ov):
    page = get(operator(ov), ov, "/operator/dasbor")
    assert page.status_code == 200 and 'data-page="operator-dasbor"' in page.text
    html = page.text
    assert 'id="figures" aria-labelledby="figures-title" data-agency="DISKOMINFO" data-shown="true"' in html
    assert text_of(html, "figure-known") == "5" and text_of(html, "figure-never") == "3"
    assert text_of(html, "figure-met") == "2" and text_of(html, "figure-jp") == "64"
    assert text_of(html, "figure-rate") == "40%"  # two of five reached the 20 JP target with 32
    assert 'id="small-group-note"' not in html
    # server-rendered charts with the values also in words and in a table
    assert '<svg id="distribution-chart"' in html and 'data-label="0" data-value="3"' in html
    assert '<svg id="certificates-chart"' in html and 'id="certificates-table"' in html
    month = timefmt.wib_month(datetime.now(timezone.utc))
    assert re.search(rf'<tr data-month="{month}"><td>[^<]+</td><td class="n">2</td>', html)
    # one OPD: no table of every OPD; the programme's results hidden under five completions
    assert 'id="agency-table"' not in html and 'id="rate-chart"' not in html
    code = ov.programmes["done"]["code"]
    row = re.search(rf'<tr data-programme="{code}">.*?</tr>', html, re.S).group(0)
    assert "—" in row and f'href="/operator/program/{code}/sertifikat"' in row
    assert 'id="export-kepatuhan-xlsx"' in html and 'id="export-siasn-csv"' in html
    assert "<script" not in html and "style=" not in html


def test_another_opds_figures_are_refused_as_a_page_in_bahasa_indonesia(ov):
    browser = operator(ov)
    for path in (f"/operator/dasbor?opd={SMALL}", f"/operator/belum-ikut?opd={SMALL}",
                 f"/operator/ekspor/belum-ikut.csv?opd={SMALL}", f"/operator/ekspor/kepatuhan.xlsx?opd={SMALL}"):
        answer = get(browser, ov, path)
        refused(answer)
        assert "OPD-nya sendiri" in answer.text, re.sub(r"\s+", " ", answer.text)[-1500:]
        assert 'id="nav-beranda"' in answer.text, path


def test_the_admin_sees_every_opd_with_the_figures_of_a_small_one_hidden(ov):
    browser = admin(ov)
    html = get(browser, ov, "/operator/dasbor").text
    assert 'data-agency="" data-shown="true"' in html and text_of(html, "figure-known") == "7"
    assert '<svg id="rate-chart"' in html and 'id="filter-opd"' in html
    table = re.search(r'<table id="agency-table">.*?</table>', html, re.S).group(0)
    agencies = re.findall(r'<tr data-agency="([A-Z0-9_]+)"', table)
    assert agencies == sorted(agencies) and {"DISKOMINFO", SMALL} <= set(agencies)  # code order, never ranked
    small = re.search(rf'<tr data-agency="{SMALL}" data-shown="false">.*?</tr>', table, re.S).group(0)
    assert "kurang dari 5" in small and small.count("—") == 4
    assert re.search(r'<tr data-agency="DISKOMINFO" data-shown="true">.*?40%', table, re.S)
    assert f'<rect class="bar" data-agency="{SMALL}"' not in html
    # one small OPD on its own: every aggregate a dash, with the note; no charts of it
    one = get(browser, ov, f"/operator/dasbor?opd={SMALL}").text
    assert f'data-agency="{SMALL}" data-shown="false"' in one and 'id="small-group-note"' in one
    for figure in ("figure-met", "figure-rate", "figure-average", "figure-never", "figure-jp"):
        assert text_of(one, figure) == "—", figure
    assert 'id="distribution-hidden"' in one and 'id="certificates-hidden"' in one
    assert '<svg id="distribution-chart"' not in one
    # its own operator sees the same dashes
    own = get(operator(ov, SMALL), ov, "/operator/dasbor").text
    assert 'data-shown="false"' in own and text_of(own, "figure-rate") == "—"
    assert get(browser, ov, "/operator/dasbor?opd=NOPE").status_code == 422


# -- never enrolled ------------------------------------------------------------------------------
def test_the_never_enrolled_list_of_the_own_opd_a_page_at_a_time(ov):
    browser = operator(ov)
    html = get(browser, ov, "/operator/belum-ikut").text
    listed = re.findall(r'<tr data-nip="(\d{18})">', html)
    expected = sorted(ov.people[k].nip for k in ("supervisor", "staff3", "staff4"))
    assert listed == expected and 'data-total="3"' in html  # NIP order
    assert ov.people["asn"].nip not in html and not set(ov.small) & set(listed)
    # paging: two a page, the next page from the link, back to the first
    first = get(browser, ov, "/operator/belum-ikut?jumlah=2").text
    assert re.findall(r'<tr data-nip="(\d{18})">', first) == expected[:2] and 'id="first-page"' not in first
    next_href = re.search(r'id="next-page" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = get(browser, ov, next_href).text
    assert re.findall(r'<tr data-nip="(\d{18})">', second) == expected[2:] and 'id="next-page"' not in second
    assert 'id="first-page" href="/operator/belum-ikut?tahun=' in second
    # the small OPD's own operator sees its two nurses; the admin every OPD's
    small = get(operator(ov, SMALL), ov, "/operator/belum-ikut").text
    assert sorted(re.findall(r'<tr data-nip="(\d{18})">', small)) == sorted(ov.small)
    everyone = get(admin(ov), ov, "/operator/belum-ikut").text
    assert len(re.findall(r'<tr data-nip="', everyone)) == 5 and "Dinas Kesehatan" in everyone


# -- exports -------------------------------------------------------------------------------------
def test_an_export_is_reportings_file_streamed_through_with_its_name(ov):
    year = timefmt.wib_year(datetime.now(timezone.utc))
    browser = operator(ov)
    answer = get(browser, ov, "/operator/ekspor/belum-ikut.csv")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    assert answer.headers["Content-Disposition"] == f'attachment; filename="belum-pernah-ikut-{year}-DISKOMINFO.csv"'
    direct = requests.get(ov.stack.url("reporting") + "/exports/never-enrolled.csv", timeout=TIMEOUT,
                          params={"year": year}, headers=ov.stack.auth_headers("operator", agency="DISKOMINFO"))
    assert answer.content == direct.content
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert {ov.people["staff3"].nip, ov.people["staff4"].nip} <= {cell for row in rows for cell in row}
    xlsx = get(browser, ov, "/operator/ekspor/kepatuhan.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert f'filename="kepatuhan-jp-{year}-DISKOMINFO.xlsx"' in xlsx.headers["Content-Disposition"]
    siasn = get(browser, ov, "/operator/ekspor/siasn.csv")
    assert siasn.status_code == 200 and ov.people["asn"].nip in siasn.text
    assert ov.small[0] not in get(browser, ov, "/operator/ekspor/buku-jp.csv").text
    assert get(admin(ov), ov, f"/operator/ekspor/belum-ikut.csv?opd={SMALL}").text.count(ov.small[0]) == 1
    assert get(browser, ov, "/operator/ekspor/semua.zip").status_code == 404


# -- checkpoint ----------------------------------------------------------------------------------
def test_the_admin_runs_a_checkpoint_and_watches_it_to_the_end(ov):
    checkpoint = f"{timefmt.wib_year(datetime.now(timezone.utc)) - 1}-Q4"
    browser = admin(ov)
    page = get(browser, ov, "/admin/checkpoint")
    assert page.status_code == 200 and 'data-page="admin-checkpoint"' in page.text
    assert f'<tr data-checkpoint="{checkpoint}" data-status="none">' in page.text
    assert 'id="checkpoint-job"' not in page.text
    forged = browser.post(f"{ov.url}/admin/checkpoint", data={"checkpoint": checkpoint}, timeout=TIMEOUT)
    assert forged.status_code == 403 and "Permintaan ditolak" in forged.text
    empty = browser.post(f"{ov.url}/admin/checkpoint", data={"csrf_token": csrf_of(page.text), "checkpoint": "x"},
                         timeout=TIMEOUT)
    assert empty.status_code == 422 and 'id="checkpoint-error"' in empty.text
    run = browser.post(f"{ov.url}/admin/checkpoint", data={"csrf_token": csrf_of(page.text),
                                                           "checkpoint": checkpoint},
                       allow_redirects=False, timeout=TIMEOUT)
    assert run.status_code == 303 and run.headers["Location"] == f"/admin/checkpoint?checkpoint={checkpoint}"
    watching = get(browser, ov, run.headers["Location"]).text
    assert 'data-kind="ok"' in watching and "mulai dijalankan" in watching
    status = re.search(rf'<section id="checkpoint-job"[^>]*data-checkpoint="{checkpoint}" data-status="(\w+)"',
                       watching).group(1)
    assert status in ("queued", "running", "done")
    assert '<progress id="job-progress" max="100"' in watching and 'id="job-refresh"' in watching
    assert '<script src="/static/console-checkpoint.js" defer></script>' in watching
    seen = []

    def done():
        job = get(browser, ov, f"/admin/checkpoint/status?checkpoint={checkpoint}").json()
        seen.append(job["status"])
        return job if job["done"] else None
    job = wait_for(done, timeout=60, interval=0.2, message="the checkpoint done")
    assert job["percent"] == 100 and job["checked"] == job["total"] and job["finished"].endswith("WIB")
    assert set(seen) <= {"queued", "running", "done"}
    finished = get(browser, ov, f"/admin/checkpoint?checkpoint={checkpoint}").text
    assert 'data-status="done"' in finished and text_of(finished, "job-percent") == "100"
    assert text_of(finished, "job-status") == "Selesai" and text_of(finished, "job-checked") == str(job["checked"])
    # run again: already done, said so
    again = browser.post(f"{ov.url}/admin/checkpoint", data={"csrf_token": csrf_of(page.text),
                                                             "checkpoint": checkpoint}, timeout=TIMEOUT)
    assert again.status_code == 200 and "sudah selesai dijalankan sebelumnya" in again.text
    script = get(requests.Session(), ov, "/static/console-checkpoint.js")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")


def test_an_operator_may_not_run_or_watch_a_checkpoint(ov):
    checkpoint = f"{timefmt.wib_year(datetime.now(timezone.utc)) - 1}-Q3"
    browser = operator(ov)
    refused(get(browser, ov, "/admin/checkpoint"))
    token = csrf_of(get(browser, ov, "/operator/dasbor").text)
    refused(browser.post(f"{ov.url}/admin/checkpoint", data={"csrf_token": token, "checkpoint": checkpoint},
                         timeout=TIMEOUT))
    assert get(browser, ov, f"/admin/checkpoint/status?checkpoint={checkpoint}").status_code == 403
    ov.call("GET", "reporting", f"/admin/shortfall/{checkpoint}", expect=404)  # nothing was run


# -- certificates of a programme -----------------------------------------------------------------
def test_the_certificates_of_a_programme_and_the_admins_revoke_with_a_reason(ov):
    code = ov.programmes["done"]["code"]
    path = f"/operator/program/{code}/sertifikat"
    certificates = ov.get("certification", "/certificates", params={"programme": code})["items"]
    target = next(c for c in certificates if c["holder"]["nip"] == ov.people["asn2"].nip)
    # the OPD's operator sees both, with no revoke form; another OPD's operator sees none
    seen = get(operator(ov), ov, path).text
    assert re.findall(r'data-certificate="([^"]+)" data-status="valid"', seen) and 'data-total="2"' in seen
    assert target["number"] in seen and ov.people["asn2"].name in seen and 'id="revoke-' not in seen
    other = get(operator(ov, SMALL), ov, path).text
    assert 'id="no-certificates"' in other and target["number"] not in other
    # the operator's forged revoke is refused and changes nothing
    op = operator(ov)
    token = csrf_of(get(op, ov, path).text)
    refused(op.post(f"{ov.url}{path}/{target['id']}/cabut", data={"csrf_token": token, "alasan": "Data palsu ya"},
                    timeout=TIMEOUT))
    assert ov.get("certification", f"/certificates/{target['id']}")["status"] == "valid"
    # the admin: a reason is required, beside the field
    browser = admin(ov)
    page = get(browser, ov, path).text
    assert f'id="revoke-{target["id"]}"' in page and f'id="reason-{target["id"]}"' in page
    for reason in ("", "abc"):
        answer = browser.post(f"{ov.url}{path}/{target['id']}/cabut",
                              data={"csrf_token": csrf_of(page), "alasan": reason}, timeout=TIMEOUT)
        assert answer.status_code == 422
        assert re.search(rf'id="reason-{target["id"]}"[^>]*aria-invalid="true"', answer.text)
        assert f'id="revoke-error-{target["id"]}"' in answer.text
    assert ov.get("certification", f"/certificates/{target['id']}")["status"] == "valid"
    reason = "Nilai ujian dibatalkan oleh panitia"
    done = browser.post(f"{ov.url}{path}/{target['id']}/cabut", data={"csrf_token": csrf_of(page), "alasan": reason},
                        allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303 and done.headers["Location"] == path
    after = get(browser, ov, path).text
    assert 'data-kind="ok"' in after and f"Sertifikat {target['number']} dicabut" in after
    card = re.search(rf'<li class="card" data-certificate="{target["id"]}" data-status="revoked">.*?</li>', after,
                     re.S).group(0)
    assert reason in card and 'id="revoke-' not in card
    assert ov.get("certification", f"/certificates/{target['id']}")["revoked"]["reason"] == reason
    # without a CSRF token nothing happens
    other_id = next(c["id"] for c in certificates if c["id"] != target["id"])
    forged = browser.post(f"{ov.url}{path}/{other_id}/cabut", data={"alasan": reason}, timeout=TIMEOUT)
    assert forged.status_code == 403 and "Permintaan ditolak" in forged.text
    assert get(browser, ov, "/operator/program/NOPE-1/sertifikat").status_code == 404


# -- who may not ---------------------------------------------------------------------------------
def test_asn_and_anonymous_visitors_are_refused_everywhere(ov):
    code = ov.programmes["done"]["code"]
    pages = GET_PAGES + (f"/operator/program/{code}/sertifikat",)
    anonymous = requests.Session()
    for path in pages:
        answer = get(anonymous, ov, path, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/masuk?lanjut="), path
    asn = sign_in(ov, f"asn:{ov.asn.nip}")
    for path in pages:
        answer = get(asn, ov, path)
        if path.startswith("/admin/checkpoint/status"):
            assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
        else:
            refused(answer)
    token = csrf_of(get(asn, ov, "/").text)
    certificate = ov.get("certification", "/certificates", params={"programme": code})["items"][0]
    for path, data in (("/admin/checkpoint", {"checkpoint": "2020-Q4"}),
                       (f"/operator/program/{code}/sertifikat/{certificate['id']}/cabut", {"alasan": "Tidak sah"})):
        refused(asn.post(ov.url + path, data={"csrf_token": token, **data}, timeout=TIMEOUT))
        assert anonymous.post(ov.url + path, data=data, allow_redirects=False, timeout=TIMEOUT).status_code in (303,
                                                                                                               403)


# -- in the browser: axe-core, a phone's width, the checkpoint's progress --------------------------
def _browser_as(driver, site: Site, browser: requests.Session, path: str) -> None:
    """The driver signed in with ``browser``'s portal session (the development sign-in done over HTTP)."""
    driver.get(site.url + "/static/portal.css")
    driver.add_cookie({"name": "asn_portal_session", "value": browser.cookies["asn_portal_session"], "path": "/"})
    driver.get(site.url + path)


def test_the_oversight_pages_in_chromium_are_accessible_on_a_desktop_and_a_phone(ov):
    from selenium.webdriver.common.by import By

    from tests.integration.portal.conftest import assert_accessible, submit, wait
    from tests.portal_support import chromium, screenshot

    code = ov.programmes["done"]["code"]
    checkpoint = f"{timefmt.wib_year(datetime.now(timezone.utc)) - 1}-Q2"
    with chromium("desktop") as driver:
        _browser_as(driver, ov, admin(ov), "/operator/dasbor")
        assert driver.find_element(By.ID, "rate-chart").is_displayed()
        assert_accessible(driver, "/operator/dasbor (admin)")
        screenshot(driver, "operator-dasbor", "desktop")
        for path in ("/operator/dasbor?opd=DINKES", "/operator/belum-ikut", f"/operator/program/{code}/sertifikat"):
            driver.get(ov.url + path)
            assert_accessible(driver, f"{path} (admin)")
        # run a checkpoint from the page and see it through to the end (the script, or the Perbarui link)
        driver.get(f"{ov.url}/admin/checkpoint")
        driver.find_element(By.CSS_SELECTOR, f'#checkpoint-select option[value="{checkpoint}"]').click()
        submit(driver, "#checkpoint-run-button")
        assert "mulai dijalankan" in driver.find_element(By.ID, "flash").text
        assert_accessible(driver, "/admin/checkpoint while running")

        def finished(d):
            if d.find_element(By.ID, "job-status").text == "Selesai":
                return True
            if d.find_element(By.ID, "checkpoint-job").get_attribute("data-status") not in ("queued", "running"):
                d.find_element(By.ID, "job-refresh").click()
            return False
        wait(driver, finished, timeout=60)
        assert driver.find_element(By.ID, "job-percent").text == "100"
        assert driver.find_element(By.ID, "job-progress").get_attribute("value") == "100"
        option = driver.find_element(By.CSS_SELECTOR, f'#checkpoint-select option[value="{checkpoint}"]')
        row = driver.find_element(By.CSS_SELECTOR, f'#checkpoints tr[data-checkpoint="{checkpoint}"]')
        assert option.get_attribute("data-status") == row.get_attribute("data-status") == "done"
        assert option.text.endswith("Selesai")
        screenshot(driver, "admin-checkpoint", "desktop")
    with chromium("phone") as driver:
        _browser_as(driver, ov, operator(ov), "/operator/dasbor")
        assert_accessible(driver, "/operator/dasbor (operator, phone)")
        screenshot(driver, "operator-dasbor", "phone")
        for path in ("/operator/belum-ikut", f"/operator/program/{code}/sertifikat"):
            driver.get(ov.url + path)
            assert_accessible(driver, f"{path} (operator, phone)")
    with chromium("phone") as driver:
        _browser_as(driver, ov, admin(ov), f"/admin/checkpoint?checkpoint={checkpoint}")
        assert_accessible(driver, "/admin/checkpoint (phone)")
        driver.get(f"{ov.url}/operator/program/{code}/sertifikat")
        assert_accessible(driver, "certificates with revoke forms (admin, phone)")
