"""The operator console's programme form: every refusal enrollment can give a programme is shown
beside its field in Bahasa Indonesia (a table keyed by field + rule, read from the API's own
schemas and rules here, so a new or reworded rule fails this test rather than reaching people
in English), the form's values to the API body and back, and the programme page's helpers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.enrollment import domain as enrollment
from services.enrollment.schemas import ProgrammeCancelSchema, ProgrammeCreateSchema, ProgrammeUpdateSchema
from services.portal import domain
from shared.errors import DomainError

NOW = datetime(2027, 6, 1, 3, 0, tzinfo=timezone.utc)
GOOD = {"code": "PKP-1", "title": "Pelatihan Kepemimpinan", "kind": "pelatihan", "competency_type": "manajerial",
        "jp": 24, "organisers": ["PEMKOT_BUKITTINGGI"], "starts_at": "2027-06-07T01:00:00Z",
        "ends_at": "2027-06-09T09:00:00Z", "enrolment_opens_at": "2027-05-01T00:00:00Z",
        "enrolment_closes_at": "2027-06-05T00:00:00Z", "capacity": 30}

# Bad values for every field, each breaking one rule of enrollment's schema
BROKEN = [
    {"code": "!!"}, {"code": None}, {"title": "ab"}, {"title": "=SUM(A1)"}, {"title": "Judul\u0007"}, {"title": None},
    {"description": "x" * 5001}, {"kind": "kuliah"}, {"kind": None}, {"competency_type": "lain"},
    {"jp": -1}, {"jp": "x"}, {"duration_minutes": 0}, {"duration_minutes": "lama"}, {"duration_days": 0},
    {"duration_days": "dua"}, {"organisers": []}, {"organisers": ["ORANG"]}, {"organisers": ["BKN", "BKN", "BKN"]},
    {"speakers": ["", "+62 narasumber"]}, {"speakers": ["Dr. A\tB"]}, {"starts_at": "2027-06-07T08:00"},
    {"starts_at": "besok"}, {"ends_at": None}, {"location": "@lokasi"}, {"location": "x" * 301},
    {"enrolment_opens_at": "kemarin"}, {"enrolment_closes_at": None}, {"capacity": 0}, {"capacity": "banyak"},
    {"passing_score": 101}, {"passing_score": "tinggi"}, {"grants_certificate": "mungkin"},
    {"certificate_validity_months": 0}, {"certificate_validity_months": "x"}, {"certification_line": ""},
    {"certification_line": "-jalur"}, {"requires_supervisor_approval": "mungkin"},
]


def _api_errors(body: dict, schema=ProgrammeCreateSchema) -> dict:
    try:
        schema().load(body)
    except ValidationError as exc:
        return {"error": "validation_failed", "errors": exc.messages}
    raise AssertionError(f"enrollment accepted {body}")


@pytest.mark.parametrize("change", BROKEN, ids=lambda c: next(iter(c)) + "=" + repr(next(iter(c.values())))[:20])
def test_every_schema_refusal_has_its_indonesian_words_beside_the_field(change):
    body = {**GOOD, **change}
    if change.get("code", "") is None or any(v is None for v in change.values()):
        body = {k: v for k, v in body.items() if k not in [k for k, v in change.items() if v is None]}
    answer = _api_errors(body)
    for api_field, messages in answer["errors"].items():
        for _, message in domain._flatten_messages(messages):
            assert (api_field, domain.programme_rule(message)) in domain.PROGRAMME_RULE_TEXTS, (api_field, message)
    errors = domain.programme_errors(answer)
    field = domain.PROGRAMME_FORM[next(iter(change))]
    assert field in errors and "isian ditolak oleh layanan" not in errors[field]


def _domain_refusal(call) -> dict:
    try:
        call()
    except DomainError as exc:
        return exc.to_dict()
    raise AssertionError("enrollment's rule let it through")


def _programme(**changes) -> dict:
    loaded = ProgrammeCreateSchema().load({**GOOD, **changes})
    loaded.pop("code")
    return {**enrollment.DEFINITION_DEFAULTS, **loaded}


RULES = enrollment.JpRules(minutes_per_jp=45, jp_per_day={"default": 8.0, "seminar": 4.0})


@pytest.mark.parametrize("refusal, form_field, words", [
    (lambda: enrollment.check_programme(_programme(duration_minutes=90, duration_days=1, jp=None)),
     "durasi_hari", "tidak keduanya"),
    (lambda: enrollment.check_programme(_programme(ends_at="2027-06-07T00:00:00Z")), "selesai", "setelah waktu mulai"),
    (lambda: enrollment.check_programme(_programme(enrolment_closes_at="2027-04-01T00:00:00Z")), "daftar_tutup",
     "setelah dibuka"),
    (lambda: enrollment.check_programme(_programme(enrolment_closes_at="2027-06-10T00:00:00Z")), "daftar_tutup",
     "paling lambat saat program selesai"),
    (lambda: enrollment.check_programme(_programme(organisers=["BKN", "BKN"])), "penyelenggara", "dua kali"),
    (lambda: enrollment.check_programme(_programme(speakers=["Dr. Andi"])), "narasumber",
     "hanya untuk seminar dan lokakarya"),
    (lambda: enrollment.check_programme({**_programme(certificate_validity_months=12), "grants_certificate": False}),
     "masa_berlaku", "hanya untuk program yang menerbitkan"),
    (lambda: enrollment.check_programme({**_programme(certification_line="PBJ"), "grants_certificate": False}),
     "jalur_sertifikasi", "hanya untuk program yang menerbitkan"),
    (lambda: enrollment.check_publishable(_programme(kind="seminar")), "narasumber", "sebelum diterbitkan"),
    (lambda: enrollment.check_publishable(_programme(kind="sertifikasi")), "nilai_lulus", "sebelum diterbitkan"),
    (lambda: enrollment.check_can_publish({**_programme(), "_id": "X", "status": "draft"},
                                          NOW + timedelta(days=30)), "daftar_tutup", "sudah lewat"),
    (lambda: enrollment.revision({**_programme(capacity=30), "_id": "X", "status": "published", "seats_taken": 12,
                                  "jp_source": "given"}, {"capacity": 5}, RULES), "kapasitas",
     "di bawah jumlah kursi"),
    (lambda: enrollment.revision({**_programme(), "_id": "X", "status": "cancelled", "seats_taken": 0},
                                 {"capacity": 5}, RULES), "_form", "sudah dibatalkan"),
    (lambda: RULES.derive("pelatihan"), "jp", "durasi"),
])
def test_every_rule_across_fields_is_translated_onto_its_field(refusal, form_field, words):
    answer = _domain_refusal(refusal)
    assert domain.programme_rule(answer["message"]) is not None, answer
    errors = domain.programme_errors(answer)
    assert words in errors[form_field], errors


def test_a_taken_code_and_a_cancellation_reason_are_translated():
    taken = {"error": "conflict", "message": "programme code PKP-1 is already used by another programme",
             "field": "code"}
    assert domain.programme_errors(taken) == {"kode": "Kode ini sudah dipakai program lain; pilih kode lain."}
    for reason in ("ab", "=HYPERLINK()"):
        errors = domain.programme_errors(_api_errors({"reason": reason}, ProgrammeCancelSchema))
        assert errors["alasan"] in (domain.PROGRAMME_RULE_TEXTS[("reason", "length")],
                                    domain.PROGRAMME_RULE_TEXTS[("reason", "formula")])


def test_an_unknown_rule_still_names_the_field_and_keeps_the_services_words():
    errors = domain.programme_errors({"errors": {"capacity": ["Something new went wrong."],
                                                 "mystery": ["odd"]}})
    assert errors["kapasitas"] == "Kapasitas (kursi): isian ditolak oleh layanan (Something new went wrong.)."
    assert errors["_form"].startswith("mystery: isian ditolak")


def test_a_speaker_of_many_is_named_by_its_place():
    errors = domain.programme_errors(_api_errors({**GOOD, "speakers": ["Dr. Andi", "=cmd"]}))
    assert errors["narasumber"].startswith("Narasumber ke-2: Tidak boleh diawali")


def test_an_update_refusal_of_no_field_lands_above_the_form():
    errors = domain.programme_errors(_api_errors({}, ProgrammeUpdateSchema))
    assert list(errors) == ["_form"]


def test_every_field_of_the_form_has_its_rules_shown():
    assert set(domain.PROGRAMME_HINTS) == set(domain.PROGRAMME_FORM)
    assert set(domain.PROGRAMME_LABELS) >= set(domain.PROGRAMME_FORM)
    api_fields = set(ProgrammeCreateSchema().fields)
    assert api_fields <= set(domain.PROGRAMME_FORM), api_fields - set(domain.PROGRAMME_FORM)


class _Form(dict):
    def getlist(self, name):
        value = self.get(name)
        return value if isinstance(value, list) else [value] if value else []


FORM = _Form(kode="pkp-1", judul=" Pelatihan Kepemimpinan ", deskripsi="", jenis="seminar", kompetensi="manajerial",
             jp="", durasi_menit="", durasi_hari="1,5", narasumber="Dr. Andi\n\n  Ir. Budi  \n", mulai="2027-06-07T08:00",
             selesai="2027-06-08T16:00", lokasi="Aula", daftar_buka="2027-05-01T07:00", daftar_tutup="2027-06-05T07:00",
             kapasitas="30", nilai_lulus="", sertifikat="", masa_berlaku="", jalur_sertifikasi="", izin_atasan="ya")


def test_a_new_programme_goes_to_the_api_as_typed_with_wib_times():
    values = domain.read_programme_form(FORM, ["BKN", "PEMKOT_BUKITTINGGI"])
    body = domain.programme_body(values)
    assert body == {"code": "pkp-1", "title": "Pelatihan Kepemimpinan", "kind": "seminar",
                    "competency_type": "manajerial", "duration_days": "1.5", "organisers": ["BKN", "PEMKOT_BUKITTINGGI"],
                    "speakers": ["Dr. Andi", "Ir. Budi"], "starts_at": "2027-06-07T08:00:00+07:00",
                    "ends_at": "2027-06-08T16:00:00+07:00", "location": "Aula",
                    "enrolment_opens_at": "2027-05-01T07:00:00+07:00",
                    "enrolment_closes_at": "2027-06-05T07:00:00+07:00", "capacity": "30",
                    "requires_supervisor_approval": True}
    ProgrammeCreateSchema().load(body)  # enrollment takes it as it is


def test_an_edit_sends_only_what_changed():
    stored = {"code": "PKP-1", "title": "Pelatihan Kepemimpinan", "description": None, "kind": "seminar",
              "competency_type": "manajerial", "jp": 6, "jp_source": "derived", "duration_minutes": None,
              "duration_days": 1.5, "organisers": ["BKN", "PEMKOT_BUKITTINGGI"], "speakers": ["Dr. Andi", "Ir. Budi"],
              "starts_at": "2027-06-07T01:00:00.000Z", "ends_at": "2027-06-08T09:00:00.000Z", "location": "Aula",
              "enrolment_opens_at": "2027-05-01T00:00:00.000Z", "enrolment_closes_at": "2027-06-05T00:00:00.000Z",
              "capacity": 30, "passing_score": None, "grants_certificate": False, "certificate_validity_months": None,
              "certification_line": None, "requires_supervisor_approval": True}
    values = domain.programme_form_values(stored)
    assert domain.programme_body(values, stored) == {}
    changed = {**values, "kapasitas": "40", "narasumber": "Dr. Andi", "izin_atasan": "", "lokasi": ""}
    assert domain.programme_body(changed, stored) == {"capacity": "40", "speakers": ["Dr. Andi"],
                                                      "requires_supervisor_approval": False, "location": None}


def test_the_jp_preview_asks_enrollment_only_when_it_must():
    assert domain.jp_preview_request({"jp": "12"}) == (None, {"jp": 12, "text": "12 JP (diisi langsung, tidak "
                                                                               "dihitung dari durasi)"})
    assert domain.jp_preview_request({"jenis": ""})[1]["jp"] is None
    params, answer = domain.jp_preview_request({"jenis": "seminar", "durasi_hari": "1,5", "mulai": "2027-06-07T08:00"})
    assert answer is None and params == {"kind": "seminar", "duration_days": "1.5",
                                         "starts_at": "2027-06-07T08:00:00+07:00"}
    assert domain.jp_preview_text({"jp": 6, "rule": "1,5 hari × 4 JP per hari (seminar) = 6 JP"})["text"] \
        == "6 JP: 1,5 hari × 4 JP per hari (seminar) = 6 JP"


def test_sessions_participants_and_promotion():
    p = {"status": "published", "starts_at": "2027-06-07T01:00:00Z", "ends_at": "2027-06-08T09:00:00Z",
         "seats_left": 1}
    assert [s["date"] for s in domain.session_days(p)] == ["2027-06-07", "2027-06-08"]
    assert domain.session_days({**p, "sessions": [{"date": "x", "label": "y"}]}) == [{"date": "x", "label": "y"}]
    waiting = {"id": "e2", "status": "waitlisted", "waitlist_position": 2}
    assert domain.can_promote(waiting, p, NOW)
    assert not domain.can_promote(waiting, {**p, "seats_left": 0}, NOW)
    assert not domain.can_promote(waiting, p, datetime(2027, 6, 9, tzinfo=timezone.utc))
    assert not domain.can_promote({**waiting, "status": "enrolled"}, p, NOW)
    seated, queue, cancelled = domain.participant_rows([
        waiting, {"id": "e1", "status": "waitlisted", "waitlist_position": 1},
        {"id": "e3", "status": "enrolled", "participant": {"name": "Budi"}, "attendance_days": {"2027-06-07": True}},
        {"id": "e4", "status": "cancelled"}])
    assert [e["id"] for e in queue] == ["e1", "e2"] and [e["id"] for e in seated] == ["e3"]
    assert [e["id"] for e in cancelled] == ["e4"]
    assert domain.attendance_mark(seated[0], "2027-06-07") == "hadir"
    assert domain.attendance_mark(seated[0], "2027-06-08") == ""


def test_refusals_of_enrolling_and_promoting_read_in_indonesian():
    assert "tidak ada di daftar ASN" in domain.enrol_refusal(403, "ASN is not on the roster of DINKES")
    assert "sudah ditutup" in domain.enrol_refusal(409, "enrolment in X closed at 2027-06-05T00:00:00.000Z")
    assert "Tidak ada kursi kosong" in domain.promote_refusal(409, "no seat is free in X (30 of 30 taken)")
    assert "tidak berada di daftar tunggu" in domain.promote_refusal(
        409, "enrolment e1 is enrolled, not waitlisted: only a waitlisted participant can be promoted")
    assert "sudah selesai" in domain.promote_refusal(409, "programme X ended at 2027-06-08T09:00:00.000Z; nobody is "
                                                          "promoted any more")
    assert domain.enrolment_reason_error("  ") == "Alasan pembatalan wajib diisi."
    assert domain.enrolment_reason_error("Mutasi ke OPD lain") is None
