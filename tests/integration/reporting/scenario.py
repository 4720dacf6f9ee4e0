"""A seeded scenario with figures computed by hand (target 20 JP, year 2026).

DISKOMINFO  A1 PEL-A passed 24 · A2 SEM-B 4 + LOK-C 5 = 9 · A3 PEL-A failed · A4 enrolled then cancelled
SETDA       B1 PEL-A 24 + SEM-B 4 = 28 · B2 PEL-D 12 in 2025, SEM-B 4 in 2026 · B3 waitlisted for PEL-A
DINKES      C1 PEL-A no-show · C2 LOK-C 5 completed 2025-12-31 18:00 UTC = 1 Jan 2026 01:00 WIB

The roster (``with_roster``) lists all nine and N1 (DINKES, TMT February 2026), who never enrols.

2026: DISKOMINFO known 4, met 1, JP 33 · SETDA known 3, met 1, JP 32 · DINKES known 3 (N1 never
      enrolled), met 0, JP 5 · city: known 10, met 2, JP 70, average 7.0
      Without the roster (``events`` alone) only those with JP count: 2 + 2 + 1.
2025: on the roster all but N1 (TMT 2026): DISKOMINFO 4, SETDA 3 (B2 12 JP), DINKES 2
"""
from __future__ import annotations

from tests.unit.reporting import factory as f

PEL_A = f.programme("PEL-A-2026", kind="pelatihan", competency_type="teknis", jp=24, certificate=True,
                    title="Pelatihan Pengadaan Barang/Jasa")
SEM_B = f.programme("SEM-B-2026", kind="seminar", competency_type="manajerial", jp=4,
                    starts_at="2026-05-20T01:00:00Z", ends_at="2026-05-20T08:00:00Z", title="Seminar Kepemimpinan")
LOK_C = f.programme("LOK-C-2026", kind="lokakarya", competency_type="pemerintahan", jp=5,
                    starts_at="2025-12-31T01:00:00Z", ends_at="2025-12-31T17:00:00Z", title="Lokakarya SPBE")
PEL_D = f.programme("PEL-D-2025", kind="pelatihan", competency_type="teknis", jp=12,
                    starts_at="2025-11-03T01:00:00Z", ends_at="2025-11-06T09:00:00Z", title="Pelatihan Arsip Digital")

A1, A2, A3, A4 = (f.participant(i, "DISKOMINFO") for i in (1, 2, 3, 4))
B1, B2, B3 = (f.participant(i, "SETDA") for i in (11, 12, 13))
C1, C2 = (f.participant(i, "DINKES") for i in (21, 22))
N1 = f.participant(23, "DINKES", name="Nurhayati")  # on the roster, never enrolled

MARCH = "2026-03-05T09:30:00Z"


def events() -> list[tuple[str, dict]]:
    return [
        f.published(PEL_A, capacity=30), f.published(SEM_B, capacity=100), f.published(LOK_C, capacity=40),
        f.published(PEL_D, capacity=20, opens="2025-09-01T00:00:00Z", closes="2025-10-20T16:59:59Z"),
        f.enrolled("a1-pel", PEL_A, A1), f.completed("a1-pel", PEL_A, A1, "passed", MARCH),
        f.certified("cert-a1", "a1-pel", PEL_A, A1, "0001/BKN-BKT/SERT-PBJ/2026", "2026-03-05", "2029-03-05"),
        f.enrolled("a2-sem", SEM_B, A2), f.completed("a2-sem", SEM_B, A2, "passed", "2026-05-20T09:00:00Z"),
        f.enrolled("a2-lok", LOK_C, A2, at="2026-06-01T02:00:00Z"),
        f.completed("a2-lok", LOK_C, A2, "passed", "2026-06-10T09:00:00Z"),
        f.enrolled("a3-pel", PEL_A, A3), f.completed("a3-pel", PEL_A, A3, "failed", MARCH),
        f.enrolled("a4-pel", PEL_A, A4), f.cancelled("a4-pel", PEL_A, A4, at="2026-01-20T04:00:00Z"),
        f.enrolled("b1-pel", PEL_A, B1), f.completed("b1-pel", PEL_A, B1, "passed", MARCH),
        f.certified("cert-b1", "b1-pel", PEL_A, B1, "0002/BKN-BKT/SERT-PBJ/2026", "2026-03-06", "2029-03-06"),
        f.revoked("cert-b1", PEL_A, B1, "0002/BKN-BKT/SERT-PBJ/2026", at="2026-04-01T03:00:00Z"),
        f.enrolled("b1-sem", SEM_B, B1), f.completed("b1-sem", SEM_B, B1, "passed", "2026-05-20T09:00:00Z"),
        f.enrolled("b2-pel", PEL_D, B2, at="2025-10-01T02:00:00Z"),
        f.completed("b2-pel", PEL_D, B2, "passed", "2025-11-06T09:30:00Z"),
        f.enrolled("b2-sem", SEM_B, B2), f.completed("b2-sem", SEM_B, B2, "passed", "2026-05-20T09:00:00Z"),
        f.waitlisted("b3-pel", PEL_A, B3, position=1),
        f.enrolled("c1-pel", PEL_A, C1), f.completed("c1-pel", PEL_A, C1, "no_show", MARCH),
        f.enrolled("c2-lok", LOK_C, C2, at="2025-12-01T02:00:00Z"),
        f.completed("c2-lok", LOK_C, C2, "passed", "2025-12-31T18:00:00Z"),
    ]


def roster() -> list[tuple[str, dict]]:
    """Everyone of the scenario on the roster (registered in January), and N1 who never enrols."""
    return [f.registered(f.roster_entry(p)) for p in (A1, A2, A3, A4, B1, B2, B3, C1, C2)] + [
        f.registered(f.roster_entry(N1, tmt="2026-02-01", jenis_asn="PPPK"), at="2026-02-01T02:00:00Z")]


def with_roster() -> list[tuple[str, dict]]:
    return roster() + events()


# Hand-computed figures of 2026 (with the roster).
AGENCIES_2026 = {
    "DISKOMINFO": {"known_asn": 4, "rostered_asn": 4, "unlisted_asn": 0, "never_enrolled": 0, "asn_with_jp": 2,
                   "met_target": 1, "jp_total": 33, "average_jp": 8.25},
    "SETDA": {"known_asn": 3, "rostered_asn": 3, "unlisted_asn": 0, "never_enrolled": 0, "asn_with_jp": 2,
              "met_target": 1, "jp_total": 32, "average_jp": 10.67},
    "DINKES": {"known_asn": 3, "rostered_asn": 3, "unlisted_asn": 0, "never_enrolled": 1, "asn_with_jp": 1,
               "met_target": 0, "jp_total": 5, "average_jp": 1.67},
}
TOTALS_2026 = {"known_asn": 10, "rostered_asn": 10, "unlisted_asn": 0, "never_enrolled": 1, "met_target": 2,
               "jp_total": 70, "average_jp": 7.0, "met_rate": 0.2}
DISTRIBUTION_2026 = {"0": 5, "1-4": 1, "5-9": 2, "10-14": 0, "15-19": 0, "20-29": 2, "30-39": 0, "40+": 0}
PEL_A_STATS = {"enrolled": 0, "waitlisted": 1, "cancelled": 1, "completed": 4, "passed": 2, "failed": 1,
               "no_shows": 1, "pass_rate": 0.6667, "seats_taken": 4, "fill_rate": 0.1333, "capacity": 30}
