"""The order of the library: names as people sort them, the same in the API, the page and screwdriver."""

from audio_library.library.names import natural_sort_key
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from devtools.wav import noise_wav
from sonic.output import name_sort_key
from tests.audio.flask_client import upload
from tests.examples import MANY_EXAMPLES


SENT = ["Track 10.wav", "track 2.wav", "big.wav", "Tone A440.mp3", "Track 1.wav", "a9b.wav", "a10b.wav"]
EXPECTED = ["a9b.wav", "a10b.wav", "big.wav", "Tone A440.mp3", "Track 1.wav", "track 2.wav", "Track 10.wav"]


def test_the_listing_sorts_case_insensitively_and_numbers_by_value(client: FlaskClient) -> None:
    for number, name in enumerate(SENT):
        assert upload(client, (name, noise_wav(number))).status_code == 201
    assert [entry["name"] for entry in client.get("/api/files").json] == EXPECTED  # type: ignore[union-attr]


def test_the_page_shows_the_same_order(client: FlaskClient) -> None:
    for number, name in enumerate(SENT):
        assert upload(client, (name, noise_wav(number))).status_code == 201
    html = client.get("/").get_data(as_text=True)
    positions = [html.index(f'data-name="{name}"') for name in EXPECTED]
    assert positions == sorted(positions)


# Names as they come: any text, with digits (also other scripts' digits) and case changes made likely.
names = st.text(
    alphabet=st.one_of(st.sampled_from("0123456789\u0660\u0661\u0662aAbBzZ ._-"), st.characters(codec="utf-8")),
    max_size=30,
)


@MANY_EXAMPLES
@given(st.lists(names, max_size=20))
def test_screwdriver_keeps_the_order_the_api_sends(sent: list[str]) -> None:
    listed = sorted(sent, key=natural_sort_key)
    assert sorted(listed, key=name_sort_key) == listed


@MANY_EXAMPLES
@given(names, names)
def test_the_server_and_screwdriver_compare_any_two_names_alike(first: str, second: str) -> None:
    server = natural_sort_key(first)[0] < natural_sort_key(second)[0]
    client = name_sort_key(first) < name_sort_key(second)
    assert server == client
