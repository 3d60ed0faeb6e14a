"""Hypothesis strategies: credentials query strings whose right answer is known by construction."""

from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from credentials import CREDENTIALS
from hypothesis import strategies as st


NEAR_MISSES = ("dalek", "Dalek ", " Dalek", "Time  Lord", "TimeLord", "Time Lord\x00", "Tíme Lord", "Zygons", "")


@dataclass(frozen=True)
class Query:
    """A query string and the species it names — None if it names none, several, or an undecodable one."""

    raw: bytes
    species: str | None


def _percent_every_byte(text: str, upper: bool) -> bytes:
    return "".join(f"%{byte:02X}" if upper else f"%{byte:02x}" for byte in text.encode()).encode()


def _raw_utf8(text: str) -> bytes:
    """UTF-8 as it comes, but for what would end the value or change its meaning: what a sloppy client sends."""
    return "".join(quote(char, safe="") if char in "%&+#" or not char.isprintable() else char for char in text).encode()


PERCENT_ENCODINGS = {
    "quote": lambda text: quote(text, safe="").encode(),
    "quote_plus": lambda text: quote_plus(text, safe="").encode(),
    "every byte, upper hex": lambda text: _percent_every_byte(text, upper=True),
    "every byte, lower hex": lambda text: _percent_every_byte(text, upper=False),
}
ENCODINGS = {**PERCENT_ENCODINGS, "raw UTF-8": _raw_utf8}

values = st.one_of(st.sampled_from(sorted(CREDENTIALS)), st.sampled_from(NEAR_MISSES), st.text(max_size=20))
visible_ascii = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="&=%#")
other_keys = st.text(alphabet=visible_ascii, max_size=8).filter(lambda key: key != "species")


@st.composite
def queries(draw: st.DrawFn, raw: bool = True) -> Query:
    """Zero to three `species` fields among other fields, each value encoded in one of several ways; with
    raw=False only percent-encoded, as a request line on the wire must be."""
    named = draw(st.lists(values, max_size=3))
    encodings = ENCODINGS if raw else PERCENT_ENCODINGS
    fields = []
    for value in named:
        encode = encodings[draw(st.sampled_from(sorted(encodings)))]
        fields.append(b"species=" + encode(value))
    for key, value in draw(st.lists(st.tuples(other_keys, st.text(max_size=10)), max_size=3)):
        fields.append(key.encode() + b"=" + quote(value, safe="").encode())
    fields = draw(st.permutations(fields))
    species = named[0] if len(named) == 1 and named[0] in CREDENTIALS else None
    return Query(b"&".join(fields), species)
