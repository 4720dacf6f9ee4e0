"""Bulk uploads through the portal (issue 21): the operator's file is spooled (memory, then disk)
up to the bulk limit, an XLSX workbook becomes the CSV enrollment's bulk enrolment and
completion read (the roster import reads XLSX itself), and the file goes to enrollment's bulk
route with the operator's token. Its per-row NDJSON answer comes back line by line as it is
written (``requests`` with ``stream=True``, each HTTP chunk as it arrives), so the page can show
progress while enrollment is still working.

    upload = spool(request.stream, max_bytes, request.content_length, "text/csv", "peserta.csv")
    lines = post_bulk(client, identity, "/programmes/PKP-1/enrolments/bulk", {}, upload)
    for result in lines: ...   # dicts: one per row, then {"summary": {...}}
"""
from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import requests

from shared.spreadsheet import cell_text
from shared import logging as ctxlog
from shared.http import CORRELATION_HEADER
from services.portal.adapters.clients import ServiceClient, ServiceError
from services.portal.domain import Identity

log = logging.getLogger(__name__)

SPOOL_IN_MEMORY = 4 * 1024 * 1024
BLOCK = 64 * 1024
XLSX_TYPES = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",)
_ZIP_MAGIC, _OLE_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
# what a workbook may unpack to before it is a zip bomb (enrollment holds its own to the same)
XLSX_MAX_UNPACKED = 256 * 1024 * 1024


class UploadTooLarge(Exception):
    """The file is over the bulk limit (the page answers 413 naming it)."""

    def __init__(self, limit: int):
        super().__init__(f"upload over {limit} bytes")
        self.limit = limit


class UnreadableFile(Exception):
    """The file cannot be read as what it claims to be (the message is for people)."""


@dataclass
class Upload:
    """A spooled upload: ``file`` rewound at 0, ``size`` bytes."""

    file: BinaryIO
    size: int
    content_type: str | None = None
    filename: str | None = None
    rows: int | None = None  # data rows, when known (a workbook turned into CSV)

    def head(self, count: int = 4) -> bytes:
        self.file.seek(0)
        data = self.file.read(count)
        self.file.seek(0)
        return data

    @property
    def is_xlsx(self) -> bool:
        """By its first bytes (a zip), its type or its name: a browser often says octet-stream."""
        head = self.head()
        if head == _OLE_MAGIC:
            return False
        return (head == _ZIP_MAGIC or (self.content_type or "").split(";")[0].strip().lower() in XLSX_TYPES
                or (self.filename or "").lower().endswith(".xlsx"))

    @property
    def is_old_excel(self) -> bool:
        return self.head() == _OLE_MAGIC


def spool(source: BinaryIO, max_bytes: int, content_length: int | None = None, content_type: str | None = None,
          filename: str | None = None) -> Upload:
    """Read ``source`` into a spooled file, refusing it (UploadTooLarge) once over ``max_bytes``:
    by its declared length at once, else as it is read (a chunked body)."""
    if content_length is not None and content_length > max_bytes:
        raise UploadTooLarge(max_bytes)
    target = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    size = 0
    while block := source.read(BLOCK):
        size += len(block)
        if size > max_bytes:
            target.close()
            raise UploadTooLarge(max_bytes)
        target.write(block)
    target.seek(0)
    return Upload(target, size, content_type, filename)


def xlsx_as_csv(upload: Upload) -> Upload:
    """The first sheet of a workbook as UTF-8 CSV, one line per sheet row (blank rows kept as
    blank lines: the row numbers enrollment answers are the sheet's)."""
    from openpyxl import load_workbook  # only XLSX uploads need it

    try:
        with zipfile.ZipFile(upload.file) as archive:
            if sum(member.file_size for member in archive.infolist()) > XLSX_MAX_UNPACKED:
                raise UnreadableFile("Berkas XLSX terlalu besar setelah dibuka; unggah paling banyak 10.000 baris.")
        upload.file.seek(0)
        workbook = load_workbook(upload.file, read_only=True, data_only=True)
    except UnreadableFile:
        raise
    except Exception:  # a broken zip or workbook: openpyxl raises many kinds
        raise UnreadableFile("Berkas bukan XLSX yang dapat dibaca; simpan ulang dari Excel sebagai .xlsx atau "
                             "CSV UTF-8.") from None
    target = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    text = io.TextIOWrapper(target, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    filled = 0
    try:
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            cells = [cell_text(v) for v in values]
            while cells and cells[-1] == "":
                cells.pop()
            if cells:
                filled += 1
                writer.writerow(cells)
            else:
                text.write("\n")
    except Exception:
        raise UnreadableFile("Isi berkas XLSX tidak dapat dibaca; simpan ulang dari Excel sebagai .xlsx atau "
                             "CSV UTF-8.") from None
    finally:
        workbook.close()
    text.flush()
    size = target.tell()
    text.detach()
    target.seek(0)
    return Upload(target, size, "text/csv", upload.filename, rows=max(0, filled - 1))


class _Body:
    """The spooled file as a request body of known length (requests sends Content-Length and
    reads it in blocks, never the whole file into memory)."""

    def __init__(self, upload: Upload):
        self.upload = upload
        upload.file.seek(0)

    def __len__(self) -> int:
        return self.upload.size

    def read(self, size: int = -1) -> bytes:
        return self.upload.file.read(size)

    def __iter__(self):
        while block := self.upload.file.read(BLOCK):
            yield block


def post_bulk(client: ServiceClient, identity: Identity, path: str, params: dict, upload: Upload, *,
              read_timeout_s: float) -> Iterator[dict]:
    """POST the upload to enrollment's bulk route ``path`` with the operator's (or admin's) token.
    A refusal before any row (4xx/5xx) raises ServiceError at once; otherwise the answer's lines
    are yielded as dicts as they arrive (the caller iterates after the page's worker returned).
    A broken stream ends with ``{"error": ...}``."""
    headers = {"Authorization": f"Bearer {client.token(identity, 'role')}",
               "Content-Type": upload.content_type or "text/csv", "Accept": "application/x-ndjson"}
    correlation = ctxlog.current("correlation_id")
    if correlation:
        headers[CORRELATION_HEADER] = correlation
    url = client.urls["enrollment"] + path
    try:
        # a session of its own: a streamed answer holds its connection until read to the end
        response = requests.post(url, params=params, data=_Body(upload), headers=headers, stream=True,
                                 timeout=(client.timeout_s, read_timeout_s))
    except requests.RequestException as exc:
        upload.file.close()
        log.warning("POST enrollment%s failed: %s", path, exc)
        raise ServiceError("enrollment", 503, "unreachable", str(exc)) from None
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        finally:
            response.close()
            upload.file.close()
        body = body if isinstance(body, dict) else {}
        raise ServiceError("enrollment", response.status_code, body.get("error"),
                           body.get("message") or response.reason, body)
    return _lines(response, path, upload)


def _lines(response: requests.Response, path: str, upload: Upload) -> Iterator[dict]:
    pending = b""
    try:
        for chunk in response.iter_content(chunk_size=None):  # each HTTP chunk as it comes
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if line.strip():
                    yield json.loads(line)
        if pending.strip():
            yield json.loads(pending)
    except (requests.RequestException, ValueError) as exc:
        log.warning("the streamed answer of enrollment%s broke off: %s", path, exc)
        yield {"error": "broken"}
    finally:
        response.close()
        upload.file.close()
