"""Everything a client sends, parsed with Pydantic before any route uses it: query strings and /echo's bodies.

A value that cannot be parsed is a 4xx ApiError whose message names the field, never the input itself; what
was parsed is logged as its repr, so a peer's control characters reach the console escaped.
"""

import logging
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, JsonValue, TypeAdapter, ValidationError

from SyncAsync.core.answers import ApiError


MAX_QUERY_FIELDS = 20
MAX_FORM_FIELDS = 1000
log = logging.getLogger("incoming")
Model = TypeVar("Model", bound=BaseModel)
JSON_VALUE: TypeAdapter[JsonValue] = TypeAdapter(JsonValue)
FORM: TypeAdapter[dict[str, str | list[str]]] = TypeAdapter(dict[str, str | list[str]])
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def parse_query(model: type[Model], query_string: str) -> Model:
    """A query string parsed into the model, or a 400 ApiError naming what is wrong."""
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the query string cannot be read") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise ApiError(400, "a query parameter is given twice")
    try:
        parsed = model.model_validate(fields)
    except ValidationError as error:
        raise ApiError(400, validation_message(error)) from None
    log.info("%s %r", model.__name__, parsed)
    return parsed


def validation_message(error: ValidationError) -> str:
    """Pydantic's errors in one line, without echoing the input: `latitude: Input should be ...`."""
    parts = []
    for detail in error.errors(include_url=False, include_input=False):
        message = detail["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in detail["loc"])
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def media_type(content_type: str) -> tuple[str, Message]:
    """The lowercase media type of a Content-Type header, and the header parsed (for its parameters)."""
    header = Message(policy=HTTP)
    header["Content-Type"] = content_type
    return header.get_content_type(), header


def echoed(content_type: str, body: bytes) -> JsonValue:
    """What /echo answers for a body: the JSON it holds, or an object of its form fields.

    415 for any other kind of body, multipart with a file included; 400 for a body that is not what its
    Content-Type says.
    """
    kind, _ = media_type(content_type)
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        try:
            value = JSON_VALUE.validate_json(body)
        except ValidationError:
            raise ApiError(400, "the body is not valid JSON") from None
        log.info("echo: JSON of %d bytes", len(body))
        return value
    if kind == "application/x-www-form-urlencoded":
        return form(urlencoded_fields(body))
    if kind == "multipart/form-data":
        return form(multipart_fields(content_type, body))
    raise ApiError(415, "echo takes JSON or a form (urlencoded, or multipart without files)")


def urlencoded_fields(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the form cannot be read (urlencoded UTF-8 expected)") from None


def multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """The fields of a multipart/form-data body, parsed by the standard library's MIME parser."""
    _, header = media_type(content_type)
    if not header.get_param("boundary"):
        raise ApiError(400, "the multipart body has no boundary")
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if not parts or len(parts) > MAX_FORM_FIELDS:
        raise ApiError(400, "the multipart body cannot be read")
    fields = []
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        if part.get_content_disposition() != "form-data" or not isinstance(name, str):
            raise ApiError(400, "a multipart part is not a named form field")
        if part.get_filename() is not None or part.is_multipart():
            raise ApiError(415, "echo takes form fields, not files")
        payload = part.get_payload(decode=True)
        try:
            value = payload.decode(part.get_content_charset("utf-8")) if isinstance(payload, bytes) else ""
        except (LookupError, UnicodeDecodeError):
            raise ApiError(400, "a multipart field cannot be decoded") from None
        fields.append((name, value))
    return fields


def form(fields: list[tuple[str, str]]) -> JsonValue:
    """An object of the form's fields: a field given more than once becomes the list of its values."""
    collected: dict[str, str | list[str]] = {}
    for name, value in fields:
        earlier = collected.get(name)
        if earlier is None:
            collected[name] = value
        elif isinstance(earlier, list):
            earlier.append(value)
        else:
            collected[name] = [earlier, value]
    parsed = FORM.validate_python(collected)
    log.info("echo: form with fields %r", list(parsed))
    return {name: value if isinstance(value, str) else list[JsonValue](value) for name, value in parsed.items()}
