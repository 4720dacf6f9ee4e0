"""Reads of a person's certificates by someone else are recorded (issue 20, UU 27/2022): who,
whose, what (the certificate number), when; the holder's own reads are not. An admin lists them
with GET /admin/access-log."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.integration.certification.helpers import issue
from tests.support import auth_headers

HOLDER = "198503122010011002"  # the completion example's participant, of DISKOMINFO


def log_of(api, nip: str) -> list[tuple]:
    page = api.get("/admin/access-log", params={"nip": nip}).json()
    return [(r["reader"]["role"], r["reader"]["agency"], r["what"], r["detail"]) for r in page["items"]]


def test_every_read_of_a_certificate_by_someone_else_is_recorded_and_the_holders_own_are_not(
        start, settings, db, api):
    start()
    certificate = issue(settings, db, "acc-1")
    cid, number = certificate["_id"], certificate["number"]
    paths = [f"/certificates/{cid}", f"/certificates/{cid}/pdf", f"/certificates/{cid}/credential"]

    own = auth_headers("asn", nip=HOLDER)
    assert api.get("/certificates", headers=own).json()["total"] == 1
    for path in paths:
        assert api.get(path, headers=own).status_code == 200
    assert log_of(api, HOLDER) == []

    started = datetime.now(timezone.utc)
    assert api.get("/certificates", params={"nip": HOLDER}).json()["total"] == 1
    for path in paths:
        assert api.get(path).status_code == 200
    # Newest first: credential, pdf, one, list, each naming the certificate.
    assert log_of(api, HOLDER) == [("admin", None, "certificates", number)] * 4
    newest = api.get("/admin/access-log", params={"nip": HOLDER, "limit": 1}).json()["items"][0]
    assert newest["subject_nip"] == HOLDER and newest["reader"]["subject"] == "admin:bkn"
    assert datetime.fromisoformat(newest["at"].replace("Z", "+00:00")) >= started.replace(microsecond=0)

    # The holder's operator listing its agency's certificates: recorded for each holder listed.
    operator = auth_headers("operator", "DISKOMINFO")
    assert api.get("/certificates", headers=operator).json()["total"] == 1
    assert log_of(api, HOLDER)[0] == ("operator", "DISKOMINFO", "certificates", None)
    # A refused read reads nothing and records nothing.
    assert api.get(f"/certificates/{cid}", headers=auth_headers("operator", "DISHUB")).status_code == 403
    assert api.get(f"/certificates/{cid}", headers=auth_headers("asn", nip="199001012015011002")).status_code == 403
    assert len(log_of(api, HOLDER)) == 5
