"""NIP and NI PPPK structural validation: each wrong part is named."""
from __future__ import annotations

from datetime import date

import pytest

from shared import nip
from shared.errors import Invalid

TODAY = date(2026, 3, 1)


def test_a_valid_nip_is_parsed_into_its_parts():
    parsed = nip.validate("198503122010011002", today=TODAY)
    assert parsed.kind == "nip"
    assert parsed.birth_date == date(1985, 3, 12)
    assert (parsed.appointment_year, parsed.appointment_month) == (2010, 1)
    assert parsed.gender == "male" and parsed.gender_digit == "1"
    assert parsed.sequence == 2


def test_a_valid_ni_pppk_is_its_own_kind():
    parsed = nip.validate("199305222022212012", kind="ni_pppk", today=TODAY)
    assert parsed.kind == "ni_pppk"
    assert parsed.birth_date == date(1993, 5, 22)
    assert parsed.appointment_year == 2022 and parsed.appointment_month is None
    assert parsed.gender == "female"
    assert parsed.sequence == 12


def test_auto_tells_a_nip_from_an_ni_pppk():
    assert nip.validate("199305222022212012", kind="auto", today=TODAY).kind == "ni_pppk"
    assert nip.validate("198503122010011002", kind="auto", today=TODAY).kind == "nip"


def test_an_ni_pppk_given_as_a_nip_is_rejected_for_its_impossible_month():
    with pytest.raises(Invalid) as err:
        nip.validate("199305222022212012", kind="nip", today=TODAY)
    assert err.value.details["part"] == "appointment_month"


@pytest.mark.parametrize("identifier, part, words", [
    ("19850312201001100", "length", "18 digits, got 17"),
    ("1985031220100110021", "length", "got 19"),
    ("19850312201001100A", "format", "digits only"),
    ("１９８５０３１２２０１００１１００２", "format", "digits only"),  # full-width digits
    ("198502302010011002", "birth_date", "1985-02-30"),
    ("198513122010011002", "birth_date", "not a real date"),
    ("202712122010011002", "birth_date", "not possible"),
    ("198503122010131002", "appointment_month", "13"),
    ("198503122010001002", "appointment_month", "00"),
    ("198503121984011002", "appointment_date", "not after the birth date"),
    ("198503121999011002", "appointment_date", "turned 18"),
    ("198503122050011002", "appointment_date", "future"),
    ("195003122015011002", "appointment_date", "already 64"),
    ("198503122010013002", "gender", "got 3"),
    ("198503122010010002", "gender", "got 0"),
    ("198503122010011000", "sequence", "001 or more"),
], ids=lambda v: v if isinstance(v, str) and not v[0].isdigit() else None)
def test_each_wrong_part_of_a_nip_is_named(identifier, part, words):
    with pytest.raises(Invalid) as err:
        nip.validate(identifier, today=TODAY)
    assert err.value.field == "nip"
    assert err.value.details["part"] == part
    assert words in err.value.message
    assert err.value.to_dict()["part"] == part


@pytest.mark.parametrize("identifier, part", [
    ("199305222022112012", "pppk_code"),
    ("199305222022202012", "contract"),
    ("199305222017212012", "appointment_year"),
    ("199305222022213012", "gender"),
    ("199305222022212000", "sequence"),
    ("199302302022212012", "birth_date"),
    ("201005222022212012", "appointment_date"),
])
def test_each_wrong_part_of_an_ni_pppk_is_named(identifier, part):
    with pytest.raises(Invalid) as err:
        nip.validate(identifier, kind="ni_pppk", today=TODAY)
    assert err.value.details["part"] == part
    assert "NI PPPK" in err.value.message


def test_the_caller_names_the_input_field():
    with pytest.raises(Invalid) as err:
        nip.validate("123", field="participant.nip")
    assert err.value.field == "participant.nip"


def test_an_unknown_kind_is_rejected_on_the_kind_field():
    with pytest.raises(Invalid) as err:
        nip.validate("198503122010011002", kind="nik")
    assert err.value.field == "id_kind"


def test_appointment_in_the_month_of_the_18th_birthday_is_a_working_age():
    assert nip.validate("198503122003031002", today=TODAY).appointment_month == 3


def test_a_birth_on_29_february_is_a_real_date():
    assert nip.validate("198402292005011001", today=TODAY).birth_date == date(1984, 2, 29)


def test_a_nip_field_takes_the_printed_form_and_refuses_other_scripts_digits():
    from marshmallow import Schema, ValidationError

    from shared.nip import TYPED_PATTERN, NipField

    class Query(Schema):
        nip = NipField(required=True)

    assert Query().load({"nip": "19850312 201001 1 002"}) == {"nip": "198503122010011002"}
    for wrong in ("١٩٨٥٠٣١٢٢٠١٠٠١١٠٠٢", "19850312 201001 1 00", "1985031220100110021"):
        with pytest.raises(ValidationError):
            Query().load({"nip": wrong})
    assert NipField().metadata["pattern"] == TYPED_PATTERN
