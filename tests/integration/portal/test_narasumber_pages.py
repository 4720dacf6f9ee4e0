"""A seminar's narasumber on the portal, against the four services and the portal as separate
processes (deploy.launcher.Stack), with the development sign-in: the operator enrols a speaker from
the roster beside two peserta; the programme page labels the speaker "Narasumber" and counts the
peserta apart (the speaker takes no seat); the speaker's own catalogue and programme page say
"Terdaftar sebagai narasumber", and once the seminar has ended and the speaker's completion is
recorded, their history marks the entry Narasumber with the seminar's JP."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone


from tests.integration.portal.conftest import programme_body
from tests.support import cut_short, wait_for

# The console's module-scoped platform and its sign-in helpers, not a copy of them.
from tests.integration.portal.test_console_programmes import TIMEOUT, con, csrf_of, page, sign_in  # noqa: E402,F401


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def test_the_speaker_is_labelled_narasumber_out_of_the_seats_and_on_their_own_pages(con):
    now = datetime.now(timezone.utc)
    # running now (so that it can be ended and completed), two seats, enrolment still open
    code = con.publish(programme_body(
        "NARA", title="Seminar Integritas ASN", kind="seminar", competency_type="manajerial", jp=4, capacity=2,
        speakers=["Ilham Pratama"], starts_at=_iso(now - timedelta(hours=2)), ends_at=_iso(now + timedelta(days=2)),
        enrolment_opens_at=_iso(now - timedelta(days=7)), enrolment_closes_at=_iso(now + timedelta(days=1))))["code"]
    budi, rina, ilham = con.people["asn"], con.people["asn2"], con.people["staff3"]

    operator = sign_in(con, "operator:DISKOMINFO")
    for person, peran in ((budi, "peserta"), (rina, "peserta"), (ilham, "narasumber")):
        token = csrf_of(page(operator, con, f"/operator/program/{code}?cari={person.nip}"))
        answer = operator.post(f"{con.url}/operator/program/{code}/daftar",
                               data={"csrf_token": token, "nip": person.nip, "peran": peran},
                               allow_redirects=False, timeout=TIMEOUT)
        assert answer.status_code == 303, answer.text[:500]

    shown = page(operator, con, f"/operator/program/{code}")
    heading = re.search(r'<h2 id="participants-title">(.*?)</h2>', shown, re.S).group(1)
    assert text_of(heading) == "Peserta (2) dan narasumber (1)"
    table = re.search(r'<table id="participants">.*?</table>', shown, re.S).group(0)
    rows = re.findall(r'<tr data-enrolment="([^"]+)" data-nip="(\d+)" data-status="enrolled" data-role="(\w+)">'
                      r'(.*?)</tr>', table, re.S)
    assert [(nip, role) for _, nip, role, _ in rows] == [(ilham.nip, "narasumber"), (budi.nip, "peserta"),
                                                         (rina.nip, "peserta")]
    assert ["Narasumber" in cells for *_, cells in rows] == [True, False, False]
    # both seats taken by the peserta; the speaker holds none, and nobody waits
    assert re.search(r'id="seats" data-capacity="2" data-taken="2" data-left="0" data-waitlisted="0"', shown)
    speaker_id = rows[0][0]
    # the console's list counts the OPD's speaker beside its peserta
    listing = page(operator, con, "/operator/program")
    row = re.search(rf'<tr[^>]*data-programme="{code}".*?</tr>', listing, re.S).group(0)
    assert re.search(r'class="n opd-enrolled">2 <span class="muted opd-speakers">\+ 1 narasumber</span>', row)

    asn = sign_in(con, f"asn:{ilham.nip}")
    catalogue = page(asn, con, "/katalog")
    card = re.search(rf'<li class="card" data-programme="{code}"[^>]*data-role="narasumber">(.*?)</li>', catalogue,
                     re.S)
    assert card and "Terdaftar sebagai narasumber" in card.group(1)
    assert "Status Anda: <strong>Terdaftar sebagai narasumber</strong>" in page(asn, con, f"/katalog/{code}")

    # the seminar ends; the speaker's attendance is recorded: their 4 JP, as narasumber
    con.call("PATCH", "enrollment", f"/programmes/{code}", json=cut_short())
    con.call("POST", "enrollment", f"/enrolments/{speaker_id}/completion", json={"attended": True})
    wait_for(lambda: any(e.get("role") == "narasumber" for y in con.call(
        "GET", "reporting", f"/ledger/{ilham.nip}", expect=(200, 404)).json().get("years", [])
        for e in y["entries"]), timeout=60, interval=0.2, message="the speaker's entry in the ledger")
    history = page(asn, con, "/riwayat")
    entry = re.search(rf'<tr data-enrolment="{speaker_id}" data-role="narasumber">(.*?)</tr>', history, re.S)
    assert entry and "Narasumber" in entry.group(1) and "Seminar Integritas ASN" in entry.group(1)
    assert re.search(r'<td class="n">4</td>', entry.group(1))
    # reporting's programme figures (folded a moment after the ledger): the speaker apart from the seats
    stats = wait_for(lambda: (s := con.get("reporting", f"/programmes/{code}/stats"))["speakers_completed"] == 1
                     and s, timeout=60, interval=0.2, message="the speaker's completion in the programme figures")
    assert (stats["speakers"], stats["seats_taken"], stats["enrolled"]) == (1, 2, 2)
