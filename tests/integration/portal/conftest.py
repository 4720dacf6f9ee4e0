"""The portal against the four services and a real OpenID provider, one whole site per test module.

``site`` (module): the test OpenID provider (tools/oidc), an SMTP sink, the four services and the portal as
separate processes (deploy.launcher.Stack), the portal configured against the provider (PORTAL_OIDC_ISSUER,
a client id and secret, the development sign-in OFF), and seeded through the services' APIs as an admin:

- a roster of one OPD: a head with four staff (the ASN of the journeys is ``site.asn``, the supervisor
  ``site.supervisor``), and an operator and an admin known only to the provider (role claims);
- published programmes: ``upcoming`` (pelatihan, next month), ``seminar`` (needs the supervisor's
  approval, two months ahead), ``done`` (a sertifikasi that started two hours ago and has just ended,
  which ``asn`` and ``asn2`` have passed: 32 JP in their ledgers and a certificate each).

Each person signs in on the provider's form with their ``sub`` (the NIP for ASN).
"""
from __future__ import annotations

import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from deploy import demo
from deploy.launcher import Stack, free_ports
from shared.config import DEPLOYABLES
from tests.e2e.conftest import SmtpSink
from tests.portal_support import (
    axe_check, describe_violations, oidc_provider, overflows_horizontally, sign_in_with_requests,
)
from tests.support import cut_short, wait_for

AGENCY = "DISKOMINFO"
CLIENT_ID = "asn-portal"
HTTP_TIMEOUT = 30


@dataclass(frozen=True)
class Person:
    nip: str
    name: str
    position: str
    golongan: str
    supervisor_nip: str | None = None
    roles: tuple = ()
    agency: str = AGENCY

    @property
    def sub(self) -> str:
        return self.nip

    @property
    def email(self) -> str:
        return f"{self.name.lower().replace(' ', '.')}.{self.nip[-4:]}@bukittinggi.example"

    def account(self) -> dict:
        return {"sub": self.sub, "name": self.name, "nip": self.nip, "roles": list(self.roles),
                "kode_opd": self.agency}


def _nip(rng: random.Random, female: bool = False) -> str:
    return demo.make_identifier(rng, datetime.now(timezone.utc).year, "2" if female else "1", pppk=False)


def make_people() -> dict[str, Person]:
    rng = random.Random(2026)  # the same people every run (each module has its own databases): stable screenshots
    head = Person(_nip(rng, True), "Yusnani Chaniago", "Kepala Dinas", "IV/b")
    staff = [Person(_nip(rng), name, "Pranata Komputer Ahli Pertama", "III/a", head.nip)
             for name in ("Budi Santoso", "Rina Yulia", "Ilham Pratama", "Fitri Ramadhani")]
    return {"supervisor": head, "asn": staff[0], "asn2": staff[1], "staff3": staff[2], "staff4": staff[3],
            "operator": Person(_nip(rng), "Sari Operator", "Analis SDM", "III/c", roles=("bangkom-operator",)),
            "admin": Person(_nip(rng), "Admin BKPSDM", "Analis SDM", "III/d", roles=("bangkom-admin",))}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def programme_body(prefix: str, **fields) -> dict:
    now = datetime.now(timezone.utc)
    body = {"code": f"{prefix}-{uuid.uuid4().hex[:6].upper()}", "title": "Pelatihan", "kind": "pelatihan",
            "competency_type": "teknis", "jp": 24, "organisers": ["PEMKOT_BUKITTINGGI"],
            "starts_at": _iso(now + timedelta(days=30)), "ends_at": _iso(now + timedelta(days=32)),
            "enrolment_opens_at": _iso(now - timedelta(days=3)), "enrolment_closes_at": _iso(now + timedelta(days=25)),
            "capacity": 20, "location": "Aula Balai Kota Bukittinggi"}
    body.update(fields)
    return body


@dataclass
class Site:
    url: str                      # the portal's public address
    issuer: str
    stack: Stack
    smtp: SmtpSink
    people: dict[str, Person]
    programmes: dict[str, dict] = field(default_factory=dict)
    completed: dict = field(default_factory=dict)     # people key -> their completed enrolment
    certificates: dict = field(default_factory=dict)  # people key -> their certificate

    @property
    def asn(self) -> Person:
        return self.people["asn"]

    @property
    def supervisor(self) -> Person:
        return self.people["supervisor"]

    # -- the services as an admin (seeding and checking) -------------------------------------
    def call(self, method: str, service: str, path: str, expect=(200, 201), **kwargs) -> requests.Response:
        headers = {**self.stack.auth_headers("admin"), **kwargs.pop("headers", {})}
        answer = requests.request(method, self.stack.url(service) + path, headers=headers, timeout=HTTP_TIMEOUT,
                                  **kwargs)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert answer.status_code in expected, f"{method} {service}{path}: {answer.status_code} {answer.text[:600]}"
        return answer

    def get(self, service: str, path: str, **kwargs) -> dict:
        return self.call("GET", service, path, **kwargs).json()

    # -- the portal as a person ------------------------------------------------------------
    def session_of(self, who: Person | str, lanjut: str = "/") -> requests.Session:
        """A plain HTTP client signed in to the portal through the provider's form."""
        person = self.people[who] if isinstance(who, str) else who
        http = requests.Session()
        callback = sign_in_with_requests(http, f"{self.url}/masuk/oidc?lanjut={lanjut}", person.sub,
                                         callback_prefix=f"{self.url}/masuk/callback")
        landed = http.get(callback, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert landed.status_code == 303 and landed.headers["location"].endswith(lanjut), (landed.status_code,
                                                                                          landed.text[:500])
        return http

    def publish(self, body: dict) -> dict:
        self.call("POST", "enrollment", "/programmes", json=body, expect=201)
        return self.call("POST", "enrollment", f"/programmes/{body['code']}/publish").json()

    def end_programme(self, code: str) -> dict:
        """End a running programme now, as an operator does when it ends early: a scheduled one
        takes completions only once it has ended (issue 24)."""
        return self.call("PATCH", "enrollment", f"/programmes/{code}", json=cut_short()).json()


def import_roster(site: Site) -> None:
    rows = ["nip;nama;jenis_asn;kode_opd;jabatan;golongan;nip_atasan;status;email;telepon"]
    for key in ("supervisor", "asn", "asn2", "staff3", "staff4"):
        p = site.people[key]
        rows.append(f"{p.nip};{p.name};PNS;{p.agency};{p.position};{p.golongan};{p.supervisor_nip or ''};aktif;"
                    f"{p.email};")
    answer = site.call("POST", "enrollment", "/roster/import", data=("\n".join(rows) + "\n").encode(),
                       headers={"Content-Type": "text/csv"})
    assert '"rejected": 0' in answer.text.replace('"rejected":0', '"rejected": 0'), answer.text[-400:]


def seed(site: Site) -> None:
    import_roster(site)
    now = datetime.now(timezone.utc)
    site.programmes["upcoming"] = site.publish(programme_body(
        "PKP", title="Pelatihan Kepemimpinan Pengawas", kind="pelatihan", competency_type="manajerial", jp=40))
    site.programmes["seminar"] = site.publish(programme_body(
        "SEM", title="Seminar Transformasi Digital", kind="seminar", competency_type="teknis", jp=8,
        requires_supervisor_approval=True, speakers=["Dr. Andi Wijaya, Diskominfo Provinsi Sumatera Barat"],
        starts_at=_iso(now + timedelta(days=70)), ends_at=_iso(now + timedelta(days=70, hours=6))))
    site.programmes["done"] = site.publish(programme_body(
        "PBJ", title="Sertifikasi Pengadaan Barang/Jasa", kind="sertifikasi", competency_type="teknis", jp=32,
        starts_at=_iso(now - timedelta(hours=2)), ends_at=_iso(now + timedelta(days=2)),
        enrolment_opens_at=_iso(now - timedelta(days=7)), enrolment_closes_at=_iso(now + timedelta(days=1)),
        passing_score=70, certificate_validity_months=36))
    # two of the staff took the certification and passed once it had ended: JP in their ledgers, a
    # certificate each
    code = site.programmes["done"]["code"]
    enrolments = {key: site.call("POST", "enrollment", f"/programmes/{code}/enrolments",
                                 json={"nip": site.people[key].nip}, expect=201).json() for key in ("asn", "asn2")}
    site.programmes["done"] = site.end_programme(code)
    for key, enrolment in enrolments.items():
        site.completed[key] = site.call("POST", "enrollment", f"/enrolments/{enrolment['id']}/completion",
                                        json={"score": 88}).json()
    for key in ("asn", "asn2"):
        nip = site.people[key].nip
        site.certificates[key] = wait_for(
            lambda: next(iter(site.get("certification", "/certificates", params={"nip": nip})["items"]), None),
            timeout=60, interval=0.2, message=f"the certificate of {key}")
        wait_for(lambda: (site.call("GET", "reporting", f"/ledger/{nip}", expect=(200, 404)).json()
                          .get("years") or [{}])[0].get("jp_total") == 32,
                 timeout=60, interval=0.2, message=f"the 32 JP of {key} in the ledger")


def portal_env(url: str, issuer: str, secret: str) -> dict[str, str]:
    return {"PORTAL_PUBLIC_URL": url, "PORTAL_OIDC_ISSUER": issuer, "PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
            "PORTAL_OIDC_CLIENT_SECRET": secret, "PORTAL_DEV_SIGNIN": "off"}


@pytest.fixture(scope="module")
def site(amqp_uri, tmp_path_factory):
    logs = tmp_path_factory.mktemp("portal-logs")
    people = make_people()
    ports = free_ports()  # the portal's too
    url = f"http://127.0.0.1:{ports['portal']}"
    secret = secrets.token_urlsafe(32)
    clients = [{"client_id": CLIENT_ID, "client_secret": secret, "redirect_uris": [f"{url}/masuk/callback"],
                "post_logout_redirect_uris": [f"{url}/", f"{url}/masuk", f"{url}/masuk?keluar=1"]}]
    smtp = SmtpSink().start()
    try:
        with oidc_provider([p.account() for p in people.values()], clients, log_dir=logs) as issuer:
            extra_env = {
                "NOTIFICATION_SMTP_HOST": "127.0.0.1", "NOTIFICATION_SMTP_PORT": str(smtp.port),
                "NOTIFICATION_QUIET_HOURS": "00:00-00:00", "NOTIFICATION_DELIVERY_POLL_INTERVAL_S": "0.2",
                "RELAY_POLL_INTERVAL_S": "0.1",
                **portal_env(url, issuer, secret),
            }
            with Stack(amqp_uri=amqp_uri, db_prefix=f"p{uuid.uuid4().hex[:6]}_", services=DEPLOYABLES, ports=ports,
                       log_dir=logs, extra_env=extra_env) as stack:
                site = Site(url=url, issuer=issuer, stack=stack, smtp=smtp, people=people)
                seed(site)
                yield site
    finally:
        smtp.stop()



# -- in the browser ---------------------------------------------------------------------------
def wait(driver, condition, timeout: float = 20):
    return WebDriverWait(driver, timeout).until(condition)


def page_of(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-page")


def assert_accessible(driver, where: str) -> None:
    """axe-core finds no serious or critical violation, and nothing scrolls sideways."""
    violations = axe_check(driver)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"
    assert not overflows_horizontally(driver), f"{where} is wider than the screen"


def browser_sign_in(driver, site: Site, who: Person, lanjut: str = "/") -> None:
    """The portal's sign-in page, its SSO button, the provider's form, back on ``lanjut``."""
    driver.get(f"{site.url}/masuk?lanjut={lanjut}")
    wait(driver, expected_conditions.element_to_be_clickable((By.ID, "sso-sign-in"))).click()
    wait(driver, expected_conditions.presence_of_element_located((By.ID, "login"))).send_keys(who.sub)
    driver.find_element(By.ID, "masuk").click()
    wait(driver, lambda d: d.current_url.startswith(site.url) and "/masuk" not in d.current_url
         and d.find_elements(By.ID, "user-name"))
    assert driver.find_element(By.ID, "user-name").text == who.name


def session_cookie(driver) -> dict:
    return {"asn_portal_session": driver.get_cookie("asn_portal_session")["value"]}


def submit(driver, button_css: str) -> None:
    """Click a form's button and wait for the answer page (POST -> 303 -> GET)."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, button_css).click()
    wait(driver, expected_conditions.staleness_of(old))
    wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
