"""The NI PPPK layout (PPPK code 2, then the count of work agreements), the ages at the first
appointment per kind, and the printed form (issue 24)."""
from __future__ import annotations

from datetime import date

import pytest

from shared import nip
from shared.errors import Invalid

TODAY = date(2026, 3, 1)


def pppk(birth: str, year: int, contract: int = 1, gender: str = "2", sequence: str = "014") -> str:
    return f"{birth}{year}{nip.PPPK_CODE}{contract}{gender}{sequence}"


def refusal(identifier: str, kind: str = "auto") -> Invalid:
    with pytest.raises(Invalid) as err:
        nip.validate(identifier, kind, today=TODAY)
    return err.value


# -- the NI PPPK layout -----------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["auto", "ni_pppk"])
def test_the_published_example_is_an_ni_pppk(kind):
    parsed = nip.validate("199009132025242014", kind, today=TODAY)
    assert (parsed.kind, parsed.birth_date, parsed.appointment_year) == ("ni_pppk", date(1990, 9, 13), 2025)
    assert (parsed.contract, parsed.gender, parsed.sequence) == (4, "female", 14)
    assert parsed.appointment_month is None


def test_a_pppk_on_a_second_contract_is_an_ni_pppk_not_a_month_22():
    parsed = nip.validate("199305222022222012", "auto", today=TODAY)
    assert (parsed.kind, parsed.contract) == ("ni_pppk", 2)
    assert nip.detect_kind("199305222022222012") == "ni_pppk"


@pytest.mark.parametrize("contract", range(1, 10))
def test_every_contract_count_1_to_9_is_accepted(contract):
    assert nip.validate(pppk("19930522", 2022, contract), "auto", today=TODAY).contract == contract


@pytest.mark.parametrize("month", range(1, 13))
def test_a_nip_is_never_taken_for_an_ni_pppk(month):
    identifier = f"19850312 2010{month:02d} 1 002".replace(" ", "")
    parsed = nip.validate(identifier, "auto", today=TODAY)
    assert (parsed.kind, parsed.appointment_month, parsed.contract) == ("nip", month, None)


def test_a_contract_count_0_is_refused_naming_digit_14():
    err = refusal("199305222022202012", "ni_pppk")
    assert err.details["part"] == "contract"
    assert "digit 14" in err.message and "1-9" in err.message
    # told apart automatically it is no NI PPPK, and "20" is no month either
    err = refusal("199305222022202012", "auto")
    assert err.details["part"] == "appointment_month"
    assert "NI PPPK" in err.message  # the hint that a 2 in digit 13 marks an NI PPPK


def test_an_ni_pppk_without_the_code_2_in_digit_13_names_the_code():
    err = refusal("199305222022112012", "ni_pppk")
    assert err.details["part"] == "pppk_code"
    assert "digit 13" in err.message and "got 1" in err.message


def test_a_second_contract_ni_pppk_given_as_a_nip_is_refused_for_its_month():
    err = refusal("199305222022222012", "nip")
    assert err.details["part"] == "appointment_month" and "22" in err.message


# -- ages at the first appointment ------------------------------------------------------------

def test_a_cpns_may_be_18_a_pppk_must_be_20():
    # born 1 May 2003: 18 in May 2021
    assert nip.validate("200305012021051001", "auto", today=TODAY).kind == "nip"
    err = refusal("200305012021041001")
    assert err.details["part"] == "appointment_date" and "turned 18" in err.message
    # the same person as PPPK in 2021 (18) or 2022 (19) is too young; 2023 (turns 20) fits
    for year in (2021, 2022):
        err = refusal(pppk("20030501", year))
        assert err.details["part"] == "appointment_date" and "turned 20" in err.message
        assert "NI PPPK" in err.message
    assert nip.validate(pppk("20030501", 2023), "auto", today=TODAY).kind == "ni_pppk"


def test_a_pppk_turning_20_late_in_the_year_of_appointment_is_accepted():
    # the NI PPPK carries only the year: 20 on 31 December still fits
    assert nip.validate(pppk("20021231", 2022), "auto", today=TODAY).appointment_year == 2022


@pytest.mark.parametrize("birth", ["19610101", "19620315", "19630701", "19641231"])
def test_a_pppk_aged_61_to_64_is_accepted(birth):
    # PP 49/2018 Pasal 16: up to a year before the position's retirement age (65 at most)
    assert nip.validate(pppk(birth, 2025), "auto", today=TODAY).kind == "ni_pppk"


def test_a_pppk_is_refused_only_when_65_all_through_the_year_of_appointment():
    # born 1 July 1960: 64 on 1 January 2025 (fits), 65 on 1 January 2026 (does not)
    assert nip.validate(pppk("19600701", 2025), "auto", today=TODAY).appointment_year == 2025
    err = refusal(pppk("19600701", 2026))
    assert err.details["part"] == "appointment_date"
    assert "already 65" in err.message and "64 at the latest" in err.message


def test_a_cpns_is_appointed_at_59_at_the_latest():
    # born 15 June 1956: 59 from June 2015 to May 2016 -> June 2016 fits, July 2016 (60) does not
    assert nip.validate("195606152016061001", "auto", today=TODAY).appointment_month == 6
    err = refusal("195606152016071001")
    assert err.details["part"] == "appointment_date"
    assert "already 60" in err.message and "CPNS" in err.message and "59 at the latest" in err.message


def test_an_honorer_appointed_cpns_in_their_mid_fifties_is_accepted():
    # 46 on 1 January 2006 (PP 48/2005 Pasal 3), appointed CPNS in 2014 at 54
    parsed = nip.validate("195912302014041001", "auto", today=TODAY)
    assert (parsed.kind, parsed.appointment_year) == ("nip", 2014)


def test_the_limits_are_stated_per_kind():
    assert nip.MIN_APPOINTMENT_AGE == {"nip": 18, "ni_pppk": 20}
    assert nip.MAX_APPOINTMENT_AGE == {"nip": 59, "ni_pppk": 64}


# -- the printed form -------------------------------------------------------------------------

@pytest.mark.parametrize("digits, shown", [
    ("198503122010011002", "19850312 201001 1 002"),
    ("199009132025242014", "19900913 202524 2 014"),
])
def test_the_printed_form_groups_the_parts_and_reads_back(digits, shown):
    assert nip.printed(digits) == shown
    assert nip.printed(shown) == shown
    assert nip.digits_only(shown) == digits
    assert nip.validate(nip.digits_only(shown), "auto", today=TODAY).identifier == digits


@pytest.mark.parametrize("other", ["12345", "", "19850312 201001 1 00A"])
def test_what_is_not_18_digits_is_printed_unchanged(other):
    assert nip.printed(other) == other
