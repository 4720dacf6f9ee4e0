"""The HTTP request as the use cases need it: who calls (an ``Actor``), the uploaded CSV or
XLSX (spooled, held to the configured size), and the streamed answer of a bulk upload."""
from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable, Iterable
from typing import BinaryIO, Protocol

from werkzeug.wrappers import Response

from services.enrollment.adapters.bulk_files import csv_lines, ndjson
from services.enrollment.domain import Actor
from shared.auth import principal_of
from shared.http import BadRequest, PayloadTooLarge

SPOOL_IN_MEMORY = 4 * 1024 * 1024


def actor_of(request) -> Actor:
    """The authenticated caller (shared.http put it on the request) as the domain records it."""
    p = principal_of(request)
    return Actor(role=p.role, agency=p.agency, nip=p.nip, subject=p.subject)


class Upload(Protocol):
    """A bulk upload's file: ``open(max_bytes)`` gives it to read, or refuses it as too large (413);
    ``content_type`` is what the client said it is (None when unknown)."""

    content_type: str | None

    def open(self, max_bytes: int) -> BinaryIO: ...


class CsvUpload:
    """The CSV of a bulk upload: a raw text/csv body or the first file of a form.

    ``open(max_bytes)`` spools it (memory, then disk) so the answer can stream while the file
    is read, without the client and server each waiting for the other to read. The route's
    own cap is fixed when the module is imported (config.BULK_BODY_CEILING); the configured
    BULK_MAX_BYTES, known only once the container runs, is applied here.
    """

    def __init__(self, request):
        self.request = request
        self.content_type: str | None = request.mimetype or None

    def open(self, max_bytes: int) -> BinaryIO:
        request = self.request
        if request.content_length and request.content_length > max_bytes:
            raise PayloadTooLarge(f"request body over {max_bytes} bytes")
        # a body without a length (chunked) is cut off at the cap as it is read
        request.max_content_length = min(request.max_content_length or max_bytes, max_bytes)
        if request.mimetype == "multipart/form-data":
            upload = next(iter(request.files.values()), None)
            if upload is None:
                raise BadRequest("the form carries no file; send the CSV as a file field or as a text/csv body")
            source = upload.stream
            self.content_type = upload.mimetype or None
        else:
            source = request.stream
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        shutil.copyfileobj(source, spool, 64 * 1024)
        spool.seek(0)
        return spool


class BytesUpload:
    """A CSV already in memory, for scripts and benchmarks calling the bulk use cases directly."""

    def __init__(self, data: bytes, content_type: str | None = None):
        self.data = data
        self.content_type = content_type

    def open(self, max_bytes: int) -> BinaryIO:
        if len(self.data) > max_bytes:
            raise PayloadTooLarge(f"request body over {max_bytes} bytes")
        return io.BytesIO(self.data)


def streamed_results(request, results: Iterable[dict],
                     as_csv: Callable[[Iterable[dict]], Iterable[bytes]] = csv_lines) -> Response:
    """Per-row results as NDJSON, or CSV when asked (``?format=csv`` or ``Accept: text/csv``)."""
    if request.args.get("format") == "csv" or request.accept_mimetypes.best == "text/csv":
        return Response(as_csv(results), mimetype="text/csv")
    return Response(ndjson(results), mimetype="application/x-ndjson")
