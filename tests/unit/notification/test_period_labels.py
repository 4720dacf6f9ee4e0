"""How a checkpoint id reads in a message (shared.timefmt.period_label_id, the templates'
``periode`` filter): a person never sees ``2026-Q2``."""
from __future__ import annotations

import pytest

from services.notification.adapters.templates import Renderer
from shared.timefmt import period_label_id


@pytest.mark.parametrize("period, label, at_end", [
    ("2026-Q1", "triwulan I tahun 2026", "akhir triwulan I tahun 2026"),
    ("2026-Q2", "triwulan II tahun 2026", "akhir triwulan II tahun 2026"),
    ("2026-Q4", "triwulan IV tahun 2026", "akhir triwulan IV tahun 2026"),
    ("2026-H1", "semester I tahun 2026", "akhir semester I tahun 2026"),
    ("2027-S2", "semester II tahun 2027", "akhir semester II tahun 2027"),
    ("2026", "tahun 2026", "akhir tahun 2026"),
    # A label of another calendar keeps its name beside the year; no "end of" is invented for it.
    ("2026-AKHIR_TA", "AKHIR_TA tahun 2026", "AKHIR_TA tahun 2026"),
    ("2026-Q5", "Q5 tahun 2026", "Q5 tahun 2026"),
])
def test_a_period_id_reads_in_bahasa_indonesia(period, label, at_end):
    assert period_label_id(period) == label
    assert period_label_id(period, at_end=True) == at_end


def test_text_that_is_not_a_period_id_is_left_as_it_is():
    assert period_label_id("pemantauan khusus") == "pemantauan khusus"


def test_templates_show_a_checkpoint_through_the_periode_filter():
    env = Renderer().env
    assert env.from_string("{{ c|periode }}; {{ c|periode(at_end=true) }}").render(c="2026-Q2") == \
        "triwulan II tahun 2026; akhir triwulan II tahun 2026"
