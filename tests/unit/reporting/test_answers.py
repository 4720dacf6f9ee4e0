"""Pure pieces of the answers: cursor pages over computed rows, and who may read whose ledger."""
from __future__ import annotations

import pytest

from services.reporting.domain import page_rows, require_ledger_access
from shared.auth import Principal
from shared.errors import Forbidden, Invalid

ROWS = [{"agency": code} for code in ("A", "B", "C", "D", "E")]


def test_a_cursor_continues_after_the_last_row_it_names_until_no_cursor_comes_back():
    seen, cursor = [], None
    while True:
        items, cursor = page_rows(ROWS, "agency", 2, cursor)
        seen += [r["agency"] for r in items]
        if cursor is None:
            break
    assert seen == ["A", "B", "C", "D", "E"]


def test_the_deprecated_page_number_counts_whole_pages_and_still_hands_out_a_cursor():
    items, cursor = page_rows(ROWS, "agency", 2, None, page=2)
    assert [r["agency"] for r in items] == ["C", "D"]
    assert [r["agency"] for r in page_rows(ROWS, "agency", 2, cursor)[0]] == ["E"]
    assert page_rows(ROWS, "agency", 5, None) == (ROWS, None)


def test_a_cursor_this_service_did_not_give_out_is_refused_naming_the_field():
    with pytest.raises(Invalid) as raised:
        page_rows(ROWS, "agency", 2, "bm90LWEtY3Vyc29y")
    assert raised.value.field == "cursor"


NIP = "198503122010011002"


@pytest.mark.parametrize("principal, agency", [
    (Principal("admin", "admin", None, None), None),
    (Principal("op", "operator", "SETDA", None), "SETDA"),
    (Principal("asn", "asn", None, NIP), None),
])
def test_an_admin_the_agency_s_operator_and_the_asn_themself_may_read_a_ledger(principal, agency):
    require_ledger_access(principal, NIP, agency)


@pytest.mark.parametrize("agency", ["DINKES", None])  # another agency's ASN and an unknown NIP: one answer
def test_an_operator_gets_the_same_refusal_for_another_agency_s_nip_and_an_unknown_one(agency):
    with pytest.raises(Forbidden) as raised:
        require_ledger_access(Principal("op", "operator", "SETDA", None), NIP, agency)
    assert raised.value.field == "nip" and "SETDA" in raised.value.message
