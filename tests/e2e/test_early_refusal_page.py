"""The page shows a refusal from the first bytes of a big upload at once: Chromium stops sending when the
server answers and closes."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devtools.servers import RunningServer
from tests.e2e.browser import upload_item
from tests.library_folders import leftovers, listed_names, on_disk


pytestmark = pytest.mark.browser

SIZE = 300 * 1000 * 1000
SENT_BOUND = 64 * 1024 * 1024  # the first MiB, the server's pipe, the socket buffers and what is drained
# Records, per upload, the most bytes the browser reported sent.
COUNT_SENT = """
window.uploadedBytes = 0;
const send = XMLHttpRequest.prototype.send;
XMLHttpRequest.prototype.send = function (body) {
  this.upload.addEventListener("progress", (event) => {
    window.uploadedBytes = Math.max(window.uploadedBytes, event.loaded);
  });
  return send.call(this, body);
};
"""


def test_a_big_non_audio_file_is_refused_before_it_is_sent(
    page: Page, server: RunningServer, library_dir: Path, tmp_path: Path
) -> None:
    video = tmp_path / "holiday.mp3"
    with video.open("wb") as file:  # sparse: a PDF's first line, then nothing stored
        file.write(b"%PDF-1.4\n")
        file.truncate(SIZE)
    page.add_init_script(COUNT_SENT)
    page.goto("/")
    page.set_input_files("#file-input", str(video))
    expect(page.locator(upload_item(video.name)).locator(".upload-status")).to_have_text("Non-audio file detected")
    assert page.evaluate("window.uploadedBytes") < SENT_BOUND
    assert on_disk(library_dir) == []
    assert leftovers(library_dir) == []
    assert listed_names(server.url) == []
