"""The demo ends by naming whom to sign in as on the portal: an ASN with a supervisor on the
roster, that supervisor, an operator of the ASN's OPD and admin."""
from __future__ import annotations

import io

from deploy import demo


def test_the_demo_names_an_asn_their_supervisor_an_operator_and_admin():
    plan = demo.build_plan(60, 7)
    people = {p.nip: p for p in plan.people}
    head = next(p for p in plan.people if p.supervisor_nip is None)
    for showcase in (None, head.nip, next(p.nip for p in plan.people if p.supervisor_nip)):
        result = demo.Result(showcase_nip=showcase)
        out = io.StringIO()
        demo.print_portal("http://127.0.0.1:8005", plan, result, out)
        text = out.getvalue()
        (asn_nip, boss_nip) = [line.split("NIP ")[1][:18] for line in text.splitlines() if "NIP " in line]
        assert people[asn_nip].supervisor_nip == boss_nip
        assert f"Operator {people[asn_nip].agency}" in text and "Admin BKPSDM" in text
        assert text.startswith("The portal: http://127.0.0.1:8005") and "/masuk" in text
    shown = demo.portal_users(plan, next(p.nip for p in plan.people if p.supervisor_nip))
    assert [who for who, _ in shown] == ["ASN", "supervisor", "operator", "admin"]
