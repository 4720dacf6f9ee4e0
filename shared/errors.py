"""Errors that cross layers: the HTTP layer maps them to status codes."""
from __future__ import annotations


class DomainError(Exception):
    """A command the domain refuses; ``status`` is the HTTP status it maps to."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, field: str | None = None, **details):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def to_dict(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        body.update(self.details)
        return body


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """Input that is well formed but breaks a rule (e.g. a NIP with an impossible birth date)."""

    status = 422
    code = "invalid"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class StoreUnavailable(Exception):
    """The store did not answer in time; commands answer 503 and handlers retry."""
