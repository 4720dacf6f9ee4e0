"""The portal's forms and queries that take a NIP read its printed form (issue 24): the spaces
go, the page then checks the 18 digits and answers beside the field."""
from __future__ import annotations

import pytest

from services.portal import schemas

PRINTED, DIGITS = "19850312 201001 1 002", "198503122010011002"


@pytest.mark.parametrize("schema, field", [
    (schemas.ConsoleEnrolForm, "nip"),
    (schemas.AccessLogQuery, "nip"),
    (schemas.ActingForm, "atasan"),
    (schemas.ActingForm, "pelaksana"),
    (schemas.EndActingForm, "atasan"),
    (schemas.ActingQuery, "atasan"),
])
def test_a_printed_nip_is_read_as_its_digits(schema, field):
    data = {"csrf_token": "t", "nip": DIGITS, "atasan": DIGITS, field: f" {PRINTED}\u00a0"}
    assert schema().load(data)[field] == DIGITS


def test_a_wrong_nip_is_left_for_the_page_to_explain():
    # the page answers "NIP harus 18 angka." beside the field: the schema does not refuse it
    assert schemas.AccessLogQuery().load({"nip": "1985 03"})["nip"] == "198503"
    assert schemas.ConsoleEnrolForm().load({"csrf_token": "t", "nip": "  "})["nip"] == ""
