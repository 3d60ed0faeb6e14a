"""Bad input: a clear 4xx and never a 500, with hand-picked cases and hypothesis against the live server."""

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.rawhttp import exchange
from devtools.servers import RunningServer
from FastAPI.server import (
    NORMAL_URL,
    InvalidURLError,
    domain_key,
    domain_of,
    normalise,
    normalise_slowly,
    origin,
    parse_settings,
    split_url,
)
from tests.crawler.service import crawler


MAX_BODY = 4096


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    flags = ("--max-urls", "5", "--max-url-length", "100", "--max-body", str(MAX_BODY), "--body-timeout", "1")
    with crawler(*flags) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as running:
        yield running


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "JSON list of URL strings"),
        (b"not json", "JSON list of URL strings"),
        (b"\xff\xfe", "JSON list of URL strings"),
        (b"[]", "non-empty JSON list"),
        (b'{"urls": ["a"]}', "non-empty JSON list"),
        (b'"example.org"', "non-empty JSON list"),
        (b"[1, 2]", "non-empty JSON list"),
        (b'["a", null]', "non-empty JSON list"),
        (b"[" * 2000 + b"]" * 2000, "JSON list of URL strings"),
        (b'["a", "b", "c", "d", "e", "f"]', "at most 5 URLs per task, got 6"),
        (json.dumps(["x" * 101]).encode(), "longer than 100 characters"),
        (b'["ftp://example.org/"]', "scheme 'ftp' is not http or https"),
        (b'["http://"]', "URL 0 ('http://')"),
        (b'["http://exa mple.org/"]', "spaces or control characters"),
        (b'["example.org", "http://[::1/"]', "URL 1"),
        (b'["http://example.org:99999/"]', "port"),
        (b'["http://ex%41mple.org/"]', "no valid host name"),
        (b'["http://a\\u0000b/"]', "control characters"),
    ],
)
def test_bad_bodies_are_422_with_a_reason(client: httpx.Client, body: bytes, detail: str) -> None:
    answer = client.post("/api/v1/tasks/", content=body)
    assert answer.status_code == 422
    assert detail in answer.json()["detail"]


def test_a_body_over_the_limit_is_413_before_it_is_read(server: RunningServer, client: httpx.Client) -> None:
    head = b"POST /api/v1/tasks/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"
    declared = exchange(server.port, head + b'["a"')  # the rest of the gigabyte never comes
    assert declared.status == 413
    chunks = iter([b'["' + b"a" * 1000] * 10 + [b'"]'])
    streamed = client.post("/api/v1/tasks/", content=chunks)  # chunked: no length to look at
    assert streamed.status_code == 413
    assert f"longer than {MAX_BODY} bytes" in streamed.json()["detail"]


def test_a_body_that_does_not_arrive_in_time_is_408(server: RunningServer) -> None:
    head = b"POST /api/v1/tasks/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    stalled = exchange(server.port, head + b'["a"')  # and then nothing more
    assert stalled.status == 408
    assert "did not arrive within 1 s" in str(stalled.json())


def test_task_ids(client: httpx.Client) -> None:
    malformed = client.get("/api/v1/tasks/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["detail"].startswith("path task_id: Input should be a valid UUID")
    unknown = client.get(f"/api/v1/tasks/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert "no task" in unknown.json()["detail"]


@pytest.mark.parametrize(
    ("flags", "env"),
    [(["--per-host", "0"], {}), (["--read-timeout", "soon"], {}), ([], {"CRAWLER_CONCURRENCY": "-3"})],
)
def test_bad_settings_are_usage_errors(
    flags: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        parse_settings(flags)
    assert exit_.value.code == 2
    assert "usage: server.py" in capsys.readouterr().err


def test_settings_come_from_flags_then_environment_then_env_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    here, home = tmp_path / "cwd", tmp_path / "FastAPI"
    here.mkdir()
    home.mkdir()
    for name in ("TIMEOUT", "CACHE_TTL", "CRAWLER_CACHE_TTL", "CRAWLER_PER_HOST", "CRAWLER_CONCURRENCY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    (home / ".env").write_text("TIMEOUT=9\nCRAWLER_PER_HOST=4\nCRAWLER_CONCURRENCY=30\n")
    assert parse_settings([], cwd=here, home=home)[1].cache_ttl == 9  # the original solution's name, in FastAPI/
    (here / ".env").write_text("# the working directory's file comes first\nexport TIMEOUT='7'\nCRAWLER_PER_HOST=5\n")
    settings = parse_settings([], cwd=here, home=home)[1]
    assert (settings.cache_ttl, settings.per_host, settings.concurrency) == (7, 5, 30)
    monkeypatch.setenv("TIMEOUT", "8")  # the environment overrides the files
    assert parse_settings([], cwd=here, home=home)[1].cache_ttl == 8
    assert parse_settings(["--cache-ttl", "6"], cwd=here, home=home)[1].cache_ttl == 6  # and flags override all
    (here / ".env").write_text("TIMEOUT=soon\n")
    monkeypatch.delenv("TIMEOUT")
    with pytest.raises(SystemExit):  # a bad value in a file is a usage error like any other
        parse_settings([], cwd=here, home=home)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("127.0.0.1:8/x?next=http://y", "http://127.0.0.1:8/x?next=http://y"),  # only a leading scheme counts
        ("example.org/a?b=c://d", "http://example.org/a?b=c://d"),
        ("HTTPS://Example.org/p", "https://example.org/p"),
        ("http://example.org/page#section", "http://example.org/page"),  # fragments are never sent
        ("http://user:secret@example.org:8080/x#y", "http://example.org:8080/x"),  # nor credentials kept
        ("user@example.org/", "http://example.org/"),
    ],
)
def test_normal_forms(raw: str, normal: str) -> None:
    assert normalise(raw, 100) == normal


def test_settings_come_from_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLER_PER_HOST", "7")
    monkeypatch.setenv("CACHE_TTL", "9.5")
    monkeypatch.setenv("CRAWLER_ALLOW_PRIVATE", "1")
    _, settings = parse_settings(["--per-host", "3", "--redis", "redis://127.0.0.1:1/0"])
    assert (settings.per_host, settings.cache_ttl, settings.allow_private) == (3, 9.5, True)
    assert settings.redis_url == "redis://127.0.0.1:1/0"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
url_like = st.text(alphabet=st.sampled_from("htps:/[]%@?#.:-_ aZ09\x00é\u200b"), max_size=40) | st.builds(
    "".join,
    st.lists(
        st.sampled_from(["http://", "https://", "127.0.0.1", "[::1]", ":80", ":0", "/x", "?q", "@", "..", "%"]),
        max_size=6,
    ),
)


@pytest.mark.fuzz
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.lists(url_like, max_size=7).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzzed_bodies_never_get_a_500(client: httpx.Client, body: bytes) -> None:
    answer = client.post("/api/v1/tasks/", content=body)
    assert answer.status_code in (201, 413, 422), answer.text
    assert isinstance(answer.json(), dict)


@pytest.mark.fuzz
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task_id=st.text(max_size=60))
def test_fuzzed_task_ids_never_get_a_500(client: httpx.Client, task_id: str) -> None:
    answer = client.get(f"/api/v1/tasks/{urllib.parse.quote(task_id, safe='')}")
    assert answer.status_code in (307, 404, 405, 422), answer.text  # 307: an id ending in a slash (%2F)


def test_the_server_is_still_well_after_the_fuzzing(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.fuzz
@settings(max_examples=500, deadline=None)
@given(raw=url_like | st.text(max_size=60))
def test_a_normalised_url_is_one_the_fetcher_can_use(raw: str) -> None:
    try:
        url = normalise(raw, 100)
    except InvalidURLError:
        return
    assert url.startswith(("http://", "https://"))
    assert domain_of(url)
    assert "#" not in url
    assert normalise(url, 100) == url
    # The fetcher's own quick split says what urlsplit says.
    parts = urllib.parse.urlsplit(url)
    scheme, netloc, target = split_url(url)
    assert (scheme, netloc) == (parts.scheme, parts.netloc)
    assert target == (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or ""
    assert origin(netloc) == (urllib.parse.unquote(host), parts.port, domain_key(host))


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None)
@given(raw=st.from_regex(NORMAL_URL, fullmatch=True))
def test_urls_taken_as_normal_are_what_httpx_makes_of_them(raw: str) -> None:
    try:
        slow = normalise_slowly(raw, 10_000)
    except InvalidURLError:
        with pytest.raises(InvalidURLError):
            normalise(raw, 10_000)
        return
    assert normalise(raw, 10_000) == slow
