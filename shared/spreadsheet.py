"""A spreadsheet cell as the text a CSV would carry: one rule for every XLSX upload (enrollment's
roster import, the portal's conversion of bulk files)."""
from __future__ import annotations

from datetime import date, datetime


def cell_text(value: object) -> str:
    """A whole number stored as a number comes back exact while a float can hold it (below
    10^15); a larger one (an 18-digit NIP Excel kept as a number) is written in exponent form,
    which the NIP check explains, rather than guessed. A line break in a cell becomes a space,
    so that CSV line N stays sheet row N."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ya" if value else "tidak"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return " ".join(str(value).splitlines())
