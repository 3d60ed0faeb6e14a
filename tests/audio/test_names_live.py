"""Any name, against a live server: every listed file is served and deleted by its listed name, no 500s.

Files are copied in by hand under arbitrary byte names (not UTF-8, control characters, escapes, 255 bytes)
and uploaded under arbitrary sent names; whatever the listing shows must work as a name in every route.
"""

import os
from pathlib import Path
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devtools.multipart import Part, post_raw
from devtools.servers import audio_server
from devtools.wav import noise_wav
from tests.library_folders import on_disk, wait_until_examined
from tests.name_bytes import ISSUE_NAMES, byte_names, with_look_alikes


TIMEOUT = 10


def url(base: str, name: str, route: str = "/files/") -> str:
    return f"{base}{route}{quote(name, safe='')}"


def test_every_name_copied_in_is_listed_served_and_deleted(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    with audio_server(library) as server:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(byte_names, min_size=1, max_size=3, unique=True).map(with_look_alikes))
        @example([b"caf\x80", b"caf\xe9", b"caf\\xe9"]).via("the three names once listed as two")
        @example(list(ISSUE_NAMES)).via("the six names once listed as four")
        def check(names: list[bytes]) -> None:
            for leftover in on_disk(library):  # of an earlier example that failed
                (library / leftover).unlink()
            contents = {}
            for number, name in enumerate(names):
                content = noise_wav(number + 1)
                (library / os.fsdecode(name)).write_bytes(content)
                contents[content] = name
            wait_until_examined(server.url)
            listing = requests.get(f"{server.url}/api/files", timeout=TIMEOUT)
            assert listing.status_code == 200
            listed = [entry["name"] for entry in listing.json()]
            assert len(listed) == len(names) == len(set(listed))
            served = set()
            for name in listed:
                response = requests.get(url(server.url, name), timeout=TIMEOUT)
                assert response.status_code == 200, (name, response.text)
                served.add(contents[response.content])
                assert requests.get(f"{server.url}/", params={"q": name}, timeout=TIMEOUT).status_code == 200
            assert served == set(names)
            for name in listed:
                assert requests.delete(url(server.url, name, "/api/files/"), timeout=TIMEOUT).status_code == 204
            assert on_disk(library) == []

        check()


def test_every_sent_name_is_stored_served_and_deleted(tmp_path: Path) -> None:
    library = tmp_path / "library"
    with audio_server(library) as server:
        port = int(server.url.rsplit(":", 1)[1])

        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.binary(max_size=300))
        def check(sent: bytes) -> None:
            for leftover in on_disk(library):  # of an earlier example that failed
                (library / leftover).unlink()
            content = noise_wav(1)
            # The file name's bytes exactly as given, quotes and line breaks included: no client library's escaping.
            stored = post_raw(port, [Part(content, filename=sent)])
            assert stored.status in {201, 400}, stored.body
            if stored.status == 400:
                assert "error" in stored.json()  # type: ignore[operator]
                return  # an empty name (no file chosen) or a header the parser cannot read, said in JSON
            (entry,) = stored.json()["files"]  # type: ignore[index]
            assert requests.get(url(server.url, entry["name"]), timeout=TIMEOUT).content == content
            assert [listed["name"] for listed in requests.get(f"{server.url}/api/files", timeout=TIMEOUT).json()] == [
                entry["name"]
            ]
            assert requests.delete(url(server.url, entry["name"], "/api/files/"), timeout=TIMEOUT).status_code == 204

        check()
