"""Requests through Flask's test client that several suites send."""

import io
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse


def upload(client: FlaskClient, *files: tuple[str, bytes], path: str = "/api/files", **headers: str) -> TestResponse:
    """POST the (name, bytes) pairs as parts named "file" to `path` (the API; "/" is the page's plain form)."""
    data: dict[str, Any] = {"file": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(path, data=data, content_type="multipart/form-data", headers=headers)
