"""The demo scenario: a realistic competency-development season in Kota Bukittinggi, played
through the public HTTP APIs of a running platform.

    python -m deploy.launcher run --demo          (starts the stack, then plays this)
    python -m deploy.demo                         (against a platform already running on 8001-8004)
    python -m deploy.demo --base-urls enrollment=http://10.0.0.5:8001,reporting=http://10.0.0.5:8004

What it does, in order: imports the roster (daftar ASN) of ~1,000 ASN of the city's real OPD,
each with a supervisor (atasan langsung) in their OPD, e-mail and telephone (enrollment passes
the contact data to notification privately); registers their notification channels (bulk CSV);
creates and publishes a dozen programmes (pelatihan, sertifikasi, a
seminar with narasumber, a lokakarya run jointly by BKN and the city, e-learning, coaching,
mentoring, one still to come); enrols about two thirds of them (bulk CSV) — the rest never come, which
is what the roster makes visible — one programme beyond its capacity so a waitlist forms; cancels a few
of its seats, and since it has started BKPSDM moves the first on the waitlist up by hand; lets the
scheduled programmes under way take place (their end moved to now: a pelatihan, sertifikasi, seminar
or lokakarya takes its results only once it has ended); records completions with passes, failures
and no-shows (bulk CSV); waits for the certificates and revokes one; waits
for the JP ledger and the never-enrolled figures; runs the shortfall checkpoint as a job
(ASN below the checkpoint's pro-rated target get a nudge, their supervisors a summary); and
prints where to look.

The data are generated from a seeded random generator, so two runs on the same day send the
same requests, and the platform's idempotency makes a second run change nothing. Only HTTP
is used: nothing here touches a database or the broker.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterable, Mapping, TextIO
from zoneinfo import ZoneInfo

import requests

from shared import nip as nip_rules
from shared.config import DEFAULT_PORTS, DEPLOYABLES, SERVICES, env
from shared.reference import Agency, agencies

WIB = ZoneInfo("Asia/Jakarta")
DEFAULT_ASN = 1000
# Of the roster, about this share applies for a programme in the demo's season; the others
# never enrol (the reluctant ASN the roster makes visible).
ENROLLING_SHARE = 0.65
# Staff per supervisor (a kepala seksi/subbagian); supervisors report to the head of the OPD,
# whose own supervisor (the Sekretaris Daerah or the Wali Kota) is not on the city's roster.
STAFF_PER_SUPERVISOR = 8
DEFAULT_SEED = 2026
DEFAULT_TIMEOUT_S = 600.0
# Reserved for documentation (RFC 2606): a misconfigured relay can never mail a real person.
EMAIL_DOMAIN = "bukittinggi.example"
HTTP_TIMEOUT_S = 120.0
PAGE = 500
TOKEN_TTL_S = 8 * 3600


class DemoError(RuntimeError):
    pass


# Kinds held on their dates: results are recorded once the programme has ended, and a freed seat
# goes to the waitlist by itself only before it starts (enrollment's rule, ADR 0012). The others
# (e-learning, coaching, mentoring) are self-paced: each participant completes when they finish.
SCHEDULED_KINDS = ("pelatihan", "sertifikasi", "seminar", "lokakarya")


# --- the people ----------------------------------------------------------------------------

MALE_GIVEN = ("Rahmat", "Fauzan", "Rizky", "Andri", "Hendra", "Yudi", "Afrizal", "Zulkifli", "Irwan", "Doni",
              "Fadli", "Arif", "Budi", "Yusuf", "Hafiz", "Ikhsan", "Ilham", "Reza", "Wahyu", "Taufik",
              "Syafrizal", "Novrizal", "Erwin", "Dedi", "Ferdian", "Aldi", "Gusrizal", "Muhammad", "Zainal",
              "Rudi", "Yoserizal", "Alfian")
FEMALE_GIVEN = ("Siti", "Rina", "Yuliani", "Dewi", "Fitri", "Rahmi", "Nurul", "Yusnita", "Elvi", "Desi", "Mega",
                "Wulan", "Rezki", "Sri", "Fauziah", "Nofriyanti", "Yelni", "Zurmiati", "Lidya", "Afrianti",
                "Hasnah", "Putri", "Anisa", "Nelvi", "Rosmaini", "Yenni", "Suci", "Vivi", "Melati", "Resti")
MALE_FAMILY = ("Hidayat", "Saputra", "Syahputra", "Pratama", "Fauzi", "Putra", "Effendi", "Amri", "Kurniawan",
               "Gusman", "Firdaus", "Maulana", "Rahman", "Hakim", "Darmawan", "Chaniago", "Koto", "Piliang",
               "Tanjung", "Sikumbang")
FEMALE_FAMILY = ("Rahmawati", "Yanti", "Wahyuni", "Susanti", "Handayani", "Marlina", "Oktaviani", "Novita",
                 "Sari", "Lestari", "Ramadhani", "Yulia", "Permata", "Fitriani", "Chaniago", "Koto", "Piliang",
                 "Tanjung", "Sikumbang", "Melayu")
DEGREES = ("S.E.", "S.Kom.", "S.Sos.", "S.H.", "S.T.", "S.Pd.", "S.IP.", "S.Ak.", "A.Md.", "M.Si.", "M.M.")
GENERIC_POSITIONS = ("Analis Kebijakan Ahli Muda", "Analis Kebijakan Ahli Pertama", "Perencana Ahli Muda",
                     "Pranata Komputer Ahli Pertama", "Analis Sumber Daya Manusia Aparatur Ahli Pertama",
                     "Arsiparis Terampil", "Pengadministrasi Perkantoran", "Penata Layanan Operasional",
                     "Pengolah Data dan Informasi", "Analis Keuangan Pusat dan Daerah Ahli Pertama",
                     "Pengelola Pengadaan Barang/Jasa Ahli Pertama", "Kepala Subbagian Umum dan Kepegawaian")
AGENCY_POSITIONS = {
    "INSPEKTORAT": ("Auditor Ahli Pertama", "Auditor Ahli Muda", "Pengawas Penyelenggaraan Urusan Pemerintahan "
                    "Daerah Ahli Muda"),
    "DISDIKBUD": ("Guru Ahli Pertama", "Guru Ahli Muda", "Pamong Budaya Ahli Pertama"),
    "DINKES": ("Perawat Ahli Pertama", "Bidan Terampil", "Epidemiolog Kesehatan Ahli Muda"),
    "RSUD": ("Perawat Terampil", "Perawat Ahli Pertama", "Dokter Ahli Muda", "Apoteker Ahli Pertama"),
    "SATPOLPP": ("Polisi Pamong Praja Terampil", "Polisi Pamong Praja Ahli Pertama"),
    "DAMKAR": ("Analis Kebakaran Terampil", "Pengelola Sarana dan Prasarana Pemadam Kebakaran"),
    "DISKOMINFO": ("Pranata Komputer Ahli Muda", "Pranata Hubungan Masyarakat Ahli Pertama", "Sandiman Ahli Pertama"),
    "DISPUSIP": ("Pustakawan Ahli Pertama", "Arsiparis Ahli Pertama"),
    "BAKEUDA": ("Analis Keuangan Pusat dan Daerah Ahli Muda", "Penata Kelola Pajak Daerah"),
    "BKPSDM": ("Analis Sumber Daya Manusia Aparatur Ahli Muda", "Assessor SDM Aparatur Ahli Pertama"),
    "BAPPELITBANGDA": ("Perencana Ahli Muda", "Peneliti Ahli Pertama"),
    "DISDUKCAPIL": ("Administrator Database Kependudukan Ahli Pertama", "Pengadministrasi Kependudukan"),
}
# Rough relative head counts: schools and the hospital employ most of a city's ASN.
AGENCY_WEIGHTS = {"DISDIKBUD": 8, "RSUD": 5, "DINKES": 4, "SETDA": 3, "SATPOLPP": 2, "DPUPR": 2, "BAKEUDA": 2,
                  "DISDUKCAPIL": 1.5, "KEC_GP": 1.5, "KEC_MKS": 1.5, "KEC_ABTB": 1.5}


@dataclass(frozen=True)
class Asn:
    nip: str
    id_kind: str  # nip or ni_pppk
    name: str
    agency: str
    position: str
    gender: str
    email: str
    phone: str
    golongan: str = ""
    supervisor_nip: str | None = None  # nip_atasan; None for the head of an OPD

    @property
    def jenis_asn(self) -> str:
        return "PPPK" if self.id_kind == "ni_pppk" else "PNS"


PNS_GOLONGAN = ("II/c", "II/d", "III/a", "III/b", "III/c", "III/d", "IV/a", "IV/b")
PPPK_GOLONGAN = ("V", "VII", "IX", "X")


def make_identifier(rng: random.Random, year: int, gender_digit: str, pppk: bool) -> str:
    """A structurally valid NIP (birth date, CPNS appointment month, gender, sequence) or NI PPPK."""
    birth = date(rng.randint(year - 58, year - 24), 1, 1) + timedelta(days=rng.randrange(365))
    sequence = f"{rng.randint(1, 999):03d}"
    if pppk:
        appointed = rng.randint(max(2019, birth.year + 20), year - 1)
        return f"{birth:%Y%m%d}{appointed}{nip_rules.PPPK_CODE}1{gender_digit}{sequence}"  # first contract
    appointed = rng.randint(birth.year + 21, min(birth.year + 35, year - 1))
    return f"{birth:%Y%m%d}{appointed}{rng.randint(1, 12):02d}{gender_digit}{sequence}"


def generate_asn(rng: random.Random, count: int, year: int) -> list[Asn]:
    """``count`` ASN with unique, structurally valid identifiers, spread over the real OPD."""
    opd = list(agencies().values())
    weights = [AGENCY_WEIGHTS.get(a.code, 1.0) for a in opd]
    people, seen = [], set()
    while len(people) < count:
        male = rng.random() < 0.48
        pppk = rng.random() < 0.06
        identifier = make_identifier(rng, year, "1" if male else "2", pppk)
        if identifier in seen:
            continue
        parsed = nip_rules.validate(identifier, "auto", today=date(year, 12, 31))
        seen.add(identifier)
        given = rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)
        family = rng.choice(MALE_FAMILY if male else FEMALE_FAMILY)
        name = f"{given} {family}" + (f", {rng.choice(DEGREES)}" if rng.random() < 0.6 else "")
        agency: Agency = rng.choices(opd, weights)[0]
        position = rng.choice(AGENCY_POSITIONS.get(agency.code, ()) + GENERIC_POSITIONS)
        email = f"{given}.{family}.{identifier[-3:]}{identifier[2:4]}@{EMAIL_DOMAIN}".lower()
        phone = f"+62812{rng.randint(0, 99_999_999):08d}"
        golongan = rng.choice(PPPK_GOLONGAN if pppk else PNS_GOLONGAN)
        people.append(Asn(identifier, parsed.kind, name, agency.code, position, parsed.gender, email, phone,
                          golongan))
    return assign_supervisors(rng, people)


def assign_supervisors(rng: random.Random, people: list[Asn]) -> list[Asn]:
    """Give each OPD a head (a PNS of the highest golongan) and about one supervisor per
    ``STAFF_PER_SUPERVISOR`` staff, reporting to the head; everyone else reports to one of them.
    People keep their order."""
    from dataclasses import replace

    boss: dict[str, str | None] = {}
    by_agency: dict[str, list[Asn]] = {}
    for person in people:
        by_agency.setdefault(person.agency, []).append(person)
    for members in by_agency.values():
        # The head is a PNS (a PPPK only in an OPD without one): the highest golongan.
        head = max(members, key=lambda a: (a.id_kind == "nip", a.golongan, a.nip))
        rest = [a for a in members if a.nip != head.nip]
        pns = sorted((a for a in rest if a.id_kind == "nip"), key=lambda a: (a.golongan, a.nip), reverse=True)
        supervisors = pns[:max(0, math.ceil(len(rest) / (STAFF_PER_SUPERVISOR + 1)))]
        boss[head.nip] = None
        for s in supervisors:
            boss[s.nip] = head.nip
        leads = [s.nip for s in supervisors] or [head.nip]
        for a in rest:
            if a.nip not in boss:
                boss[a.nip] = rng.choice(leads)
    return [replace(a, supervisor_nip=boss[a.nip]) for a in people]


# --- the programmes ------------------------------------------------------------------------

@dataclass(frozen=True)
class ProgrammeSpec:
    code: str
    title: str
    kind: str
    competency_type: str
    organisers: tuple[str, ...]
    location: str
    start_day: int  # days from today (WIB), at 08:00
    end_day: int  # days from today (WIB), at 16:00
    audience: float  # share of the ASN who apply
    jp: int | None = None
    duration_days: float | None = None
    duration_minutes: int | None = None
    speakers: tuple[str, ...] = ()
    passing_score: float | None = None
    grants_certificate: bool | None = None
    certificate_validity_months: int | None = None
    certification_line: str | None = None
    description: str | None = None
    favoured_agencies: tuple[str, ...] = ()  # apply more often
    oversubscribed: bool = False  # more applicants than seats: the waitlist
    upcoming: bool = False  # not started yet: nobody completes it in the demo

    @property
    def completed_in_demo(self) -> bool:
        return not self.upcoming

    @property
    def scheduled(self) -> bool:
        return self.kind in SCHEDULED_KINDS


def catalogue(year: int) -> list[ProgrammeSpec]:
    """The season's programmes. Every one that is completed in the demo has started and still
    accepts enrolments (so the demo can enrol now): a self-paced one takes completions while it
    runs, a scheduled one is under way until the demo lets it take place (``Demo.end_programmes``)."""
    joint = ("BKN", "PEMKOT_BUKITTINGGI")
    city = ("PEMKOT_BUKITTINGGI",)
    return [
        ProgrammeSpec(f"PMP-{year}-03", "Pelatihan Manajemen Pemerintahan Daerah Angkatan III", "pelatihan",
                      "pemerintahan", city, "Aula Balai Kota Bukittinggi", -9, 2, 0.08, jp=40, passing_score=70,
                      grants_certificate=True,
                      description="Tata kelola pemerintahan daerah, perencanaan dan penganggaran, pengawasan."),
        ProgrammeSpec(f"PBJ-{year}-04", "Sertifikasi Pengadaan Barang/Jasa Pemerintah Tingkat Dasar",
                      "sertifikasi", "teknis", joint, "Ruang Rapat Bagian Pengadaan Barang dan Jasa, Setda",
                      -4, 1, 0.0, jp=32, passing_score=75, certificate_validity_months=36,
                      certification_line="PBJ", favoured_agencies=("SETDA", "DPUPR", "BAKEUDA", "DPERKIM"),
                      oversubscribed=True),
        ProgrammeSpec(f"SEM-{year}-11", "Seminar Nasional Transformasi Digital Pelayanan Publik", "seminar",
                      "pemerintahan", joint, "Gedung Pertemuan Bung Hatta, Bukittinggi", -1, 1, 0.20,
                      duration_days=2, speakers=(
                          "Dr. Hendra Gunawan, M.Si. (Kementerian PANRB)",
                          "Prof. Dr. Afrizal Chaniago (Universitas Andalas)",
                          "Ir. Yuliani Putri, M.T. (Dinas Komunikasi dan Informatika Kota Bukittinggi)")),
        ProgrammeSpec(f"LOK-{year}-02", "Lokakarya Penguatan Budaya Kerja ASN BerAKHLAK", "lokakarya",
                      "sosial_kultural", joint, "Balai Sidang Bung Hatta, Bukittinggi", -2, 1, 0.08,
                      duration_days=3, speakers=("Tim Kantor Regional XII BKN Pekanbaru",
                                                 "Kepala BKPSDM Kota Bukittinggi")),
        ProgrammeSpec(f"ELN-{year}-07", "E-Learning Literasi Digital dan Keamanan Siber bagi ASN", "e-learning",
                      "teknis", ("BKN",), "Daring (LMS ASN)", -30, 30, 0.18, duration_minutes=540,
                      passing_score=60),
        ProgrammeSpec(f"COA-{year}-02", "Coaching Kepemimpinan bagi Pejabat Pengawas", "coaching", "manajerial",
                      city, "BKPSDM Kota Bukittinggi", -20, 5, 0.05, jp=10),
        ProgrammeSpec(f"MEN-{year}-05", "Mentoring Penyusunan SKP dan Manajemen Kinerja", "mentoring",
                      "manajerial", city, "BKPSDM Kota Bukittinggi", -14, 3, 0.06, jp=8),
        ProgrammeSpec(f"PPP-{year}-06", "Pelatihan Pelayanan Publik Prima", "pelatihan", "sosial_kultural", city,
                      "Mal Pelayanan Publik Kota Bukittinggi", -6, 1, 0.08, jp=24, passing_score=65,
                      favoured_agencies=("DPMPTSP", "DISDUKCAPIL", "RSUD", "KEC_GP", "KEC_MKS", "KEC_ABTB")),
        ProgrammeSpec(f"SIPD-{year}-02", "Pelatihan Penatausahaan Keuangan Daerah pada SIPD", "pelatihan",
                      "teknis", city, "Laboratorium Komputer Badan Keuangan Daerah", -5, 1, 0.06, jp=30,
                      passing_score=70, grants_certificate=True, favoured_agencies=("BAKEUDA", "SETDA")),
        ProgrammeSpec(f"ARS-{year}-01", "Sertifikasi Kompetensi Arsiparis", "sertifikasi", "teknis", joint,
                      "Dinas Perpustakaan dan Kearsipan", -3, 2, 0.04, jp=24, passing_score=70,
                      certificate_validity_months=36, certification_line="ARS", favoured_agencies=("DISPUSIP",)),
        ProgrammeSpec(f"PKI-{year}-01", "Pelatihan Dasar Keamanan Informasi dan Persandian", "pelatihan", "teknis",
                      city, "Dinas Komunikasi dan Informatika", -3, 1, 0.08, jp=16, passing_score=70,
                      grants_certificate=True, favoured_agencies=("DISKOMINFO",)),
        ProgrammeSpec(f"MRK-{year}-01", "Pelatihan Manajemen Risiko Pemerintah Daerah", "pelatihan", "manajerial",
                      joint, "Aula Balai Kota Bukittinggi", 10, 12, 0.05, jp=24, passing_score=70,
                      grants_certificate=True, upcoming=True),
    ]


def _at(today: date, days: int, hour: int) -> datetime:
    local = datetime(today.year, today.month, today.day, hour, tzinfo=WIB) + timedelta(days=days)
    return local.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def programme_body(spec: ProgrammeSpec, today: date, capacity: int) -> dict:
    """The POST /programmes body; times fall on whole hours of ``today`` (WIB), so the same
    day gives the same body (and a repeated run is answered 200, unchanged)."""
    starts, ends = _at(today, spec.start_day, 8), _at(today, spec.end_day, 16)
    closes = _at(today, spec.start_day - 1, 16) if spec.upcoming else ends
    body = {"code": spec.code, "title": spec.title, "kind": spec.kind, "competency_type": spec.competency_type,
            "organisers": list(spec.organisers), "speakers": list(spec.speakers), "location": spec.location,
            "starts_at": _iso(starts), "ends_at": _iso(ends), "enrolment_opens_at": _iso(_at(today, -45, 8)),
            "enrolment_closes_at": _iso(closes), "capacity": capacity}
    optional = {"jp": spec.jp, "duration_days": spec.duration_days, "duration_minutes": spec.duration_minutes,
                "passing_score": spec.passing_score, "grants_certificate": spec.grants_certificate,
                "certificate_validity_months": spec.certificate_validity_months,
                "certification_line": spec.certification_line, "description": spec.description}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


# --- the plan: who applies where, and how each one does --------------------------------------

@dataclass
class ProgrammePlan:
    spec: ProgrammeSpec
    capacity: int
    applicants: list[Asn]  # in order of arrival: the waitlist follows it
    cancellations: int = 0  # enrolled participants who withdraw (the waitlist moves up)


@dataclass
class Plan:
    seed: int
    today: date
    people: list[Asn]
    programmes: list[ProgrammePlan]

    @property
    def year(self) -> int:
        return self.today.year

    def programme(self, code: str) -> ProgrammePlan:
        return next(p for p in self.programmes if p.spec.code == code)


def _weighted_sample(rng: random.Random, items: list[Asn], weight: Callable[[Asn], float], k: int) -> list[Asn]:
    """``k`` distinct items, heavier ones more likely (Efraimidis-Spirakis), in a random order."""
    keyed = sorted(items, key=lambda a: rng.random() ** (1.0 / weight(a)), reverse=True)
    chosen = keyed[:k]
    rng.shuffle(chosen)
    return chosen


def build_plan(asn: int = DEFAULT_ASN, seed: int = DEFAULT_SEED, today: date | None = None) -> Plan:
    """The whole scenario as data; the same seed and day give the same plan."""
    if asn < 30:
        raise DemoError("the demo needs at least 30 ASN to fill its programmes")
    today = today or datetime.now(WIB).date()
    rng = random.Random(seed)
    people = generate_asn(rng, asn, today.year)
    plans = []
    for spec in catalogue(today.year):
        def weight(a: Asn, favoured=spec.favoured_agencies) -> float:
            return 4.0 if a.agency in favoured else 1.0
        if spec.oversubscribed:
            capacity = max(4, round(asn * 0.06))
            count = capacity + max(3, round(capacity * 0.35))
            cancellations = max(1, round(capacity * 0.1))
        else:
            count = max(3, round(asn * spec.audience))
            capacity = 0  # sized below, once every ASN has a place somewhere
            cancellations = 0
        plans.append(ProgrammePlan(spec, capacity, _weighted_sample(rng, people, weight, count), cancellations))
    # About ENROLLING_SHARE of the roster applies somewhere (some wait for the next programme);
    # the others never enrol: the roster counts them, and the checkpoint nudges them.
    placed = {a.nip for p in plans for a in p.applicants}
    upcoming = next(p for p in plans if p.spec.upcoming)
    unplaced = [a for a in people if a.nip not in placed]
    wanted = max(0, round(len(people) * ENROLLING_SHARE) - len(placed))
    upcoming.applicants += unplaced[:wanted]
    for p in plans:
        if not p.spec.oversubscribed:
            p.capacity = int(math.ceil(len(p.applicants) * 1.2 / 5.0) * 5)
    return Plan(seed, today, people, plans)


@dataclass(frozen=True)
class Outcome:
    attended: bool
    score: float | None


def outcome_of(plan: Plan, spec: ProgrammeSpec, person: Asn) -> Outcome:
    """How ``person`` does in ``spec``: the same whatever the order the demo asks in."""
    rng = random.Random(f"{plan.seed}:{spec.code}:{person.nip}")
    no_show = 0.08 if spec.kind in ("seminar", "lokakarya") else 0.04
    if rng.random() < no_show:
        return Outcome(False, None)
    if spec.passing_score is None or spec.kind in ("seminar", "lokakarya"):
        return Outcome(True, None)
    score = min(100.0, max(35.0, rng.gauss(79.0, 11.0)))
    return Outcome(True, round(score * 2) / 2)


def completion_csv(plan: Plan, spec: ProgrammeSpec, people: Iterable[Asn]) -> str:
    """What an operator uploads: ';'-separated with a decimal comma, as Excel in an Indonesian
    locale saves it."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(["nip", "nilai", "hadir"])
    for person in people:
        o = outcome_of(plan, spec, person)
        score = "" if o.score is None else f"{o.score:g}".replace(".", ",")
        writer.writerow([person.nip, score, "ya" if o.attended else "tidak"])
    return out.getvalue()


def enrolment_csv(people: Iterable[Asn]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["nip", "nama", "opd", "jabatan"])
    for person in people:
        writer.writerow([person.nip, person.name, person.agency, person.position])
    return out.getvalue()


ROSTER_COLUMNS = ("nip", "nama", "jenis_asn", "kode_opd", "jabatan", "golongan", "nip_atasan", "status", "email",
                  "telepon")


def roster_csv(people: Iterable[Asn]) -> str:
    """The roster as BKPSDM exports it from its personnel records (';'-separated, Excel in an
    Indonesian locale)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(ROSTER_COLUMNS)
    for a in people:
        writer.writerow([a.nip, a.name, a.jenis_asn, a.agency, a.position, a.golongan, a.supervisor_nip or "",
                         "aktif", a.email, a.phone])
    return out.getvalue()


def recipients_csv(people: Iterable[Asn], channels: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["nip", "name", "agency", "email", "phone", "channels"])
    for person in people:
        # The same e-mail and telephone as the roster's (which notification also receives): a
        # recipient record is replaced whole, so blank cells here would undo the roster's.
        writer.writerow([person.nip, person.name, person.agency, person.email, person.phone, "|".join(channels)])
    return out.getvalue()


CANCEL_REASONS = ("Bertugas ke luar daerah pada tanggal pelaksanaan",
                  "Mendampingi kunjungan kerja pimpinan",
                  "Sakit, dengan surat keterangan dokter",
                  "Mengikuti tugas belajar")
REVOCATION_REASON = ("Hasil verifikasi panitia: dokumen persyaratan peserta tidak sah, "
                     "sehingga kelulusan dibatalkan")


# --- talking to the platform -----------------------------------------------------------------

@dataclass(frozen=True)
class Platform:
    """Where each service's HTTP API is, and the admin's credentials for it."""

    urls: Mapping[str, str]
    token: str | None = None  # an admin bearer token (BKN/BKPSDM: the demo plays the admin)

    def __getitem__(self, service: str) -> str:
        return self.urls[service].rstrip("/")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @classmethod
    def from_stack(cls, stack) -> "Platform":
        authorization = stack.auth_headers("admin", ttl_s=TOKEN_TTL_S)["Authorization"]
        return cls({s: stack.url(s) for s in SERVICES}, authorization.removeprefix("Bearer "))

    @classmethod
    def local(cls, overrides: Mapping[str, str] | None = None, token: str | None = None) -> "Platform":
        """``<SERVICE>_HTTP_ADDRESS`` or the default port of each service, unless overridden;
        ``token`` or one signed with the key the local services verify with."""
        urls = {}
        for s in SERVICES:
            address = env("HTTP_ADDRESS", f"127.0.0.1:{DEFAULT_PORTS[s]}", s)
            urls[s] = f"http://{address}"
        urls.update(overrides or {})
        return cls(urls, token or local_admin_token())


def local_admin_token() -> str:
    """An admin token signed with the key of this environment (AUTH_SECRET(_FILE), ...) or else
    with the development secret `make run` keeps in .data/."""
    from deploy.launcher import DEV_AUTH_SECRET
    from shared import auth

    try:
        config = auth.load_config(require_signing=True)
    except auth.AuthConfigError:
        if not DEV_AUTH_SECRET.exists():
            raise DemoError("no key to sign an admin token with: give --token (`python -m deploy.asn token issue "
                            "--role admin`), or set AUTH_SECRET_FILE to the services' secret (`make run` keeps "
                            f"it in {DEV_AUTH_SECRET})") from None
        config = auth.load_config(require_signing=True, environ={"AUTH_SECRET_FILE": str(DEV_AUTH_SECRET)})
    return auth.issue_token(config, role="admin", subject="demo", ttl_s=TOKEN_TTL_S)


class Api:
    """A thin JSON-over-HTTP client that fails loudly with the service's own explanation."""

    def __init__(self, platform: Platform):
        self.platform = platform
        self.http = requests.Session()
        self.http.headers.update(platform.headers)

    def call(self, method: str, service: str, path: str, expect=(200, 201), timeout: float = HTTP_TIMEOUT_S,
             **kwargs) -> requests.Response:
        url = self.platform[service] + path
        try:
            response = self.http.request(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            raise DemoError(f"{method} {url} failed: {exc}") from None
        if response.status_code not in expect:
            raise DemoError(f"{method} {url} answered {response.status_code}: {response.text[:500]}")
        return response

    def get(self, service: str, path: str, **kwargs) -> dict:
        return self.call("GET", service, path, **kwargs).json()

    def post(self, service: str, path: str, **kwargs) -> dict:
        return self.call("POST", service, path, **kwargs).json()

    def csv(self, service: str, path: str, body: str) -> requests.Response:
        return self.call("POST", service, path, data=body.encode("utf-8"),
                         headers={"Content-Type": "text/csv; charset=utf-8"})

    def ndjson(self, service: str, path: str, body: str) -> tuple[list[dict], dict]:
        """A bulk upload answered line by line: (row results, summary)."""
        lines = [json.loads(line) for line in self.csv(service, path, body).text.splitlines() if line.strip()]
        summary = lines[-1].get("summary", {}) if lines else {}
        return [line for line in lines if "summary" not in line], summary

    def enrolments(self, programme: str) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"programme": programme, "limit": PAGE, **({"cursor": cursor} if cursor else {})}
            page = self.get("enrollment", "/enrolments", params=params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def certificates(self, programme: str) -> list[dict]:
        items, number = [], 1
        while True:
            page = self.get("certification", "/certificates",
                            params={"programme": programme, "page": number, "per_page": 100})
            items += page["items"]
            if len(items) >= page["total"] or not page["items"]:
                return items
            number += 1


class Progress:
    """One line per step with its outcome and time. A wait rewrites its line on a terminal;
    into a file or pipe it writes a line now and then, when there is news."""

    QUIET_S = 10.0

    def __init__(self, out: TextIO):
        self.out = out
        self.started = time.monotonic()
        self.tty = hasattr(out, "isatty") and out.isatty()
        self._last_news: tuple[float, str] = (0.0, "")

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:5.1f}s"

    def step(self, text: str) -> None:
        print(f"[{self.elapsed()}] {text}", file=self.out, flush=True)

    def detail(self, text: str) -> None:
        print(f"          {text}", file=self.out, flush=True)

    def waiting(self, text: str) -> None:
        if self.tty:
            print(f"\r[{self.elapsed()}] {text}\033[K", end="", file=self.out, flush=True)
            return
        at, said = self._last_news
        if text != said and time.monotonic() - at >= self.QUIET_S:
            self._last_news = (time.monotonic(), text)
            self.step(text)

    def done_waiting(self, text: str) -> None:
        if self.tty:
            print("\r\033[K", end="", file=self.out)
        self.step(text)


def wait(progress: Progress, what: str, check: Callable[[], tuple[bool, str]], deadline: float,
         interval: float = 0.5) -> str:
    """Poll ``check`` (→ done, how far) until done or the deadline; raise saying how far it got."""
    while True:
        done, status = check()
        if done:
            progress.done_waiting(f"{what}: {status}")
            return status
        if time.monotonic() > deadline:
            raise DemoError(f"gave up waiting for {what}; got only {status}")
        progress.waiting(f"waiting for {what}: {status}")
        time.sleep(interval)


# --- the scenario ------------------------------------------------------------------------------

@dataclass
class Result:
    """What the demo produced, with links to look at."""

    urls: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    showcase_nip: str | None = None
    certificate: dict | None = None
    revoked: dict | None = None
    checkpoint: dict | None = None
    seconds: float = 0.0


class Demo:
    """The scenario, step by step, against one platform; ``play()`` runs it all."""

    def __init__(self, platform: Platform, plan: Plan, *, channels: tuple[str, ...] = ("inbox",),
                 checkpoint: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S, out: TextIO = sys.stdout):
        self.platform, self.plan, self.channels = platform, plan, channels
        quarter = (plan.today.month - 1) // 3 + 1
        self.checkpoint = checkpoint or f"{plan.year}-Q{quarter}"
        self.timeout_s = timeout_s
        self.api = Api(platform)
        self.progress = Progress(out)
        self.out = out
        self.result = Result()
        # per programme: the enrolments as enrollment reports them at the end
        self.final: dict[str, list[dict]] = {}
        self.target = 20  # the yearly JP target; reporting's own figure replaces it once read

    def play(self) -> Result:
        deadline = time.monotonic() + self.timeout_s
        self.wait_until_ready(deadline)
        self.import_roster()
        self.register_recipients()
        self.create_programmes()
        self.enrol()
        self.cancel_some_seats()
        self.end_programmes()
        self.complete()
        self.wait_for_certificates(deadline)
        self.revoke_one()
        self.wait_for_reporting(deadline)
        self.run_shortfall_checkpoint(deadline)
        self.result.seconds = time.monotonic() - self.progress.started
        self.summarise()
        return self.result

    # -- steps ---------------------------------------------------------------------------------
    def wait_until_ready(self, deadline: float) -> None:
        def ready() -> tuple[bool, str]:
            up = []
            for s in SERVICES:
                try:
                    if requests.get(self.platform[s] + "/health/ready", timeout=5).status_code == 200:
                        up.append(s)
                except requests.RequestException:
                    pass
            return len(up) == len(SERVICES), f"{len(up)}/{len(SERVICES)} services ready"
        self.progress.step(f"demo of {len(self.plan.people)} ASN (seed {self.plan.seed}) against "
                           + ", ".join(f"{s} {self.platform[s]}" for s in SERVICES))
        wait(self.progress, "the platform", ready, min(deadline, time.monotonic() + 60))

    def import_roster(self) -> None:
        rows, summary = self.api.ndjson("enrollment", "/roster/import", roster_csv(self.plan.people))
        refused = [r for r in rows if not r.get("accepted")]
        if refused or summary.get("error"):
            raise DemoError(f"enrollment refused {len(refused)} roster rows: {refused[:3]} {summary.get('error', '')}")
        supervisors = {a.supervisor_nip for a in self.plan.people if a.supervisor_nip}
        outcomes = ", ".join(f"{summary[k]} {k}" for k in ("created", "updated", "unchanged") if summary.get(k))
        self.progress.step(f"imported the roster: {len(rows)} ASN of {len({a.agency for a in self.plan.people})} "
                           f"OPD, {len(supervisors)} of them supervisors ({outcomes})")
        self.result.counts["roster"] = len(rows)

    def register_recipients(self) -> None:
        answer = self.api.csv("notification", "/recipients/bulk",
                              recipients_csv(self.plan.people, self.channels)).json()
        if answer["invalid"]:
            raise DemoError(f"notification refused {answer['invalid']} recipients: "
                            f"{[r for r in answer['rows'] if r['status'] == 'invalid'][:3]}")
        self.progress.step(f"registered {answer['total']} ASN in notification (channels: "
                           f"{', '.join(self.channels)}): {answer['created']} new, {answer['updated']} updated, "
                           f"{answer['unchanged']} unchanged")
        self.result.counts["recipients"] = answer["total"]

    def create_programmes(self) -> None:
        created = existing = 0
        conflicting = []
        for p in self.plan.programmes:
            body = programme_body(p.spec, self.plan.today, p.capacity)
            response = self.api.call("POST", "enrollment", "/programmes", json=body, expect=(200, 201, 409))
            if response.status_code == 409:  # ended by a demo today, or a demo of an earlier day: carry on
                existing += 1
                stored = self.api.get("enrollment", f"/programmes/{p.spec.code}")
                if _moment(stored["starts_at"]) != _moment(body["starts_at"]):
                    conflicting.append(p.spec.code)
            elif response.status_code == 201:
                created += 1
            else:
                existing += 1
            programme = self.api.post("enrollment", f"/programmes/{p.spec.code}/publish")
            self.progress.detail(f"{p.spec.code:<14} {p.spec.kind:<11} {programme['jp']:>3} JP  "
                                 f"{programme['capacity']:>4} seats  {p.spec.title}")
        self.progress.step(f"published {len(self.plan.programmes)} programmes ({created} new, {existing} "
                           f"already there)")
        if conflicting:
            self.progress.detail(f"{', '.join(conflicting)} exist from a demo of another day (other dates); if "
                                 f"their enrolment has closed, play on fresh data (`make clean-data`, or another "
                                 f"--db-prefix for the launcher)")
        self.result.counts["programmes"] = len(self.plan.programmes)

    def enrol(self) -> None:
        totals: dict[str, int] = {}
        closed = []
        for p in self.plan.programmes:
            if not self.api.get("enrollment", f"/programmes/{p.spec.code}")["enrolment_open"]:
                closed.append(p.spec.code)  # it took place in a run of today: its applications stand
                continue
            # Who withdrew stays withdrawn: uploading them again would re-apply them (a new run of the
            # demo must change nothing).
            withdrawn = {e["nip"] for e in self.api.enrolments(p.spec.code) if e["status"] == "cancelled"}
            rows, _ = self.api.ndjson("enrollment", f"/programmes/{p.spec.code}/enrolments/bulk",
                                            enrolment_csv(a for a in p.applicants if a.nip not in withdrawn))
            refused = [r for r in rows if not r.get("accepted")]
            if refused:
                raise DemoError(f"enrollment refused {len(refused)} of the {p.spec.code} rows: {refused[:3]}")
            for r in rows:
                totals[r["enrolment_status"]] = totals.get(r["enrolment_status"], 0) + 1
            waitlisted = sum(r["enrolment_status"] == "waitlisted" for r in rows)
            if p.spec.oversubscribed:
                self.progress.detail(f"{p.spec.code}: {len(rows)} applications for {p.capacity} seats, "
                                     f"{waitlisted} on the waitlist")
        self.progress.step(f"enrolled by bulk CSV: {sum(totals.values())} applications ("
                           + ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) + ")"
                           + (f"; enrolment already closed in {', '.join(closed)}" if closed else ""))
        self.result.counts["applications"] = sum(totals.values())

    def cancel_some_seats(self) -> None:
        for p in self.plan.programmes:
            if not p.cancellations:
                continue
            enrolments = self.api.enrolments(p.spec.code)
            enrolled = [e for e in enrolments if e["status"] == "enrolled" and not e["promoted_from_waitlist"]]
            already = [e for e in enrolments if e["status"] == "cancelled"]
            rng = random.Random(f"{self.plan.seed}:cancel:{p.spec.code}")
            withdrawing = sorted(enrolled, key=lambda e: e["nip"])
            rng.shuffle(withdrawing)
            for e in withdrawing[:max(0, p.cancellations - len(already))]:
                # The demo plays BKPSDM: it cancels on the participant's request, and the platform
                # records who really did it (the token's role), not what the body claims.
                self.api.post("enrollment", f"/enrolments/{e['id']}/cancel",
                              json={"reason": rng.choice(CANCEL_REASONS)})
            by_hand = self.promote_by_hand(p.spec.code)
            after = self.api.enrolments(p.spec.code)
            promoted = sum(e["promoted_from_waitlist"] for e in after)
            waiting = sum(e["status"] == "waitlisted" for e in after)
            how = f" ({by_hand} by hand: it has started)" if by_hand else ""
            self.progress.step(f"{p.spec.code}: {p.cancellations} seats cancelled at participants' request; {promoted} moved up "
                               f"from the waitlist{how}, {waiting} still waiting")
            self.result.counts["promoted"] = promoted
            self.result.counts["waitlisted"] = waiting
            self.result.urls["waitlist"] = (f"{self.platform['enrollment']}/enrolments?programme={p.spec.code}"
                                            f"&status=waitlisted")

    def promote_by_hand(self, code: str) -> int:
        """Give each free seat of a programme whose waitlist no longer moves by itself (a scheduled
        one that has started) to the first on the waitlist, as an operator does; how many moved up."""
        programme = self.api.get("enrollment", f"/programmes/{code}")
        ended = _moment(programme["ends_at"]) <= datetime.now(timezone.utc)
        free = programme["capacity"] - programme["seats_taken"]
        if programme["promotes_waitlist"] or ended or free <= 0:
            return 0
        waiting = sorted((e for e in self.api.enrolments(code) if e["status"] == "waitlisted"),
                         key=lambda e: e["waitlist_position"])
        for e in waiting[:free]:
            self.api.post("enrollment", f"/enrolments/{e['id']}/promote")
        return len(waiting[:free])

    def end_programmes(self) -> None:
        """The scheduled programmes under way take place: the demo compresses the season, so it
        moves each one's end to now (as an operator records a programme that ended earlier than
        planned) before their results are recorded; one already ended is left as it is."""
        now = datetime.now(timezone.utc)
        ended = []
        for p in self.plan.programmes:
            if not (p.spec.completed_in_demo and p.spec.scheduled):
                continue
            programme = self.api.get("enrollment", f"/programmes/{p.spec.code}")
            if _moment(programme["ends_at"]) <= now:
                continue
            self.api.call("PATCH", "enrollment", f"/programmes/{p.spec.code}",
                          json={"enrolment_closes_at": _iso(now - timedelta(minutes=2)),
                                "ends_at": _iso(now - timedelta(minutes=1))})
            ended.append(p.spec.code)
        self.progress.step(f"{len(ended)} scheduled programmes under way took place, their end moved to now: "
                           f"{', '.join(ended)}" if ended else "the scheduled programmes of the demo had already ended")

    def complete(self) -> None:
        by_nip = {a.nip: a for a in self.plan.people}
        totals: dict[str, int] = {}
        for p in self.plan.programmes:
            if not p.spec.completed_in_demo:
                self.final[p.spec.code] = self.api.enrolments(p.spec.code)
                continue
            enrolled = [by_nip[e["nip"]] for e in self.api.enrolments(p.spec.code) if e["status"] == "enrolled"]
            if enrolled:
                rows, _ = self.api.ndjson("enrollment", f"/programmes/{p.spec.code}/completions/bulk",
                                          completion_csv(self.plan, p.spec, enrolled))
                refused = [r for r in rows if not r.get("accepted")]
                if refused:
                    raise DemoError(f"enrollment refused {len(refused)} completions of {p.spec.code}: {refused[:3]}")
            self.final[p.spec.code] = self.api.enrolments(p.spec.code)
            for e in self.final[p.spec.code]:
                if e["status"] == "completed":
                    totals[e["result"]] = totals.get(e["result"], 0) + 1
        self.progress.step("completions by bulk CSV: " + ", ".join(f"{n} {r}" for r, n in sorted(totals.items())))
        self.result.counts.update({f"completed_{r}": n for r, n in totals.items()})

    def _certificate_programmes(self) -> dict[str, int]:
        """Programme code → certificates expected (one per pass, where the programme grants one)."""
        expected = {}
        for p in self.plan.programmes:
            grants = p.spec.grants_certificate if p.spec.grants_certificate is not None \
                else p.spec.kind == "sertifikasi"
            if grants and p.spec.completed_in_demo:
                expected[p.spec.code] = sum(e["status"] == "completed" and bool(e["passed"])
                                            for e in self.final[p.spec.code])
        return expected

    def wait_for_certificates(self, deadline: float) -> None:
        expected = self._certificate_programmes()
        want = sum(expected.values())

        def issued() -> tuple[bool, str]:
            got = sum(self.api.get("certification", "/certificates",
                                   params={"programme": code, "per_page": 1})["total"] for code in expected)
            return got >= want, f"{got}/{want} certificates issued"
        wait(self.progress, "certification", issued, deadline)
        self.result.counts["certificates"] = want

    def revoke_one(self) -> None:
        """Revoke one certificate, preferably a certification's (where it matters most)."""
        codes = sorted(self._certificate_programmes(),
                       key=lambda code: not self.plan.programme(code).spec.oversubscribed)
        certificates = next((c for c in (self.api.certificates(code) for code in codes) if c), [])
        if not certificates:
            raise DemoError("nobody passed a programme that grants a certificate, so there is none to revoke")
        chosen = random.Random(f"{self.plan.seed}:revoke").choice(sorted(certificates, key=lambda c: c["number"]))
        revoked = self.api.post("certification", f"/certificates/{chosen['id']}/revoke",
                                json={"reason": REVOCATION_REASON})
        self.result.revoked = revoked
        self.progress.step(f"revoked certificate {revoked['number']} of {revoked['holder']['name']} "
                           f"({revoked['status']})")

    def wait_for_reporting(self, deadline: float) -> None:
        """Until reporting's figures for every programme equal enrollment's, and the revocation
        shows in the holder's ledger."""
        expected = {}
        for code, enrolments in self.final.items():
            counts = {"enrolled": 0, "waitlisted": 0, "cancelled": 0, "completed": 0, "passed": 0, "failed": 0,
                      "no_shows": 0}
            for e in enrolments:
                if e["status"] in counts:
                    counts[e["status"]] += 1
                if e["status"] == "completed":
                    counts[{"passed": "passed", "failed": "failed", "no_show": "no_shows"}[e["result"]]] += 1
            expected[code] = counts
        pending = set(expected)

        def caught_up() -> tuple[bool, str]:
            for code in sorted(pending):
                response = self.api.call("GET", "reporting", f"/programmes/{code}/stats", expect=(200, 404))
                if response.status_code == 200:
                    stats = response.json()
                    if all(stats[k] == v for k, v in expected[code].items()):
                        pending.discard(code)
            return not pending, f"{len(expected) - len(pending)}/{len(expected)} programmes up to date"
        wait(self.progress, "reporting", caught_up, deadline)

        rostered = len(self.plan.people)

        def roster_counted() -> tuple[bool, str]:
            totals = self.api.get("reporting", "/compliance", params={"year": self.plan.year})["totals"]
            self.result.counts["never_enrolled"] = totals.get("never_enrolled", 0)
            return (totals.get("rostered_asn") == rostered,
                    f"{totals.get('rostered_asn')}/{rostered} rostered ASN counted")
        wait(self.progress, "the roster in the figures", roster_counted, deadline)
        enrolling = len({a.nip for p in self.plan.programmes for a in p.applicants})
        self.progress.step(f"reporting counts {rostered} ASN on the roster: {self.result.counts['never_enrolled']} "
                           f"never enrolled (the plan had {rostered - enrolling} never applying)")

        revoked = self.result.revoked
        if revoked:
            def revocation_in_ledger() -> tuple[bool, str]:
                ledger = self.api.get("reporting", f"/ledger/{revoked['holder']['nip']}")
                self.target = ledger["target_jp"]
                statuses = [e.get("certificate_status") for y in ledger["years"] for e in y["entries"]
                            if e["enrolment_id"] == revoked["enrolment_id"]]
                return statuses == ["revoked"], f"ledger shows {statuses or 'no entry'}"
            wait(self.progress, "the revocation in the ledger", revocation_in_ledger, deadline)

    def run_shortfall_checkpoint(self, deadline: float) -> None:
        # A job: 202 at once (200 when it was done before), then its progress until done.
        path = f"/admin/shortfall/{self.checkpoint}"
        started = self.api.call("POST", "reporting", f"{path}/run", expect=(200, 202))
        already = started.status_code == 200

        def finished() -> tuple[bool, str]:
            job = self.api.get("reporting", path)
            self.result.checkpoint = job
            return job.get("status") == "done", (f"{job.get('checked', 0)}/{job.get('total', '?')} ASN checked, "
                                                 f"{job.get('nudged', 0)} nudged")
        wait(self.progress, f"checkpoint {self.checkpoint}", finished, deadline)
        run = self.result.checkpoint
        state = "was already done" if already else "ran"
        self.progress.step(f"shortfall checkpoint {self.checkpoint} {state}: {run.get('checked')} ASN checked, "
                           f"{run.get('nudged')} below their target get a nudge, "
                           f"{run.get('supervisor_summaries', 0)} listed to their supervisor, "
                           f"{run.get('escalated', 0)} to their OPD")
        showcase = self.choose_showcase()
        self.result.showcase_nip = showcase["nip"]
        if showcase["short"]:
            def nudged() -> tuple[bool, str]:
                inbox = self.api.get("notification", f"/inbox/{showcase['nip']}", params={"limit": 50})
                kinds = [m["kind"] for m in inbox["items"]]
                return "nudge" in kinds, f"inbox of {showcase['nip']} holds {', '.join(kinds) or 'nothing'}"
            wait(self.progress, "the nudge in an inbox", nudged, deadline)

    def choose_showcase(self) -> dict:
        """A valid certificate to show, and an ASN whose inbox and ledger tell the story: the
        certificate's holder when they are still short of the target (enrolled, passed,
        certified, nudged), else the ASN closest to the target without reaching it."""
        jp: dict[str, int] = {}
        for enrolments in self.final.values():
            for e in enrolments:
                jp[e["nip"]] = jp.get(e["nip"], 0) + (e.get("jp_earned") or 0)
        revoked = (self.result.revoked or {}).get("id")
        candidates = []
        for code in self._certificate_programmes():
            for c in self.api.certificates(code):
                if c["id"] != revoked and c["status"] == "valid":
                    candidates.append((jp.get(c["holder"]["nip"], 0) >= self.target, c["number"], c))
        if not candidates:
            raise DemoError("no valid certificate to show")
        holder_met, _, self.result.certificate = min(candidates, key=lambda t: (t[0], t[1]))
        holder = self.result.certificate["holder"]["nip"]
        flagged = bool(self.result.checkpoint and self.result.checkpoint.get("nudged"))
        if not holder_met:
            return {"nip": holder, "short": flagged}
        short = sorted((-points, nip) for nip, points in jp.items() if 0 < points < self.target)
        return {"nip": short[0][1], "short": flagged} if short else {"nip": holder, "short": False}

    def summarise(self) -> None:
        r, p = self.result, self.platform
        nip = r.showcase_nip
        r.urls.update({
            "dashboard": f"{p['reporting']}/dashboard",
            "compliance": f"{p['reporting']}/compliance?year={self.plan.year}",
            "never_enrolled": f"{p['reporting']}/exports/never-enrolled.csv?year={self.plan.year}",
            "verification": r.certificate["verification_url"],
            "pdf": r.certificate["pdf_url"],
            "revoked_verification": r.revoked["verification_url"] if r.revoked else "",
            "inbox": f"{p['notification']}/inbox/{nip}",
            "ledger": f"{p['reporting']}/ledger/{nip}?year={self.plan.year}",
        })
        c, holder = r.certificate, r.certificate["holder"]
        revoked = f"{r.revoked['number']}  {r.urls['revoked_verification']}" if r.revoked else "-"
        rows = [
            ("dashboard", r.urls["dashboard"]),
            ("compliance", r.urls["compliance"]),
            ("never enrolled", f"{r.urls['never_enrolled']}  ({r.counts.get('never_enrolled', 0)} ASN)"),
            ("waitlist", r.urls.get("waitlist", "-")),
            ("certificate", f"{c['number']}  {holder['name']} ({holder['agency']})"),
            ("verification", r.urls["verification"]),
            ("PDF", r.urls["pdf"]),
            ("revoked", revoked),
            ("ASN", nip if nip != holder["nip"] else f"{nip}  {holder['name']}"),
            ("inbox", r.urls["inbox"]),
            ("ledger", r.urls["ledger"]),
        ]
        width = max(len(k) for k, _ in rows)
        print(f"\nThe demo is ready ({r.seconds:.0f}s). Where to look:", file=self.out)
        for key, value in rows:
            print(f"  {key.ljust(width)}  {value}", file=self.out)
        if p.token:
            print("\n  All but the verification pages need a token; this admin one is valid for 8 hours:\n"
                  f"  TOKEN={p.token}\n"
                  '  curl -H "Authorization: Bearer $TOKEN" URL     (a browser: cookie asn_token=$TOKEN)',
                  file=self.out)
        if "email" in self.channels:
            print("  (emails go to the SMTP server notification is configured with; outside quiet hours "
                  "at once, otherwise when they end)", file=self.out)
        print(file=self.out, flush=True)


# --- entry points ------------------------------------------------------------------------------

def channels_for(service_env: Mapping[str, str]) -> tuple[str, ...]:
    """Email when notification has an SMTP server to send to, a webhook when it has a URL;
    the inbox always."""
    def configured(name: str) -> bool:
        return bool(service_env.get(f"NOTIFICATION_{name}") or service_env.get(name))
    channels = []
    if configured("SMTP_HOST"):
        channels.append("email")
    if configured("WEBHOOK_URL"):
        channels.append("webhook")
    return (*channels, "inbox")


def portal_users(plan: Plan, showcase_nip: str | None) -> list[tuple[str, str]]:
    """Whom to sign in as on the portal's development sign-in: the showcase ASN, their
    supervisor, an operator of their OPD and admin, as (who, what to pick on /masuk)."""
    people = {p.nip: p for p in plan.people}
    # the showcase ASN (the demo's story) when they have a supervisor on the roster, else the first who has
    asn = people.get(showcase_nip or "")
    if asn is None or asn.supervisor_nip not in people:
        asn = next(p for p in plan.people if p.supervisor_nip in people)
    boss = people[asn.supervisor_nip]
    return [("ASN", f"{asn.name} (NIP {asn.nip}, {asn.agency})"),
            ("supervisor", f"{boss.name} (NIP {boss.nip}, atasan of {asn.name})"),
            ("operator", f"Operator {asn.agency}"),
            ("admin", "Admin BKPSDM")]


def print_portal(url: str, plan: Plan, result: Result, out: TextIO = sys.stdout) -> None:
    """The demo's last lines: where the portal is and whom to sign in as."""
    users = portal_users(plan, result.showcase_nip)
    width = max(len(who) for who, _ in users)
    print(f"The portal: {url}  (open it in a browser; development sign-in at {url}/masuk)", file=out)
    print("  Sign in as:", file=out)
    for who, what in users:
        print(f"    {who.ljust(width)}  {what}", file=out)
    print(file=out, flush=True)


def run(stack, *, asn: int = DEFAULT_ASN, seed: int = DEFAULT_SEED, checkpoint: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S, out: TextIO = sys.stdout) -> Result:
    """Play the demo against a started ``deploy.launcher.Stack`` (what ``--demo`` calls); it
    ends with the portal's address and whom to sign in as, when the stack runs the portal."""
    plan = build_plan(asn, seed)
    demo = Demo(Platform.from_stack(stack), plan, channels=channels_for(stack.env_for("notification")),
                checkpoint=checkpoint, timeout_s=timeout_s, out=out)
    try:
        result = demo.play()
    except DemoError as exc:
        print(f"\ndemo stopped: {exc}", file=out, flush=True)
        raise
    if "portal" in getattr(stack, "services", ()):
        print_portal(stack.url("portal"), plan, result, out)
    return result


def _base_urls(text: str) -> dict[str, str]:
    urls = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        service, sep, url = part.partition("=")
        if not sep or service not in DEPLOYABLES or not url.startswith(("http://", "https://")):
            raise argparse.ArgumentTypeError(f"{part!r} is not SERVICE=http://HOST:PORT with SERVICE one of "
                                             f"{', '.join(DEPLOYABLES)}")
        urls[service] = url
    return urls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.demo", description=(
        "Play the Bukittinggi demo scenario through the HTTP APIs of a running platform."))
    parser.add_argument("--base-urls", type=_base_urls, default={},
                        help="SERVICE=URL pairs, comma-separated (default: <SERVICE>_HTTP_ADDRESS or ports 8001-8004)")
    parser.add_argument("--asn", type=int, default=DEFAULT_ASN, help=f"how many ASN (default {DEFAULT_ASN})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the random seed (default %(default)s)")
    parser.add_argument("--checkpoint", help="the shortfall checkpoint to run (default: this quarter's, e.g. 2026-Q4)")
    parser.add_argument("--channels", help="channels to register for the ASN, e.g. email,inbox (default: email if "
                        "SMTP_HOST is set here, webhook if WEBHOOK_URL is, and the inbox)")
    parser.add_argument("--token", default=os.environ.get("ASN_TOKEN"),
                        help="an admin bearer token (default: $ASN_TOKEN, or one signed with the local key)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="give up when the platform has not caught up after this many seconds")
    args = parser.parse_args(argv)
    channels = tuple(c.strip() for c in args.channels.split(",")) if args.channels else channels_for(os.environ)
    plan = build_plan(args.asn, args.seed)
    try:
        services = {s: url for s, url in args.base_urls.items() if s in SERVICES}  # the portal only prints
        result = Demo(Platform.local(services, args.token), plan, channels=channels,
                      checkpoint=args.checkpoint, timeout_s=args.timeout).play()
        address = env("HTTP_ADDRESS", f"127.0.0.1:{DEFAULT_PORTS['portal']}", "portal").replace("0.0.0.0", "127.0.0.1")
        portal = args.base_urls.get("portal") or env("PUBLIC_URL", f"http://{address}", "portal")
        print_portal(portal, plan, result)
    except DemoError as exc:
        print(f"\ndemo stopped: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
