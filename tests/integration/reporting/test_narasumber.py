"""A seminar's narasumber through the running reporting service: the programme's figures count its
peserta (seats, fill rate, pass rate) and show the speakers apart; the speaker's JP reach their
ledger, the entry marked narasumber."""
from __future__ import annotations

import csv
import io

from tests.integration.reporting.conftest import publish, scenario_events, settled, shuffled_with_duplicates
from tests.support import wait_for
from tests.unit.reporting import factory as f

SEMINAR = f.programme("SEM-NARA-2026", kind="seminar", competency_type="manajerial", jp=4,
                      starts_at="2026-03-02T01:00:00Z", ends_at="2026-03-02T09:00:00Z")
PESERTA = [f.participant(i, "SETDA") for i in (1, 2, 3)]
SPEAKER = f.participant(7, "DISKOMINFO", name="Dr. Narasumber")


def events() -> list[dict]:
    items = [f.published(SEMINAR, capacity=4)]
    items += [f.enrolled(f"nara-p{i}", SEMINAR, p, role="peserta") for i, p in enumerate(PESERTA)]
    items.append(f.enrolled("nara-s", SEMINAR, SPEAKER, role="narasumber"))
    items += [f.completed("nara-p0", SEMINAR, PESERTA[0], "passed", role="peserta"),
              f.completed("nara-p1", SEMINAR, PESERTA[1], "no_show", role="peserta"),
              f.completed("nara-s", SEMINAR, SPEAKER, "passed", role="narasumber")]
    return scenario_events(items)


def test_a_speaker_takes_no_seat_in_the_figures_and_earns_jp_as_narasumber(start, settings, store, api):
    start()
    sent = events()
    publish(settings.amqp_uri, shuffled_with_duplicates(sent, seed=24))
    wait_for(lambda: settled(store, len(sent)), timeout=60, message="every event applied once, counters folded")

    stats = api.get("/programmes/SEM-NARA-2026/stats").json()
    # three peserta on four seats; the speaker in none of the seat or result figures
    assert {k: stats[k] for k in ("enrolled", "completed", "passed", "no_shows", "seats_taken", "fill_rate",
                                  "pass_rate", "speakers", "speakers_completed")} == {
        "enrolled": 1, "completed": 2, "passed": 1, "no_shows": 1, "seats_taken": 3, "fill_rate": 0.75,
        "pass_rate": 1.0, "speakers": 1, "speakers_completed": 1}
    listed = api.get("/programmes", params={"year": 2026, "kind": "seminar"}).json()["items"]
    assert [(p["code"], p["seats_taken"], p["speakers"]) for p in listed] == [("SEM-NARA-2026", 3, 1)]

    ledger = api.get(f"/ledger/{SPEAKER['nip']}").json()
    [entry] = ledger["years"][0]["entries"]
    assert (entry["programme_code"], entry["jp"], entry["role"]) == ("SEM-NARA-2026", 4, "narasumber")
    assert ledger["years"][0]["jp_total"] == 4
    peserta = api.get(f"/ledger/{PESERTA[0]['nip']}").json()["years"][0]["entries"][0]
    assert (peserta["jp"], peserta["role"]) == (4, "peserta")

    # the ledger export says in which role the JP were earned
    rows = list(csv.DictReader(io.StringIO(api.get("/exports/ledger.csv", params={"year": 2026}).content
                                           .decode("utf-8-sig"))))
    roles = {r["nip"]: r["peran"] for r in rows if r["kode_program"] == "SEM-NARA-2026"}
    assert roles[SPEAKER["nip"]] == "Narasumber" and roles[PESERTA[0]["nip"]] == "Peserta"
