"""Property-based tests (hypothesis) of the two parsers hostile input reaches first.

The credentials query parser, through the whole WSGI application under `wsgiref.validate`: never a 500,
200 only for exactly one species of the table. The audio library's file-name sanitiser: whatever name is
sent, the result is one plain, visible, bounded name that lands directly in the library folder — checked
by creating the file in a real temporary folder — and sanitising is deterministic and idempotent.
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import credentials
from audio_library.library.names import MAX_NAME_BYTES, numbered_name, sanitize_filename
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.ledger import Ledger
from tests.reliability.strategies import Query, queries


EXAMPLES = 500
APP = validator(credentials.application)


def call(query_string: str) -> tuple[int, bytes]:
    """Run the application, checked by wsgiref.validate, for one query string; its status and body."""
    environ: dict[str, object] = {"QUERY_STRING": query_string}
    setup_testing_defaults(environ)
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> object:
        started.append(status)
        assert ("Content-Type", "application/json") in headers
        return lambda data: None

    result = APP(environ, start_response)  # type: ignore[arg-type]
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return int(started[0].split()[0]), body


@settings(max_examples=EXAMPLES, deadline=None)
@given(query=queries())
def test_a_constructed_query_gets_exactly_its_species(query: Query, ledger: Ledger) -> None:
    ledger.note("credentials: constructed queries through wsgiref.validate", 1)
    status, body = call(query.raw.decode("latin-1"))
    if query.species is None:
        assert (status, body) == (404, b'{"credentials": "Unknown"}')
    else:
        assert (status, body) == (200, credentials.json_body({"credentials": credentials.CREDENTIALS[query.species]}))


@settings(max_examples=EXAMPLES, deadline=None)
@given(query_string=st.text())
def test_any_query_string_is_a_200_or_a_404(query_string: str, ledger: Ledger) -> None:
    ledger.note("credentials: arbitrary query strings through wsgiref.validate", 1)
    status, body = call(query_string)
    assert status in {200, 404}
    if status == 200:
        named = parse_qs(query_string, keep_blank_values=True).get("species", [])
        assert any(body == credentials.CREDENTIALS_BODIES[species] for species in named)
    else:
        assert body == b'{"credentials": "Unknown"}'


# The file-name sanitiser

path_like = st.lists(
    st.one_of(
        st.sampled_from(["..", ".", "/", "\\", "\0", " ", "\u202e", "\n", "%2e", "~", "C:"]), st.text(max_size=8)
    ),
    max_size=12,
).map("".join)
sent_names = st.one_of(st.text(), path_like, st.text(min_size=200, max_size=400))


@settings(max_examples=EXAMPLES, deadline=None)
@given(sent=sent_names, number=st.integers(min_value=1, max_value=10_000))
def test_any_sent_name_becomes_one_file_directly_in_the_library(sent: str, number: int, ledger: Ledger) -> None:
    ledger.note("file names sanitised and created in a real folder", 1)
    name = sanitize_filename(sent)
    assert name == sanitize_filename(sent)  # deterministic
    assert sanitize_filename(name) == name  # idempotent
    for candidate in (name, numbered_name(name, number)):
        assert candidate
        assert not candidate.startswith(".")
        assert "/" not in candidate
        assert "\0" not in candidate
        assert len(candidate.encode()) <= MAX_NAME_BYTES
        with tempfile.TemporaryDirectory() as folder:
            library = Path(folder).resolve()
            assert (library / candidate).resolve().parent == library
            with (library / candidate).open("xb") as created:  # the filesystem takes it as it is
                created.write(b"x")
            assert os.listdir(library) == [candidate]
