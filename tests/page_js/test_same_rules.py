"""The page script keeps the server's rules: natural order, the filter's text, sizes, durations and type names.

Generated input goes to the page's own modules, run by a real Node (page_rules.js), and to the server's
functions; both must answer alike.
"""

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from audio_library.library.names import natural_sort_key
from audio_library.web.formatting import FORMAT_NAMES, format_duration, format_name, human_size
from audio_library.web.page import normalized
from hypothesis import given, settings
from hypothesis import strategies as st


RULES_SCRIPT = Path(__file__).with_name("page_rules.js")
ANSWER_TIMEOUT = 10.0  # seconds Node may take to answer one request
MAX_ANSWER_BYTES = 1 << 20


class PageRules:
    """One Node process running page_rules.js: a JSON line in, a JSON line out."""

    def __init__(self, node: str) -> None:
        self.process = subprocess.Popen([node, str(RULES_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.pending = b""

    def ask(self, rule: str, values: list[object]) -> list[object]:
        """The page's answer for each of `values` (for "order", the values sorted)."""
        assert self.process.stdin is not None
        request = {"rule": rule, "values": values, "names": FORMAT_NAMES}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        answer: list[object] = json.loads(self._line())
        return answer

    def _line(self) -> bytes:
        assert self.process.stdout is not None
        descriptor = self.process.stdout.fileno()
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while b"\n" not in self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(self.pending) > MAX_ANSWER_BYTES:
                raise AssertionError(f"no answer from {RULES_SCRIPT.name} within {ANSWER_TIMEOUT} s")
            if select.select([descriptor], [], [], remaining)[0]:
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    raise AssertionError(f"{RULES_SCRIPT.name} exited with {self.process.wait(ANSWER_TIMEOUT)}")
                self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()  # Node ends when its input does
        try:
            self.process.wait(ANSWER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def page_rules() -> Iterator[PageRules]:
    """The page's rules in Node; skipped (failed under CI=true) if Node is not installed."""
    node = shutil.which("node")
    if node is None:
        message = "node not found: install the Debian package `nodejs` (apt-get install nodejs)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    rules = PageRules(node)
    yield rules
    rules.close()


# Characters of the server's Unicode version (unassigned ones may be letters with a case in the browser's), and
# those where case, digits and Unicode forms differ most between Python and JavaScript made likely.
TRICKY = (
    "0123456789\u0660\u0661\u0662\U0001d7ce\U0001d7d7"  # ASCII, Arabic-Indic and mathematical digits
    "aAbBzZ ._-"
    "ßẞ\u0131Ii\u0130\u03c2\u03c3\u03a3\uab70\u13f8\u13a0ǅ"  # sharp s, dotless and dotted i, sigmas, Cherokee
    "ﬁ①Ⅻ\uff21\u0301"  # compatibility forms and a combining accent, for NFKC
)
# Each example is a round trip to Node: no deadline, the machine may be busy.
round_trips = settings(max_examples=300, deadline=None)
characters = st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8", exclude_categories=["Cn"]))
texts = st.text(alphabet=characters, max_size=30)


@round_trips
@given(st.lists(texts, max_size=30))
def test_the_page_sorts_names_as_the_server_does(page_rules: PageRules, names: list[str]) -> None:
    assert page_rules.ask("order", list(names)) == sorted(names, key=natural_sort_key)


@round_trips
@given(st.lists(texts, max_size=30))
def test_the_page_filters_on_the_same_text_as_the_server(page_rules: PageRules, values: list[str]) -> None:
    assert page_rules.ask("filter", list(values)) == [normalized(value) for value in values]


sizes = st.one_of(st.integers(0, 2**50), st.sampled_from([1023, 1024, 1025, 1024**2 - 1, 1024**3, 1024**4]))


@round_trips
@given(st.lists(sizes, max_size=30))
def test_the_page_writes_sizes_as_the_server_does(page_rules: PageRules, values: list[int]) -> None:
    assert page_rules.ask("size", list(values)) == [human_size(value) for value in values]


durations = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.integers(0, 20_000).map(lambda halves: halves / 2),  # every half second: rounding to even
)


@round_trips
@given(st.lists(durations, max_size=30))
def test_the_page_writes_durations_as_the_server_does(page_rules: PageRules, values: list[float | None]) -> None:
    assert page_rules.ask("duration", list(values)) == [format_duration(value) for value in values]


# MIME types as detection gives them, and odder ones: case, spaces, parameters, no subtype, several slashes.
token = st.text(alphabet="abcxz-+./=;AMPEG0 ", max_size=8)
mime_types = st.one_of(
    st.sampled_from(list(FORMAT_NAMES)),
    st.builds(lambda known, case: known.upper() if case else known, st.sampled_from(list(FORMAT_NAMES)), st.booleans()),
    st.builds(lambda a, b, c: f"{a}/{b}{c}", token, token, token),
)


@round_trips
@given(st.lists(mime_types, max_size=30))
def test_the_page_names_formats_as_the_server_does(page_rules: PageRules, values: list[str]) -> None:
    assert page_rules.ask("format", list(values)) == [format_name(value) for value in values]
