"""Response rendering: JSON (orjson, ``charset=utf-8``) and Open311's XML.

The XML follows GeoReport v2's conventions: a declaration naming UTF-8, the documented root, repeated
children for lists (``<services><service>…``), empty elements for nulls, ``true``/``false`` for
booleans, no namespace. Characters XML 1.0 cannot carry are dropped rather than producing a document no
parser accepts.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse, Response

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'

#: list key → element name of each item
ITEM_NAMES = {
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "photos": "photo",
    "notes": "note",
}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class JSON(JSONResponse):
    """JSON with the charset spelled out (Open311 asks for it) and orjson's speed."""

    media_type = JSON_TYPE

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type or JSON_TYPE, background)

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any, key: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _append(element, k, v)
    elif isinstance(value, list | tuple):
        item = ITEM_NAMES.get(key, "item")
        for v in value:
            child = ET.SubElement(element, item)
            _fill(child, v, item)
    else:
        element.text = _text(value)


def _append(parent: ET.Element, key: str, value: Any) -> None:
    child = ET.SubElement(parent, key)
    _fill(child, value, key)


def xml_document(root: str, value: Any, item: str | None = None) -> bytes:
    """``value`` (a dict, or a list of dicts each becoming an ``item`` element) under ``root``."""
    element = ET.Element(root)
    if isinstance(value, list):
        assert item is not None
        for v in value:
            child = ET.SubElement(element, item)
            _fill(child, v, item)
    else:
        _fill(element, value, root)
    return (XML_DECLARATION + ET.tostring(element, encoding="unicode")).encode()


def xml_response(root: str, value: Any, item: str | None = None, status_code: int = 200) -> Response:
    return Response(xml_document(root, value, item), status_code=status_code, media_type=XML_TYPE)


def open311_response(
    fmt: str, root: str, value: Any, item: str | None = None, status_code: int = 200
) -> Response:
    """The same data as JSON (root dropped) or XML (root kept), as GeoReport v2 maps them."""
    if fmt == "json":
        return JSON(value, status_code=status_code)
    return xml_response(root, value, item, status_code)


def open311_errors(fmt: str, status: int, descriptions: list[str]) -> Response:
    body = [{"code": status, "description": d} for d in descriptions]
    return open311_response(fmt, "errors", body, "error", status_code=status)
