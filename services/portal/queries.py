"""What the pages read: the portal's session and feed records, and the services' answers for
the signed-in person (their own token: the services decide what they may see)."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from services.portal import domain
from services.portal.adapters.clients import ServiceClient, ServiceError
from services.portal.domain import Identity
from services.portal.store import CALENDAR_FEEDS, SESSIONS
from shared import timefmt


def session(db, session_id: str, now: datetime) -> dict | None:
    """The live session with this id's digest (an expired one is gone, whatever the TTL sweep)."""
    doc = db[SESSIONS].find_one({"_id": session_id})
    if doc is None or doc["expires_at"].replace(tzinfo=now.tzinfo) <= now:
        return None
    return doc


def feed_of(db, nip: str) -> dict | None:
    return db[CALENDAR_FEEDS].find_one({"nip": nip})


def feed_by_secret(db, secret: str) -> dict | None:
    return db[CALENDAR_FEEDS].find_one({"_id": domain.digest(secret)})


# -- the services ------------------------------------------------------------------------------
def _path(part: str) -> str:
    return quote(part, safe="")


def roster_entry(client: ServiceClient, identity: Identity) -> dict | None:
    """The person's own roster entry (their own token), None when the roster does not know them."""
    try:
        return client.get("enrollment", f"/roster/{identity.nip}", identity)
    except ServiceError as exc:
        if exc.status == 404:
            return None
        raise


def roster_people(client: ServiceClient, q: str | None, limit: int = 60) -> list[dict]:
    """Active ASN for the development sign-in (an admin read; only where that sign-in is on)."""
    params = {"status": "aktif", "limit": limit}
    if q:
        params["q"] = q
    return client.get("enrollment", "/roster", "admin", params=params)["items"]


def published_programmes(client: ServiceClient, identity: Identity, filters: dict | None = None) -> list[dict]:
    params = {"status": "published", "limit": 500}
    for key in ("kind", "competency_type"):
        if (filters or {}).get(key):
            params[key] = filters[key]
    return client.get("enrollment", "/programmes", identity, params=params)["items"]


def programme(client: ServiceClient, identity: Identity, code: str) -> dict:
    return client.get("enrollment", f"/programmes/{_path(code)}", identity)


def own_enrolments(client: ServiceClient, identity: Identity, programme_code: str | None = None) -> list[dict]:
    params = {"nip": identity.nip, "limit": 500}
    if programme_code:
        params["programme"] = programme_code
    return client.get("enrollment", "/enrolments", identity, params=params)["items"]


def enrolment(client: ServiceClient, identity: Identity, enrolment_id: str) -> dict:
    return client.get("enrollment", f"/enrolments/{_path(enrolment_id)}", identity)


def ledger(client: ServiceClient, identity: Identity, year: int | None = None) -> dict | None:
    """The person's JP ledger (None when reporting has nothing on them yet)."""
    try:
        return client.get("reporting", f"/ledger/{identity.nip}", identity,
                          params={"year": year} if year else None)
    except ServiceError as exc:
        if exc.status == 404:
            return None
        raise


def certificates(client: ServiceClient, identity: Identity) -> list[dict]:
    return client.get("certification", "/certificates", identity, params={"nip": identity.nip, "limit": 100})["items"]


def inbox(client: ServiceClient, identity: Identity, limit: int = 50) -> dict:
    return client.get("notification", f"/inbox/{identity.nip}", identity, params={"limit": limit})


def unread_count(client: ServiceClient, identity: Identity) -> int | None:
    try:
        return client.get("notification", f"/inbox/{identity.nip}", identity,
                          params={"limit": 1, "unread": "true"}).get("unread")
    except ServiceError:
        return None


def awaiting_approvals(client: ServiceClient, identity: Identity) -> int | None:
    """How many requests wait for this supervisor's decision (None when the route is not there):
    the page's ``total``, one item asked for (each item is joined with its programme there)."""
    try:
        page = client.get("enrollment", "/approvals", identity, params={"status": "awaiting", "limit": 1})
    except ServiceError:
        return None
    return int(page.get("total") or 0)


# -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
ACCESS_LOG_SERVICES = ("reporting", "certification", "notification")


def approvals(client: ServiceClient, identity: Identity, status: str, limit: int = 500,
              max_pages: int = 10, since: datetime | None = None) -> list[dict]:
    """The approval requests sent to this person as (acting) approver: ``awaiting`` or ``decided``
    (``since``: decided, or for awaiting made, at or after that time). Enrollment pages them oldest
    first, so every page is read (the recent ones come last; ``since`` keeps that to the recent)."""
    items, cursor = [], None
    base = {"status": status, "limit": limit, **({"since": timefmt.iso(since)} if since else {})}
    for _ in range(max_pages):
        params = {**base, **({"cursor": cursor} if cursor else {})}
        page = client.get("enrollment", "/approvals", identity, params=params)
        items += page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


def approval_by_link(client: ServiceClient, identity: Identity, token: str) -> dict:
    """The request an approval link is for (enrollment answers it to the link's approver only)."""
    return client.post("enrollment", "/approvals/link", identity, {"token": token})


def team(client: ServiceClient, identity: Identity) -> dict:
    """Tim saya: the person's staff with their JP (reporting records each read)."""
    return client.get("reporting", "/team", identity)


def roster_of(client: ServiceClient, identity: Identity, nip: str) -> dict | None:
    """A roster entry as the operator or admin sees it (None: not on their roster)."""
    try:
        return client.get("enrollment", f"/roster/{_path(nip)}", identity, acting="role")
    except ServiceError as exc:
        if exc.status in (403, 404):
            return None
        raise


def access_logs(client: ServiceClient, identity: Identity, nip: str | None, reader: str | None,
                limit: int = 200) -> tuple[dict[str, list[dict]], list[str]]:
    """Each service's access log page (newest first), and the services that did not answer."""
    params = {"limit": limit, **({"nip": nip} if nip else {}), **({"reader": reader} if reader else {})}

    def read(service: str) -> list[dict] | None:
        try:
            return client.get(service, "/admin/access-log", identity, params=params, acting="role")["items"]
        except ServiceError as exc:
            if exc.status < 500 and exc.status not in (404, 429):
                raise
            return None  # that service's log is named as missing on the page

    answers = client.gather([lambda s=service: read(s) for service in ACCESS_LOG_SERVICES])
    pages = {s: items for s, items in zip(ACCESS_LOG_SERVICES, answers) if items is not None}
    return pages, [s for s, items in zip(ACCESS_LOG_SERVICES, answers) if items is None]


# -- operator console: oversight (issue 21) --
# Read with the operator's or admin's platform role (acting="role"): reporting and certification
# scope an operator to its own OPD, so the portal never shows more than the API would.
def compliance(client: ServiceClient, identity: Identity, year: int, agency: str | None) -> dict:
    """Every OPD's compliance figures of ``year`` (an operator: its own OPD's; naming another: 403)."""
    params = {"year": year, "limit": 1000, **({"agency": agency} if agency else {})}
    return client.get("reporting", "/compliance", identity, params=params, acting="role")


def certificates_monthly(client: ServiceClient, identity: Identity, year: int, agency: str | None) -> dict:
    params = {"year": year, **({"agency": agency} if agency else {})}
    return client.get("reporting", "/certificates/monthly", identity, params=params, acting="role")


def programme_figures(client: ServiceClient, identity: Identity, year: int, limit: int = 100) -> dict:
    """The programmes of ``year`` with their enrolment and result counts (platform-wide figures)."""
    return client.get("reporting", "/programmes", identity, params={"year": year, "limit": limit}, acting="role")


def never_enrolled(client: ServiceClient, identity: Identity, year: int, agency: str | None,
                   cursor: str | None, limit: int = 50) -> dict:
    params = {"year": year, "limit": limit, **({"agency": agency} if agency else {}),
              **({"cursor": cursor} if cursor else {})}
    return client.get("reporting", "/never-enrolled", identity, params=params, acting="role")


def checkpoint_job(client: ServiceClient, identity: Identity, checkpoint: str) -> dict | None:
    """A shortfall checkpoint's job (reporting, admin only); None when neither run nor requested."""
    try:
        return client.get("reporting", f"/admin/shortfall/{_path(checkpoint)}", identity, acting="role")
    except ServiceError as exc:
        if exc.status == 404:
            return None
        raise


def programme_as_staff(client: ServiceClient, identity: Identity, code: str) -> dict:
    return client.get("enrollment", f"/programmes/{_path(code)}", identity, acting="role")


def programme_certificates(client: ServiceClient, identity: Identity, code: str, cursor: str | None,
                           limit: int = 50) -> dict:
    """A page of the programme's certificates, newest first (an operator: its OPD's holders only)."""
    params = {"programme": code, "limit": limit, **({"cursor": cursor} if cursor else {})}
    return client.get("certification", "/certificates", identity, params=params, acting="role")


def certificate_as_staff(client: ServiceClient, identity: Identity, certificate_id: str) -> dict:
    return client.get("certification", f"/certificates/{_path(certificate_id)}", identity, acting="role")


# -- operator console: programmes (issue 21) --
def _all_pages(client: ServiceClient, service: str, path: str, identity: Identity, params: dict,
               max_pages: int = 20) -> list[dict]:
    """Every item of a paged list (cursor after cursor), read with the staff member's role."""
    items, cursor = [], None
    for _ in range(max_pages):
        page = client.get(service, path, identity, params={**params, **({"cursor": cursor} if cursor else {})},
                          acting="role")
        items += page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return items


def console_programmes(client: ServiceClient, identity: Identity, filters: dict) -> list[dict]:
    """Programmes of every status (or the one asked for) with the staff member's role."""
    params = {"limit": 500, **{k: v for k, v in (("status", filters.get("status")), ("kind", filters.get("kind")))
                               if v}}
    return _all_pages(client, "enrollment", "/programmes", identity, params)


def console_programme(client: ServiceClient, identity: Identity, code: str) -> dict:
    return client.get("enrollment", f"/programmes/{_path(code)}", identity, acting="role")


# enrollment counts speakers (narasumber) apart from the peserta of each status
COUNTED = ("enrolled", "waitlisted", "completed", "narasumber")


def agency_counts(client: ServiceClient, identity: Identity, codes: list[str]) -> dict[str, dict[str, int]]:
    """{code: {status: n}} of the operator's OPD (enrollment scopes an operator's counts to its
    OPD), the ``COUNTED`` statuses: one GET /enrolments/counts for the page's programmes."""
    if not codes:
        return {}
    answer = client.get("enrollment", "/enrolments/counts", identity, params={"programme": codes},
                        acting="role").get("counts", {})
    return {code: {status: int((answer.get(code.upper()) or {}).get(status, 0)) for status in COUNTED}
            for code in codes}


def programme_enrolments(client: ServiceClient, identity: Identity, code: str, agency: str | None = None) -> list[dict]:
    """The enrolments of a programme the staff member may see (an operator: its OPD's; an admin
    all, or one OPD's). An operator naming another OPD gets enrollment's 403."""
    params = {"programme": code, "limit": 500, **({"agency": agency} if agency else {})}
    return _all_pages(client, "enrollment", "/enrolments", identity, params)


def roster_search(client: ServiceClient, identity: Identity, term: str, limit: int = 10) -> list[dict]:
    """ASN aktif whose name begins with ``term`` or whose NIP begins with its digits (an operator:
    its own OPD's roster)."""
    return client.get("enrollment", "/roster", identity, params={"q": term, "status": "aktif", "limit": limit},
                      acting="role").get("items", [])


def current_jp(client: ServiceClient, identity: Identity, nips: list[str], year: int) -> dict[str, int | None]:
    """{nip: JP of ``year``} from reporting's ledgers (None when reporting has none or refuses)."""
    def one(nip: str) -> tuple[str, int | None]:
        try:
            ledger_ = client.get("reporting", f"/ledger/{_path(nip)}", identity, params={"year": year},
                                 acting="role")
        except ServiceError:  # the JP is a help for choosing, not a reason to fail the page
            return nip, None
        entry = next((y for y in ledger_.get("years", []) if y.get("year") == year), None)
        return nip, (entry or {}).get("jp_total", 0)

    return dict(client.gather([lambda n=nip: one(n) for nip in nips]))


def jp_preview(client: ServiceClient, identity: Identity, params: dict) -> dict:
    """Enrollment's JP for a kind and duration (GET /jp: the rules a programme gets)."""
    return client.get("enrollment", "/jp", identity, params=params, acting="role")
