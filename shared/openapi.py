"""OpenAPI documents generated from the marshmallow schemas (apispec).

The document states what the service really accepts and answers, for the systems that generate
clients from it: every error answer carries the shared ``Error`` body, a route with a JSON body
lists 400 (not JSON, not an object), 413 (over its body limit) and 422 (invalid fields), a route
with a query or a checked path parameter lists 422, and a NIP in a path is described by its
pattern. tests/security/test_api_fuzzing.py holds each document to it with every schemathesis check.
"""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import INCLUDE, Schema, fields, validate


class ErrorSchema(Schema):
    class Meta:
        unknown = INCLUDE  # errors may carry details (e.g. ``part`` of a NIP): documented as allowed

    error = fields.Str(required=True, metadata={"description": "machine-readable error code"})
    message = fields.Str(required=True)
    field = fields.Str(metadata={"description": "the offending field, when one is to blame"})
    errors = fields.Dict(metadata={"description": "per-field reasons (validation_failed)"})


# A NIP / NI PPPK in a path: 18 digits (printed forms with spaces are accepted too, but a
# client sends the digits). The digits also carry a birth date, an appointment month, a
# gender digit and a sequence number the service checks (shared.nip); a pattern cannot say
# that, the description does, and ``format: nip`` names the rule for client generators.
NIP_PARAMETER: dict[str, Any] = {
    "type": "string", "format": "nip", "pattern": r"^[0-9]{18}$", "minLength": 18, "maxLength": 18,
    "description": "NIP (or NI PPPK) of 18 digits: birth date YYYYMMDD, appointment (TMT) YYYYMM, gender 1/2, "
                   "sequence from 001; an impossible date or digit is refused with 422 naming the part"}
# Path parameters whose name alone says what they are; a route states others with ``path_parameters``.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {"nip": NIP_PARAMETER}
JSON = "application/json"


TOO_MANY_REQUESTS = "too many requests from this address (public routes); Retry-After says when to retry"


def _error(description: str, types: tuple[str, ...] = (JSON,), code: int | None = None) -> dict:
    """An error answer: the ``Error`` body as JSON (a page for people, when the route has one);
    a 429 also says when to retry."""
    content: dict = {t: {"schema": "Error" if t == JSON else {"type": "string"}} for t in types}
    answer = {"description": description, "content": content}
    if code == 429:
        answer["headers"] = {"Retry-After": {"description": "seconds to wait", "required": True,
                                             "schema": {"type": "integer", "minimum": 1}}}
    return answer


def csv_body(columns: type[Schema], header: str = "nip") -> dict[str, Any]:
    """The schema of a CSV upload: text whose first header cell is ``header``; the columns
    (and their other spellings) are those of ``columns``, listed in the description."""
    described = []
    for name, field in columns().fields.items():
        note = field.metadata.get("description")
        described.append(f"{name}{' (required)' if field.required else ''}{': ' + note if note else ''}")
    return {"type": "string", "pattern": rf"^\ufeff?{header}([,;\t][^\r\n]*)?\r?\n",
            "description": (columns.__doc__ or "CSV file").strip() + " Header row first, its first cell "
                           f"{header}. Columns: " + "; ".join(described) + "."}


def validator_properties(self, field, **kwargs) -> dict:
    """JSON schema properties that a field's own validators state (``openapi_properties``):
    apispec knows marshmallow's Range, Length, OneOf and Regexp; a service's validator (free
    text without a formula start, say) says what it checks in the same words. A Range that
    excludes its bound (``duration_days`` > 0) says so too, which apispec leaves out."""
    ret: dict = {}
    for validator in getattr(field, "validators", ()):
        ret.update(getattr(validator, "openapi_properties", {}))
        if isinstance(validator, validate.Range):
            if validator.min is not None and not validator.min_inclusive:
                ret["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive:
                ret["exclusiveMaximum"] = True
    return ret


class OpenApi:
    """Collects a service's routes; ``to_dict()`` renders the OpenAPI 3 document.

    ``empty_query_is_absent``: the service reads ``?agency=`` (as an HTML form sends it) as no
    filter, so every query parameter says ``allowEmptyValue``."""

    def __init__(self, title: str, version: str = "1.0.0", description: str = "", *,
                 empty_query_is_absent: bool = False, events: bool = True):
        plugin = MarshmallowPlugin()
        self.spec = APISpec(title=title, version=version, openapi_version="3.0.3",
                            plugins=[plugin], info={"description": description})
        plugin.converter.add_attribute_function(validator_properties)
        self.empty_query_is_absent = empty_query_is_absent
        self._empty_is_absent: set[tuple[str, str]] = set()  # (path, method) reading ``?x=`` as no filter
        self.spec.components.schema("Error", schema=ErrorSchema)
        self._paths: dict[str, dict] = {}
        # Every public route is rate limited per client address (shared.http.PublicRateLimit).
        limited = {429: TOO_MANY_REQUESTS}
        self.route("GET", "/health/live", "Liveness: the process answers", tags=["operations"], responses=limited)
        self.route("GET", "/health/ready", "Readiness: store reachable, broker connected, relay running"
                   if events else "Readiness: store reachable, the services it calls answering",
                   tags=["operations"], responses={503: "not ready", **limited})
        self.route("GET", "/metrics", "Prometheus metrics", tags=["operations"], content_type="text/plain",
                   responses=limited)
        self.route("GET", "/openapi.json", "This document", tags=["operations"], responses=limited)
        if not events:  # the portal: no event contract, no event log, no personal data of its own
            return
        self.route("GET", "/asyncapi.json", "AsyncAPI 3.0 document of the events this service publishes",
                   tags=["operations"], responses=limited)
        from shared.replay import ReplayRequest, ReplayResult  # the one route every service shares

        self.route("POST", "/admin/replay", "Republish this service's event log into one queue (a "
                   "rebuild, a subscriber that lost its queue)", body=ReplayRequest, response=ReplayResult,
                   responses={409: "the queue is missing or not bound to <service>.replay"}, tags=["operations"])
        from shared.access_log import AccessLogPageSchema, AccessLogQuery

        self.route("GET", "/admin/access-log", "Who read whose personal data (ledger, certificates, inbox) "
                   "here, newest first (UU 27/2022)", query=AccessLogQuery, response=AccessLogPageSchema,
                   tags=["operations"])
        self._empty_is_absent.add(("/admin/access-log", "get"))  # AccessLogQuery drops empty filters

    def route(self, method: str, path: str, summary: str, *, body: type[Schema] | Schema | dict | None = None,
              response: type[Schema] | Schema | None = None, query: type[Schema] | None = None,
              status: int = 200, responses: dict[int, str | dict] | None = None, tags: list[str] | None = None,
              content_type: str | tuple[str, ...] = JSON, body_content_type: str = JSON,
              many: bool = False, body_required: bool = True,
              path_parameters: dict[str, dict[str, Any]] | None = None,
              error_content_types: tuple[str, ...] = (JSON,)) -> None:
        """Document one route; ``path`` uses OpenAPI ``{param}`` syntax.

        ``responses`` adds answers: a 2xx one carries the route's ``response`` schema, any other
        the ``Error`` body; a dict is an OpenAPI response object taken as it is. ``content_type``
        may name several types of the success answer (e.g. JSON or HTML by Accept). ``body`` may
        be a JSON schema dict (a CSV upload: ``csv_body``). ``path_parameters`` gives the schema
        of path parameters the service checks (``nip`` is known already); their routes list 422.
        ``error_content_types``: the types an error answer comes in (a public page answers
        people in HTML)."""
        operation: dict = {"summary": summary, "tags": tags or [], "responses": {}}
        known = {**PATH_PARAMETERS, **(path_parameters or {})}
        names = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        params = [{"in": "path", "name": n, "required": True, "schema": dict(known.get(n, {"type": "string"}))}
                  for n in names]
        if query is not None:
            params.append({"in": "query", "schema": query})
        if params:
            operation["parameters"] = params
        if body is not None:
            operation["requestBody"] = {"required": body_required,
                                        "content": {body_content_type: {"schema": body}}}
        types = (content_type,) if isinstance(content_type, str) else content_type
        ok = self._success("OK", response, types, many)
        operation["responses"][str(status)] = ok
        for code, description in (responses or {}).items():
            if isinstance(description, dict):  # an answer unlike the others, stated whole
                operation["responses"][str(code)] = description
                continue
            operation["responses"][str(code)] = (self._success(description, response, types, many) if code < 400
                                                 else _error(description, error_content_types, code))
        answers = operation["responses"]
        if body is not None:
            if body_content_type == JSON:
                answers.setdefault("400", _error("the body is empty, not JSON or not a JSON object"))
            answers.setdefault("413", _error("the body is over the route's limit (1 MiB; 64 KiB on a public route)"))
        if body is not None or query is not None or any(n in known for n in names):
            answers.setdefault("422", _error("invalid fields: `errors` gives the reasons per field, or `field` "
                                             "names the one the service refused", error_content_types))
        self._paths.setdefault(path, {})[method.lower()] = operation

    @staticmethod
    def _success(description: str, response, types: tuple[str, ...], many: bool) -> dict:
        answer: dict = {"description": description}
        if response is not None:
            schema = {"type": "array", "items": response} if many else response
            answer["content"] = {types[0]: {"schema": schema}}
            for other in types[1:]:
                answer["content"][other] = {"schema": {"type": "string"}}
        elif types != (JSON,):
            answer["content"] = {t: {"schema": {"type": "string"}} for t in types}
        return answer

    def to_dict(self) -> dict:
        for path, operations in self._paths.items():
            self.spec.path(path=path, operations=operations)
        self._paths = {}
        document = self.spec.to_dict()
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if not (self.empty_query_is_absent or (path, method) in self._empty_is_absent):
                    continue
                for parameter in operation.get("parameters", []):
                    # a required parameter is not satisfied by an empty value
                    if parameter.get("in") == "query" and not parameter.get("required"):
                        parameter["allowEmptyValue"] = True
        return document
