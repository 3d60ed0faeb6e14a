"""Content-Security-Policy: the page allows only what it uses, files are sandboxed, the rest loads nothing."""

import pytest
from audio_library.web.content_policy import FILE_POLICY, OTHER_POLICY, PAGE_POLICY
from flask.testing import FlaskClient

from tests.audio.flask_client import upload
from tests.library_folders import fixture_bytes


def directives(policy: str) -> dict[str, str]:
    return dict(directive.strip().partition(" ")[::2] for directive in policy.split(";"))


def test_the_page_may_load_only_its_own_scripts_styles_covers_audio_and_api(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY
    assert directives(PAGE_POLICY) == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "media-src": "'self'",
        "connect-src": "'self'",
        "form-action": "'self'",
        "base-uri": "'none'",
        "frame-ancestors": "'none'",
    }
    assert "unsafe" not in PAGE_POLICY
    assert b"<script>" not in response.data  # nothing inline to allow
    assert b" style=" not in response.data


def test_the_pages_of_errors_and_confirmations_carry_it_too(client: FlaskClient) -> None:
    upload(client, ("tone.flac", fixture_bytes("tagged.flac")))
    assert client.get("/?page=999999").headers["Content-Security-Policy"] == PAGE_POLICY
    confirm = client.get("/delete/tone.flac")
    assert confirm.mimetype == "text/html"
    assert confirm.headers["Content-Security-Policy"] == PAGE_POLICY


@pytest.mark.parametrize("path", ["/files/tone.flac", "/files/tone.flac/cover", "/files/tone.flac?download=1"])
def test_downloads_and_covers_are_sandboxed(client: FlaskClient, path: str) -> None:
    upload(client, ("tone.flac", fixture_bytes("tagged.flac")))
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == FILE_POLICY == "sandbox allow-same-origin"


@pytest.mark.parametrize("path", ["/api/files", "/static/js/library.js", "/nowhere"])
def test_every_other_answer_may_load_nothing(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == OTHER_POLICY
    assert directives(OTHER_POLICY)["default-src"] == "'none'"
