"""settings_env: each option from its flag, else its variable, else its default; a bad variable is a usage error."""

import argparse
import contextlib
import io
import socket
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settings_env import cannot_listen, environment_defaults, port_number, positive_int, positive_seconds


def parser_of(variables: dict[str, str], names: Mapping[str, tuple[str, ...]] | None = None) -> argparse.ArgumentParser:
    """A command line shaped like the products': a port, a path, a switch, a repeatable name, a counter."""
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--port", type=port_number, default=8000, help="TCP port")
    parser.add_argument("--cache-ttl", type=positive_seconds, default=300.0)
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1/")
    environment_defaults(parser, "TOOL", variables, names=names)
    return parser


def refusal(variables: dict[str, str], argv: list[str] | None = None) -> str:
    """The last line argparse writes when the variables (or flags) are refused with exit status 2."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        parser_of(variables).parse_args(argv or [])
    assert exit_.value.code == 2
    return stderr.getvalue().splitlines()[-1]


def test_a_flag_beats_its_variable_which_beats_the_default() -> None:
    assert parser_of({}).parse_args([]).port == 8000
    assert parser_of({"TOOL_PORT": "9000"}).parse_args([]).port == 9000
    assert parser_of({"TOOL_PORT": "9000"}).parse_args(["--port", "9100"]).port == 9100


def test_an_empty_variable_counts_as_unset() -> None:
    assert parser_of({"TOOL_PORT": ""}).parse_args([]).port == 8000


def test_a_bad_variable_is_a_usage_error_naming_it() -> None:
    assert refusal({"TOOL_PORT": "http"}) == "tool: error: TOOL_PORT: 'http' is not a TCP port number from 0 to 65535"
    assert refusal({"TOOL_CACHE_TTL": "-1"}) == "tool: error: TOOL_CACHE_TTL: '-1' is not a positive number of seconds"


def test_a_bad_variable_is_refused_even_when_its_flag_is_given() -> None:
    # A typo in the environment is found the day it is made, not the day the flag is dropped.
    assert refusal({"TOOL_PORT": "http"}, ["--port", "9000"]).startswith("tool: error: TOOL_PORT:")


def test_aliases_are_read_in_order_after_the_first_name() -> None:
    names = {"cache_ttl": ("TOOL_CACHE_TTL", "CACHE_TTL", "TIMEOUT")}
    assert parser_of({"TIMEOUT": "9"}, names).parse_args([]).cache_ttl == 9
    assert parser_of({"TIMEOUT": "9", "CACHE_TTL": "8"}, names).parse_args([]).cache_ttl == 8
    assert parser_of({"TIMEOUT": "9", "TOOL_CACHE_TTL": "7"}, names).parse_args([]).cache_ttl == 7
    assert parser_of({"TIMEOUT": "9"}, names).parse_args(["--cache-ttl", "6"]).cache_ttl == 6


def test_an_empty_list_of_names_leaves_the_option_to_the_command_line() -> None:
    parser = parser_of({"TOOL_PORT": "9000"}, {"port": ()})
    assert parser.parse_args([]).port == 8000
    assert "TOOL_PORT" not in parser.format_help()


@pytest.mark.parametrize(("word", "on"), [("1", True), ("true", True), ("Yes", True), ("ON", True), ("0", False)])
def test_a_switch_takes_the_usual_words(word: str, on: bool) -> None:
    assert parser_of({"TOOL_PRIVATE": word}).parse_args([]).private is on
    assert parser_of({"TOOL_PRIVATE": word}).parse_args(["--private"]).private is True


def test_a_switch_refuses_other_words() -> None:
    assert refusal({"TOOL_PRIVATE": "maybe"}).startswith("tool: error: TOOL_PRIVATE: 'maybe' is neither 1, true")


def test_a_repeatable_option_takes_a_comma_separated_list_added_to_its_flags() -> None:
    parser = parser_of({"TOOL_ALLOWED_HOST": " a.example, ,b.example "})
    assert parser.parse_args(["--allowed-host", "c.example"]).allowed_host == ["a.example", "b.example", "c.example"]


def test_an_optional_positional_reads_a_variable_but_help_and_counters_do_not() -> None:
    parser = parser_of({"TOOL_URL": "ws://elsewhere/", "TOOL_VERBOSE": "3", "TOOL_HELP": "1"})
    assert vars(parser.parse_args([])) == {
        "port": 8000,
        "cache_ttl": 300.0,
        "private": False,
        "allowed_host": [],
        "verbose": 0,
        "url": "ws://elsewhere/",
    }


def test_the_help_names_each_variable() -> None:
    text = " ".join(parser_of({}).format_help().split())
    assert "TCP port [env: TOOL_PORT]" in text
    for variable in ("TOOL_CACHE_TTL", "TOOL_PRIVATE", "TOOL_ALLOWED_HOST", "TOOL_URL"):
        assert f"[env: {variable}]" in text
    assert "TOOL_VERBOSE" not in text


def outcome(variables: dict[str, str], argv: list[str]) -> dict[str, object] | None:
    """The parsed options, or None for a usage error."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return vars(parser_of(variables).parse_args(argv))
        except SystemExit:
            return None


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1, max_size=12) | st.integers(-10, 70_000).map(str) | st.floats().map(str))
def test_a_variable_is_read_exactly_as_its_flag(text: str) -> None:
    for option, variable in (("--port", "TOOL_PORT"), ("--cache-ttl", "TOOL_CACHE_TTL")):
        assert outcome({variable: text}, []) == outcome({}, [f"{option}={text}"])


def test_the_shared_types_take_what_they_say_and_refuse_the_rest() -> None:
    assert [port_number(text) for text in ("0", "8888", "65535")] == [0, 8888, 65535]
    assert positive_int("12") == 12
    assert positive_seconds("0.5") == 0.5
    refused: list[tuple[Callable[[str], object], str]] = [(port_number, "65536"), (port_number, "-1")]
    refused += [
        (port_number, "http"),
        (positive_int, "0"),
        (positive_int, "1.5"),
        *((positive_seconds, text) for text in ("0", "-2", "nan", "inf", "soon")),
    ]
    for convert, text in refused:
        with pytest.raises(argparse.ArgumentTypeError):
            convert(text)


def test_a_port_in_use_says_how_to_choose_another() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use") as refused:
            socket.create_server(("127.0.0.1", port)).close()
    line = cannot_listen("127.0.0.1", port, refused.value, "TOOL_PORT", "run-tool")
    assert line == (
        f"port {port} on 127.0.0.1 is in use, perhaps by another server: choose another with --port N, "
        "TOOL_PORT=N or `make run-tool PORT=N`"
    )
