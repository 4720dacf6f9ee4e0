"""One paging style for every list route: ``?limit=&cursor=`` in, ``{"items", "next_cursor"}``
out. A cursor is opaque to clients (base64 of the sort value and ``_id`` of the last item),
so paging stays stable while items are added, and a page costs one indexed range read
instead of a ``skip`` that rescans everything before it.

The page-number parameters of the first API version (``page``, ``per_page``) are still
accepted for one release: ``per_page`` as ``limit``; ``page`` > 1 is answered from the
equivalent skip, and the answer carries ``next_cursor`` so a client can move over.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Callable

from marshmallow import Schema, fields, pre_load, validate

from shared.errors import Invalid

MAX_CURSOR = 512


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps([str(p) for p in parts], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The parts of a cursor this service gave out; 422 naming ``cursor`` otherwise."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise Invalid("cursor is not one this service returned", field="cursor") from None
    if not (isinstance(parts, list) and len(parts) == count and all(isinstance(p, str) for p in parts)):
        raise Invalid("cursor is not one this service returned", field="cursor")
    return parts


def page_query(max_limit: int, default_limit: int = 50) -> type[Schema]:
    """The query schema fields of a list route: ``limit`` (1..max_limit) and ``cursor``;
    subclass it and add the route's filters."""

    class PageQuery(Schema):
        limit = fields.Int(load_default=default_limit, validate=validate.Range(1, max_limit),
                           metadata={"description": f"items per page, at most {max_limit}"})
        cursor = fields.Str(load_default=None, validate=validate.Length(max=MAX_CURSOR),
                            metadata={"description": "next_cursor of the previous page"})
        page = fields.Int(load_default=None, validate=validate.Range(1, 100_000),
                          metadata={"description": "deprecated (one release): use cursor"})

        @pre_load
        def legacy_per_page(self, data, **kwargs):
            # ``per_page`` of the first version means ``limit``
            if hasattr(data, "to_dict"):
                data = data.to_dict()
            data = dict(data)
            if "per_page" in data and "limit" not in data:
                data["limit"] = data.pop("per_page")
            else:
                data.pop("per_page", None)
            return data

    return PageQuery


def page_of(collection, query: dict, *, limit: int, cursor: str | None, page: int | None = None,
            sort: str = "_id", descending: bool = False, convert_id: Callable[[str], Any] = str,
            convert_sort: Callable[[str], Any] | None = None) -> tuple[list[dict], str | None]:
    """One page of ``collection`` in (``sort``, ``_id``) order after ``cursor``: (items, next_cursor)."""
    direction = -1 if descending else 1
    after = "$lt" if descending else "$gt"
    query = dict(query)
    if cursor:
        if sort == "_id":
            [last_id] = decode_cursor(cursor, 1)
            query["_id"] = {after: convert_id(last_id)}
        else:
            last_sort, last_id = decode_cursor(cursor, 2)
            value = convert_sort(last_sort) if convert_sort else last_sort
            query = {"$and": [query, {"$or": [{sort: {after: value}},
                                               {sort: value, "_id": {after: convert_id(last_id)}}]}]}
    order = [("_id", direction)] if sort == "_id" else [(sort, direction), ("_id", direction)]
    found = collection.find(query).sort(order)
    if page and page > 1 and not cursor:
        found = found.skip((page - 1) * limit)
    items = list(found.limit(limit + 1))
    more = len(items) > limit
    items = items[:limit]
    if not (more and items):
        return items, None
    last = items[-1]
    return items, (encode_cursor(last["_id"]) if sort == "_id" else encode_cursor(last.get(sort), last["_id"]))
