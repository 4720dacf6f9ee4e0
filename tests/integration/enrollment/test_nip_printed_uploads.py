"""Bulk uploads take a NIP as printed on documents (``19850312 201001 1 002``) and every NI PPPK
the layout allows: a second contract, the published example, a PPPK in their sixties (issue 24)."""
from __future__ import annotations

import json

from shared.nip import printed
from tests.integration.enrollment.factories import nip, programme

PNS = nip(41)
PPPK_SECOND_CONTRACT = "199305222022222012"   # digit 14 = 2: a second work agreement
PPPK_EXAMPLE = "199009132025242014"           # the published example
PPPK_AGED_62 = "196304102025211007"           # born 1963, appointed 2025


def lines(response) -> tuple[list[dict], dict]:
    assert response.status_code == 200, response.text
    items = [json.loads(line) for line in response.text.splitlines()]
    return items[:-1], items[-1]["summary"]


def upload(enrollment, path: str, text: str):
    return enrollment.post(path, data=text.encode("utf-8"), headers={"Content-Type": "text/csv"})


def test_printed_nips_and_every_ni_pppk_layout_are_enrolled_and_completed_by_their_digits(enrollment):
    enrollment.create_published(programme("NIPP-01", kind="e-learning", capacity=10))
    people = [PNS, PPPK_SECOND_CONTRACT, PPPK_EXAMPLE, PPPK_AGED_62]
    text = "nip;nama;opd\n" + "".join(f"{printed(n)};Peserta {i};DISKOMINFO\n" for i, n in enumerate(people))
    rows, summary = lines(upload(enrollment, "/programmes/NIPP-01/enrolments/bulk", text))
    assert [(r["nip"], r["accepted"]) for r in rows] == [(n, True) for n in people], rows
    assert summary["created"] == 4 and summary["rejected"] == 0
    kinds = {e.data["participant"]["nip"]: e.data["participant"]["id_kind"] for e in enrollment.events(5)
             if e.name == "enrolled"}
    assert kinds == {PNS: "nip", PPPK_SECOND_CONTRACT: "ni_pppk", PPPK_EXAMPLE: "ni_pppk", PPPK_AGED_62: "ni_pppk"}

    completion = "nip,nilai,hadir\n" + "".join(f"{printed(n)},90,ya\n" for n in people)
    rows, summary = lines(upload(enrollment, "/programmes/NIPP-01/completions/bulk", completion))
    assert [(r["nip"], r["accepted"], r.get("result")) for r in rows] == [(n, True, "passed") for n in people], rows
    assert summary["completed"] == 4
