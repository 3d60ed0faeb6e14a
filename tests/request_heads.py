"""Request heads for fuzzing live servers (the credentials service; the audio library, aimed at its Host and
API by its fuzz test; the sync and async servers of SyncAsync): valid ones, byte-level mutations of them, and a
strategy.

The mutations aim at what a parser trips on: every byte value in every position class, lengths from 0 past each
limit, numbers past Python's int-to-string limit, absolute-form targets, IPv6 literals and bad versions.
"""

import random
from collections.abc import Iterator

from credentials import MAX_BODY, MAX_HEAD, MAX_HEADERS, MAX_LENGTH_DIGITS, MAX_REQUEST_LINE
from hypothesis import strategies as st


INT_DIGIT_LIMIT = 4300  # sys.int_info.default_max_str_digits: int() refuses longer strings of digits
WELL_FORMED = b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
TARGETS = [
    b"/?species=Dalek",
    b"/",
    b"*",
    b"http://x/?species=Dalek",
    b"https://user:pw@x:8888/?species=Dalek#frag",
    b"http://[::1]/?species=Dalek",
    b"http://[::1]:80/?species=Dalek",
    b"http://[fe80::1%25eth0]/",
    b"http://[::1/",
    b"http://::1]/",
    b"http://[v1.x]/",
    b"http://x:99999999999999999999/",
    b"http:///?species=Dalek",
    b"http:",
    b"https://",
    b"//x/?species=Dalek",
]
VERSIONS = [
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/0.9",
    b"HTTP/2.0",
    b"HTTP/1.10",
    b"HTTP/1",
    b"HTTP/",
    b"http/1.1",
    b"HTTP/\xb9.1",
]
HEADERS = [
    b"Host: x",
    b"Content-Length: 0",
    b"Connection: keep-alive",
    b"Connection: close",
    b"Content-Type: text/plain",
    b"Transfer-Encoding: chunked",
    b"X-Forwarded-For: 127.0.0.1",
    b"Cookie: a=b",
]
BASES = [
    b"GET " + target + b" " + version + b"\r\n" + b"\r\n".join(HEADERS[:n]) + b"\r\n\r\n"
    for target in TARGETS
    for version in VERSIONS[:2]
    for n in (1, 3, 5)
]


def lengths_around_limits() -> list[int]:
    """Sizes from 0 to past each limit the server enforces, and past int()'s digit limit."""
    limits = (MAX_REQUEST_LINE, MAX_HEAD, MAX_HEADERS, MAX_BODY, MAX_LENGTH_DIGITS, INT_DIGIT_LIMIT)
    return sorted({0, 1, *(limit + delta for limit in limits for delta in (-1, 0, 1))})


LENGTHS = lengths_around_limits()


def replace_byte(head: bytes, at: int, rng: random.Random) -> bytes:
    return head[:at] + bytes([rng.randrange(256)]) + head[at + 1 :]


def insert_byte(head: bytes, at: int, rng: random.Random) -> bytes:
    return head[:at] + bytes([rng.randrange(256)]) + head[at:]


def delete_span(head: bytes, at: int, rng: random.Random) -> bytes:
    return head[:at] + head[at + rng.randrange(1, 16) :]


def add_long_length(head: bytes, at: int, rng: random.Random) -> bytes:
    """A Content-Length of ASCII or other Unicode digits, its length around a limit."""
    digits = (rng.choice("0123456789²³¹٣") * rng.choice(LENGTHS)).encode("utf-8")
    return head.replace(b"\r\n", b"\r\nContent-Length: " + digits + b"\r\n", 1)


def insert_run(head: bytes, at: int, rng: random.Random) -> bytes:
    """A run of one byte value, its length around a limit."""
    return head[:at] + bytes([rng.randrange(256)]) * rng.choice(LENGTHS) + head[at:]


def add_odd_header(head: bytes, at: int, rng: random.Random) -> bytes:
    """A known header with any byte value inside its name or value."""
    line = rng.choice(HEADERS)
    spot = rng.randrange(len(line) + 1)
    odd = line[:spot] + bytes([rng.randrange(256)]) + line[spot:]
    return head.replace(b"\r\n", b"\r\n" + odd + b"\r\n", 1)


def swap_target_or_version(head: bytes, at: int, rng: random.Random) -> bytes:
    line, _, rest = head.partition(b"\r\n")
    parts = line.split(b" ")
    if len(parts) == 3:
        parts[rng.randrange(1, 3)] = rng.choice(TARGETS + VERSIONS)
    return b" ".join(parts) + b"\r\n" + rest


def splice_head(head: bytes, at: int, rng: random.Random) -> bytes:
    return head[:at] + rng.choice(BASES) + head[at:]


MUTATIONS = [
    replace_byte,
    insert_byte,
    delete_span,
    add_long_length,
    insert_run,
    add_odd_header,
    swap_target_or_version,
    splice_head,
]


def mutated_heads(count: int, seed: int) -> Iterator[bytes]:
    """`count` mutated request heads, one to three mutations each, the same for the same seed."""
    rng = random.Random(seed)
    for _ in range(count):
        head = rng.choice(BASES)
        for _ in range(rng.randrange(1, 4)):
            head = rng.choice(MUTATIONS)(head, rng.randrange(len(head) + 1), rng)
        yield head


token = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1)
field_names = st.one_of(
    token.map(str.encode), st.binary(max_size=12), st.sampled_from([h.split(b":")[0] for h in HEADERS])
)
field_values = st.one_of(
    st.binary(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(lambda n: str(n).encode()),
    st.sampled_from(LENGTHS).map(lambda n: b"9" * n),
)
head_fields = st.lists(st.tuples(field_names, field_values), max_size=6)


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    """A request head built from parts, each drawn from valid, near-valid and arbitrary bytes."""
    method = draw(st.one_of(st.sampled_from([b"GET", b"HEAD", b"POST", b"get"]), st.binary(max_size=8)))
    target = draw(st.one_of(st.sampled_from(TARGETS), st.binary(max_size=60), st.builds(b"/?".__add__, st.binary())))
    version = draw(st.one_of(st.sampled_from(VERSIONS), st.binary(max_size=10)))
    fields = b"".join(
        name + b":" + draw(st.sampled_from([b"", b" ", b"\t"])) + value + b"\r\n" for name, value in draw(head_fields)
    )
    return method + b" " + target + b" " + version + b"\r\n" + fields + b"\r\n"
