"""OpenAPI documents generated from the marshmallow schemas (apispec)."""
from __future__ import annotations

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import INCLUDE, Schema, fields


class ErrorSchema(Schema):
    class Meta:
        unknown = INCLUDE  # errors may carry details (e.g. ``part`` of a NIP): documented as allowed

    error = fields.Str(required=True, metadata={"description": "machine-readable error code"})
    message = fields.Str(required=True)
    field = fields.Str(metadata={"description": "the offending field, when one is to blame"})
    errors = fields.Dict(metadata={"description": "per-field reasons (validation_failed)"})


class OpenApi:
    """Collects a service's routes; ``to_dict()`` renders the OpenAPI 3 document."""

    def __init__(self, title: str, version: str = "1.0.0", description: str = ""):
        self.spec = APISpec(title=title, version=version, openapi_version="3.0.3",
                            plugins=[MarshmallowPlugin()], info={"description": description})
        self.spec.components.schema("Error", schema=ErrorSchema)
        self._paths: dict[str, dict] = {}
        self.route("GET", "/health/live", "Liveness: the process answers", tags=["operations"])
        self.route("GET", "/health/ready", "Readiness: store reachable, broker connected, relay running",
                   tags=["operations"], responses={503: "not ready"})
        self.route("GET", "/metrics", "Prometheus metrics", tags=["operations"], content_type="text/plain")
        self.route("GET", "/openapi.json", "This document", tags=["operations"])
        self.route("GET", "/asyncapi.json", "AsyncAPI 3.0 document of the events this service publishes",
                   tags=["operations"])
        from shared.replay import ReplayRequest, ReplayResult  # the one route every service shares

        self.route("POST", "/admin/replay", "Republish this service's event log into one queue (a "
                   "rebuild, a subscriber that lost its queue)", body=ReplayRequest, response=ReplayResult,
                   responses={409: "the queue is missing or not bound to <service>.replay"}, tags=["operations"])

    def route(self, method: str, path: str, summary: str, *, body: type[Schema] | Schema | None = None,
              response: type[Schema] | Schema | None = None, query: type[Schema] | None = None,
              status: int = 200, responses: dict[int, str] | None = None, tags: list[str] | None = None,
              content_type: str = "application/json", body_content_type: str = "application/json",
              many: bool = False) -> None:
        """Document one route; ``path`` uses OpenAPI ``{param}`` syntax."""
        operation: dict = {"summary": summary, "tags": tags or [], "responses": {}}
        params = [{"in": "path", "name": p.strip("{}"), "required": True, "schema": {"type": "string"}}
                  for p in path.split("/") if p.startswith("{")]
        if query is not None:
            params.append({"in": "query", "schema": query})
        if params:
            operation["parameters"] = params
        if body is not None:
            operation["requestBody"] = {"required": True, "content": {body_content_type: {"schema": body}}}
        ok: dict = {"description": "OK"}
        if response is not None:
            schema = {"type": "array", "items": response} if many else response
            ok["content"] = {content_type: {"schema": schema}}
        operation["responses"][str(status)] = ok
        for code, description in (responses or {}).items():
            operation["responses"][str(code)] = {
                "description": description,
                "content": {"application/json": {"schema": "Error"}}}
        if method in ("POST", "PUT", "PATCH") and "422" not in operation["responses"]:
            operation["responses"]["422"] = {"description": "invalid fields",
                                             "content": {"application/json": {"schema": "Error"}}}
        self._paths.setdefault(path, {})[method.lower()] = operation

    def to_dict(self) -> dict:
        for path, operations in self._paths.items():
            self.spec.path(path=path, operations=operations)
        self._paths = {}
        return self.spec.to_dict()
