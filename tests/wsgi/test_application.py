"""The credentials application called directly, through wsgiref.validate (PEP 3333 conformance)."""

import json
from typing import NamedTuple
from urllib.parse import quote, quote_plus
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import credentials
import pytest
from hypothesis import given
from hypothesis import strategies as st


class Answer(NamedTuple):
    status: str
    headers: dict[str, str]
    body: bytes


def call(method: str = "GET", query: str = "", path: str = "/") -> Answer:
    """Call the application as a server would, with wsgiref.validate checking both sides."""
    environ: dict[str, object] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
    }
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
        started.append((status, headers))
        return lambda data: None

    result = validator(credentials.application)(environ, start_response)  # type: ignore[arg-type]
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    status, headers = started[0]
    return Answer(status, dict(headers), body)


@pytest.mark.parametrize(("species", "expected"), sorted(credentials.CREDENTIALS.items()))
def test_every_species_gets_its_credentials(species: str, expected: str) -> None:
    for encoded in (quote(species), quote_plus(species)):
        answer = call(query=f"species={encoded}")
        assert answer.status == "200 OK"
        assert answer.body == json.dumps({"credentials": expected}).encode()
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Content-Length"] == str(len(answer.body))
        assert "Content-Encoding" not in answer.headers


def test_the_table_is_the_one_in_the_issue() -> None:
    assert len(credentials.CREDENTIALS) == 11
    assert credentials.CREDENTIALS["Time Lord"] == "Rassilon"
    assert credentials.CREDENTIALS["Judoon"] == "Shadow Proclamation Convention 15 Enforcer"


def test_body_bytes_are_exactly_json_dumps_with_default_separators() -> None:
    assert call(query="species=Time%20Lord").body == b'{"credentials": "Rassilon"}'


@pytest.mark.parametrize(
    "query",
    [
        "",  # no species at all
        "species",  # named without a value
        "species=",  # empty
        "species=Dalek&species=Dalek",  # repeated, even with one value
        "species=Dalek&species=Zygon",
        "species=%FF%FE",  # not UTF-8
        "species=%zz",  # not an escape
        "species=Dalek%",  # a truncated escape
        "species=Dal%00ek",  # an escaped NUL
        "species=Dalek\x00",  # a raw NUL
        "species=dalek",  # names match exactly, case included
        "species=%20Dalek",  # and spaces count
        "species=Gallifreyan",
        "kind=Dalek",
        "Species=Dalek",
    ],
)
def test_anything_but_one_known_species_is_unknown(query: str) -> None:
    answer = call(query=query)
    assert answer.status == "404 Not Found"
    assert answer.body == b'{"credentials": "Unknown"}'
    assert answer.headers["Content-Type"] == "application/json"


def test_other_parameters_are_ignored() -> None:
    assert call(query="lang=en&species=Dalek&x=%zz").body == b'{"credentials": "Davros"}'


def test_query_outside_latin1_from_a_broken_server_is_unknown() -> None:
    assert call(query="species=Dalek\u20ac").status == "404 Not Found"


def test_head_answers_like_get_without_a_body() -> None:
    get, head = call("GET", "species=Ood"), call("HEAD", "species=Ood")
    assert head.status == get.status == "200 OK"
    assert head.headers == get.headers
    assert head.body == b""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"])
def test_other_methods_are_not_allowed(method: str) -> None:
    answer = call(method, "species=Dalek")
    assert answer.status == "405 Method Not Allowed"
    assert answer.headers["Allow"] == "GET, HEAD"
    assert json.loads(answer.body) == {"error": "Method Not Allowed"}


@pytest.mark.parametrize("path", ["/x", "//", "/credentials", "/index.html"])
def test_other_paths_are_a_json_404(path: str) -> None:
    answer = call(query="species=Dalek", path=path)
    assert answer.status == "404 Not Found"
    assert answer.headers["Content-Type"] == "application/json"
    assert json.loads(answer.body) == {"error": "Not Found"}


def test_mounted_under_a_prefix_the_empty_path_is_the_root() -> None:
    assert call(query="species=Zygon", path="").body == b'{"credentials": "Broton"}'


@given(st.text())
def test_any_query_gets_a_json_200_or_404(query: str) -> None:
    answer = call(query=query)
    assert answer.status in ("200 OK", "404 Not Found")
    assert set(json.loads(answer.body)) == {"credentials"}
