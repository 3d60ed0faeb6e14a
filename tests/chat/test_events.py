"""The events' one boundary: JSON as the Redis scripts publish it becomes a dataclass, anything else an error."""

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from WebSocket.events import Announced, EventError, Joined, Left, Said, decode


def test_published_json_becomes_the_dataclass_with_its_epoch() -> None:
    # cjson writes "/" as "\/" and leaves out nothing: these are the shapes the scripts publish.
    assert decode('{"kind":"joined","name":"Client 1","token":"ab\\/1","epoch":"run\\/x"}') == (
        "run/x",
        Joined("Client 1", "ab/1"),
    )
    assert decode('{"kind":"left","name":"Client 2","partner":"","epoch":"e"}') == ("e", Left("Client 2"))
    assert decode('{"kind":"said","sender":"Client 2","line":"0 Client 2: hi","to":"","epoch":"e"}')[1] == Said(
        "Client 2", "0 Client 2: hi"
    )
    assert decode(json.dumps({"kind": "announced", "text": "lunch", "epoch": "e"}))[1] == Announced("lunch")


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        '{"kind":"joined","name":"Client 1","token":"t"}',  # no epoch
        '{"kind":"nope","epoch":"e"}',
        '{"kind":"joined","name":"Client 1","epoch":"e"}',  # a field missing
        '{"kind":"joined","name":"Client 1","token":"t","extra":"x","epoch":"e"}',
        '{"kind":"joined","name":1,"token":"t","epoch":"e"}',
    ],
)
def test_anything_else_is_an_event_error(data: str) -> None:
    with pytest.raises(EventError):
        decode(data)


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_no_input_raises_anything_but_an_event_error(data: str | bytes) -> None:
    with contextlib.suppress(EventError):
        decode(data)
