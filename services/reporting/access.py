"""Who may read which ASN's ledger: the scope check of the ledger and its exports.

Kept apart from the queries so the check runs before anything is looked up for the caller,
and gives the same answer whether or not the platform knows the NIP.
"""
from __future__ import annotations

from shared.auth import ADMIN, OPERATOR, Principal
from shared.errors import Forbidden

from services.reporting import queries
from services.reporting.store import ReadModels


def require_ledger_access(rm: ReadModels, principal: Principal, nip: str) -> None:
    """Forbidden (403) unless ``principal`` may read the ledger of ``nip``.

    An operator may read its own agency's staff, an ASN themself, an admin anyone. An operator
    asking for any other NIP gets one answer, whether the NIP belongs to another agency or to
    nobody: a 404 for unknown NIPs (or naming the agency it belongs to) would let any operator
    probe which NIPs the platform knows, and where they work.
    """
    if principal.role == ADMIN:
        return
    agency = queries.asn_agency(rm, nip) if principal.role == OPERATOR else None
    if principal.may_access(nip=nip, agency=agency):
        return
    if principal.role == OPERATOR:
        raise Forbidden(f"an operator of {principal.agency} may see only the ledgers of its own staff; "
                        f"NIP {nip} is not one of them", field="nip")
    raise Forbidden("an ASN may see only their own ledger", field="nip")
