"""GeoReport v2 JSON shapes as jsonschema dicts, restated for these tests.

Source: the public JSON Schemas of ``open311/schema-validation`` (``schema/georeport-v2/service.json``,
``service-definition.json``, ``request.json``, ``requests.json``; commit 1116d930). That repository has
no licence, so nothing is copied from it: the required fields, types and value checks below are written
out here in our own words. On top of them, :data:`REQUEST_STRICT` adds civicloop's own promises
(docs/open311.md §6): every standard key present, ``address`` a string, ``lat``/``long`` numbers.
"""

from __future__ import annotations

from typing import Any

NULL_STR: dict[str, Any] = {"type": ["string", "null"]}
DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"

SERVICE: dict[str, Any] = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": NULL_STR,
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": NULL_STR,
        "group": NULL_STR,
    },
}
SERVICES: dict[str, Any] = {"type": "array", "items": SERVICE}

VALUE: dict[str, Any] = {
    "type": "object",
    "required": ["key", "name"],
    "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
}
ATTRIBUTE: dict[str, Any] = {
    "type": "object",
    "required": ["variable", "code", "datatype", "required"],
    "properties": {
        "variable": {"type": "boolean"},
        "code": {"type": "string"},
        "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]},
        "required": {"type": "boolean"},
        "datatype_description": NULL_STR,
        "order": {"type": ["integer", "null"]},
        "description": NULL_STR,
        "values": {"type": "array", "items": VALUE},
    },
}
DEFINITION: dict[str, Any] = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {"service_code": {"type": "string"}, "attributes": {"type": "array", "items": ATTRIBUTE}},
}

REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"enum": ["open", "closed"]},
        "status_notes": NULL_STR,
        "service_name": NULL_STR,
        "service_code": {"type": "string"},
        "description": {"anyOf": [{"type": "string", "maxLength": 4000}, {"type": "null"}]},
        "agency_responsible": NULL_STR,
        "service_notice": NULL_STR,
        "requested_datetime": {"type": "string", "pattern": DATETIME},
        "updated_datetime": {"anyOf": [{"type": "string", "pattern": DATETIME}, {"type": "null"}]},
        "expected_datetime": {"anyOf": [{"type": "string", "pattern": DATETIME}, {"type": "null"}]},
        "address": NULL_STR,
        "address_id": NULL_STR,
        "zipcode": NULL_STR,
        "lat": {"type": ["number", "null"]},
        "long": {"type": ["number", "null"]},
        "media_url": {
            "anyOf": [{"type": "string", "format": "uri", "pattern": "^https?://"}, {"type": "null"}]
        },
    },
}
REQUESTS: dict[str, Any] = {"type": "array", "items": REQUEST}

STANDARD_KEYS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
REQUEST_STRICT: dict[str, Any] = {
    "allOf": [
        REQUEST,
        {
            "required": STANDARD_KEYS,
            "properties": {
                "address": {"type": "string", "minLength": 1},
                "lat": {"type": "number"},
                "long": {"type": "number"},
            },
        },
    ]
}
REQUESTS_STRICT: dict[str, Any] = {"type": "array", "items": REQUEST_STRICT}

POST_RESPONSE: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "oneOf": [
            {"required": ["service_request_id"], "not": {"required": ["token"]}},
            {"required": ["token"], "not": {"required": ["service_request_id"]}},
        ],
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "token": {"type": "string", "minLength": 1},
            "service_notice": NULL_STR,
            "account_id": NULL_STR,
        },
    },
}
ERRORS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}},
    },
}
DISCOVERY: dict[str, Any] = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": {"type": "string", "pattern": DATETIME},
        "contact": {"type": "string", "minLength": 1},
        "key_service": {"type": "string", "minLength": 1},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"const": "http://wiki.open311.org/GeoReport_v2"},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "contains": {"const": "text/xml"}},
                },
            },
        },
    },
}
