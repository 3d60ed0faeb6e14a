"""The library page in a real Chromium against a real server: upload, play, seek, drop, delete, no JavaScript."""

import base64
import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from audio_library.media.detection import BEYOND_LIMITS
from playwright.sync_api import Browser, Dialog, Page, expect

from devtools.servers import RunningServer, audio_server
from devtools.wav import noise_wav, write_silence
from tests.e2e.browser import VIEWPORTS, open_tab, row, save_screenshot, upload_item, wait_in_page, write
from tests.fixtures.real_world import container, junk_chunks
from tests.library_folders import fixture_bytes, listed_names, on_disk
from tests.polling import wait_until


pytestmark = pytest.mark.browser

NON_AUDIO = "Non-audio file detected"
CURRENT = re.compile(r"\bis-current\b")


def test_an_uploaded_file_appears_and_its_player_loads_and_seeks(
    page: Page, server: RunningServer, library_dir: Path, tmp_path: Path
) -> None:
    song = write(tmp_path, "Песня про зайцев.wav", noise_wav(1, seconds=4.0))
    page.goto("/")
    expect(page.locator("#empty")).to_be_visible()
    page.set_input_files("#file-input", str(song))

    expect(page.locator(upload_item(song.name)).locator(".upload-status")).to_have_text("Uploaded")
    track = page.locator(row(song.name))
    expect(track).to_be_visible()
    expect(track.locator(".c-format")).to_have_text("WAV")
    expect(track.locator(".c-duration")).to_have_text("0:04")
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator("#summary")).to_have_text("1 track · 62.5 KiB")
    assert on_disk(library_dir) == [song.name]

    track.locator("button.play").click()
    expect(page.locator("#now-title")).to_have_text(song.name)
    wait_in_page(page, "document.getElementById('player').duration > 3.9")
    duration = page.evaluate("document.getElementById('player').duration")
    assert duration == pytest.approx(4.0, abs=0.05)
    position = page.evaluate(
        """() => new Promise((resolve) => {
            const player = document.getElementById('player');
            player.pause();
            player.addEventListener('seeked', () => resolve(player.currentTime), { once: true });
            player.currentTime = 2.5;
        })"""
    )
    assert position == pytest.approx(2.5, abs=0.05)
    save_screenshot(page, tmp_path, "uploaded-and-playing")

    page.reload()
    expect(page.locator(row(song.name))).to_be_visible()


@pytest.mark.parametrize("fixture", ["mp3-id3v2.mp3", "vorbis.ogg", "opus.opus", "flac.flac", "ogg-named.mp3"])
def test_the_player_loads_other_formats(page: Page, library_dir: Path, fixture: str) -> None:
    write(library_dir, fixture, fixture_bytes(fixture))
    page.goto("/")
    page.locator(row(fixture)).locator("button.play").click()
    wait_in_page(page, "document.getElementById('player').duration > 0.5")
    assert page.evaluate("document.getElementById('player').error") is None


def test_opus_is_labelled_opus_when_uploaded_and_when_listed(page: Page, tmp_path: Path) -> None:
    voice = write(tmp_path, "voice.opus", fixture_bytes("opus.opus"))
    page.goto("/")
    page.set_input_files("#file-input", str(voice))
    expect(page.locator(row("voice.opus")).locator(".c-format")).to_have_text("Opus")
    page.reload()
    expect(page.locator(row("voice.opus")).locator(".c-format")).to_have_text("Opus")


def test_a_non_audio_file_is_rejected_with_the_message_and_not_stored(
    page: Page, server: RunningServer, library_dir: Path, tmp_path: Path
) -> None:
    fake = write(tmp_path, "holiday.mp3", fixture_bytes("image.jpg"))
    page.goto("/")
    page.set_input_files("#file-input", str(fake))
    item = page.locator(upload_item("holiday.mp3"))
    expect(item.locator(".upload-status")).to_have_text(NON_AUDIO)
    expect(page.locator("#announcer")).to_have_text(f"holiday.mp3: {NON_AUDIO}")
    expect(page.locator("#tracks tbody tr")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    save_screenshot(page, tmp_path, "non-audio-rejected")
    assert on_disk(library_dir) == []
    assert listed_names(server.url) == []


def test_a_file_beyond_the_examination_limits_is_refused_saying_so(
    page: Page, library_dir: Path, tmp_path: Path
) -> None:
    # More chunks than detection walks, and no audio after them that FFmpeg could play either.
    crowded = write(tmp_path, "crowded.wav", container(b"WAVE", junk_chunks(5000)))
    page.goto("/")
    page.set_input_files("#file-input", str(crowded))
    expect(page.locator(upload_item("crowded.wav")).locator(".upload-status")).to_have_text(BEYOND_LIMITS)
    assert on_disk(library_dir) == []


def test_several_files_at_once_with_one_non_audio(
    page: Page, server: RunningServer, library_dir: Path, tmp_path: Path
) -> None:
    files = [
        write(tmp_path, "one.wav", noise_wav(2, seconds=1.0)),
        write(tmp_path, "two.mp3", fixture_bytes("mp3-plain.mp3")),
        write(tmp_path, "report.ogg", fixture_bytes("document.pdf")),
        write(tmp_path, "three.ogg", fixture_bytes("vorbis.ogg")),
    ]
    page.goto("/")
    page.set_input_files("#file-input", [str(path) for path in files])
    for name in ("one.wav", "two.mp3", "three.ogg"):
        expect(page.locator(upload_item(name)).locator(".upload-status")).to_have_text("Uploaded")
    expect(page.locator(upload_item("report.ogg")).locator(".upload-status")).to_have_text(NON_AUDIO)
    expect(page.locator("#uploads progress:visible")).to_have_count(0)
    names = page.locator("#tracks tbody a.track-name").all_text_contents()
    assert names == ["one.wav", "three.ogg", "two.mp3"]
    save_screenshot(page, tmp_path, "several-files")
    assert on_disk(library_dir) == ["one.wav", "three.ogg", "two.mp3"]
    assert listed_names(server.url) == ["one.wav", "three.ogg", "two.mp3"]


DROP_FILES = """async (files) => {
    const transfer = new DataTransfer();
    for (const [name, type, encoded] of files) {
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type }));
    }
    const target = document.querySelector('#tracks, #empty');
    const fire = (type) => target.dispatchEvent(
        new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true })
    );
    fire('dragenter');
    fire('dragover');
    const overlayShown = !document.getElementById('drop-overlay').hidden;
    const accepted = !fire('drop');  // the page cancels the drop it handles
    return { overlayShown, accepted, overlayAfter: !document.getElementById('drop-overlay').hidden };
}"""


def test_each_upload_shows_its_progress_and_can_be_cancelled(page: Page, library_dir: Path, tmp_path: Path) -> None:
    slow = write_silence(tmp_path / "slow.wav", 3_000_000)
    quick = write(tmp_path, "quick.wav", noise_wav(16))
    page.goto("/")
    throttle = page.context.new_cdp_session(page)
    throttle.send("Network.enable")
    throttle.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 300_000},
    )
    page.set_input_files("#file-input", [str(slow), str(quick)])
    slow_item = page.locator(upload_item("slow.wav"))
    expect(page.locator(upload_item("quick.wav")).locator(".upload-status")).to_have_text("Uploaded")
    wait_in_page(
        page,
        """() => [...document.querySelectorAll('#uploads li')].some((item) =>
            item.querySelector('.upload-name').textContent === 'slow.wav'
            && item.querySelector('progress').value > 0 && item.querySelector('progress').value < 100)""",
    )
    expect(slow_item.locator(".upload-status")).to_contain_text("Uploading…")
    save_screenshot(page, tmp_path, "upload-in-progress")
    slow_item.get_by_role("button", name="Cancel the upload of slow.wav").click()
    expect(slow_item.locator(".upload-status")).to_have_text("Upload cancelled: nothing was stored.")
    expect(page.locator(row("slow.wav"))).to_have_count(0)
    # The server removes the cut-off upload's temporary file once it sees the disconnect.
    wait_until(lambda: on_disk(library_dir) == ["quick.wav"], "only quick.wav is left in the folder")


def test_files_dropped_on_the_page_are_uploaded(page: Page, server: RunningServer, library_dir: Path) -> None:
    page.goto("/")
    dropped = [
        ["dropped.wav", "audio/wav", base64.b64encode(noise_wav(3)).decode()],
        ["dropped.txt", "text/plain", base64.b64encode(b"just some notes").decode()],
    ]
    outcome = page.evaluate(DROP_FILES, dropped)
    assert outcome == {"overlayShown": True, "accepted": True, "overlayAfter": False}
    expect(page.locator(upload_item("dropped.wav")).locator(".upload-status")).to_have_text("Uploaded")
    expect(page.locator(upload_item("dropped.txt")).locator(".upload-status")).to_have_text(NON_AUDIO)
    expect(page.locator(row("dropped.wav"))).to_be_visible()
    assert on_disk(library_dir) == ["dropped.wav"]


def test_delete_asks_first_and_removes_the_track(page: Page, server: RunningServer, library_dir: Path) -> None:
    write(library_dir, "keep.wav", noise_wav(4))
    write(library_dir, "gone.wav", noise_wav(5))
    page.goto("/")
    messages: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator(row("gone.wav")).locator("a.delete").click()
    expect(page.locator(row("gone.wav"))).to_be_visible()
    assert messages == ["Delete “gone.wav” from the library? This cannot be undone."]
    assert on_disk(library_dir) == ["gone.wav", "keep.wav"]

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(row("gone.wav")).locator("a.delete").click()
    expect(page.locator(row("gone.wav"))).to_have_count(0)
    expect(page.locator("#tracks tr.row-note")).to_contain_text("gone.wavDeleted.")
    expect(page.locator("#summary")).to_contain_text("1 track ·")
    assert on_disk(library_dir) == ["keep.wav"]
    assert listed_names(server.url) == ["keep.wav"]


def test_the_next_track_plays_when_one_ends(page: Page, library_dir: Path) -> None:
    write(library_dir, "a first.wav", noise_wav(6, seconds=0.5))
    write(library_dir, "b second.wav", noise_wav(7, seconds=0.5))
    page.goto("/")
    first, second = page.locator(row("a first.wav")), page.locator(row("b second.wav"))
    first.locator("a.track-name").click()  # a plain click on the name plays it in the page
    # Half a second later the first has ended and the second plays (checking the first title here could race).
    expect(page.locator("#now-title")).to_have_text("b second.wav")
    expect(second).to_have_class(CURRENT)
    expect(first).not_to_have_class(CURRENT)
    wait_in_page(page, "document.getElementById('player').ended")
    assert page.evaluate("new URL(document.getElementById('player').src).pathname") == "/files/b%20second.wav"
    page.locator("#previous").click()
    expect(page.locator("#now-title")).to_have_text("a first.wav")
    expect(first).to_have_class(CURRENT)


def test_keyboard_alone_can_play_a_track(page: Page, library_dir: Path) -> None:
    write(library_dir, "keys.wav", noise_wav(8, seconds=2.0))
    page.goto("/")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('play')"):
            break
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Play keys.wav"
    page.keyboard.press("Enter")
    expect(page.locator("#now-title")).to_have_text("keys.wav")
    wait_in_page(page, "!document.getElementById('player').paused")
    expect(page.locator(":focus")).to_have_attribute("aria-label", "Pause keys.wav")
    page.keyboard.press("Enter")
    wait_in_page(page, "document.getElementById('player').paused")
    expect(page.locator(":focus")).to_have_attribute("aria-label", "Play keys.wav")


def test_too_large_and_unreachable_are_said_plainly(browser: Browser, library_dir: Path, tmp_path: Path) -> None:
    big = write(tmp_path, "big.wav", noise_wav(9, seconds=2.0))
    with ExitStack() as serving:
        server = serving.enter_context(audio_server(library_dir, "--max-size", "20000"))
        with open_tab(browser, server.url) as page:
            page.goto("/")
            page.set_input_files("#file-input", str(big))
            status = page.locator(upload_item("big.wav")).locator(".upload-status")
            expect(status).to_have_text("Too large: 31.3 KiB; the limit is 19.5 KiB.")
            # Under the limit itself, over it with the form's framing: the server's 413 says so.
            edge = write(tmp_path, "edge.wav", noise_wav(9, seconds=1.24))
            assert len(edge.read_bytes()) == 19_884
            page.set_input_files("#file-input", str(edge))
            expect(page.locator(upload_item("edge.wav")).locator(".upload-status")).to_have_text(
                "The upload is too large: the limit is 19.5 KiB (20000 bytes) per request."
            )
            serving.close()  # the server stops; the page stays open
            small = write(tmp_path, "small.wav", noise_wav(10))
            page.set_input_files("#file-input", str(small))
            expect(page.locator(upload_item("small.wav")).locator(".upload-status")).to_have_text(
                "Upload failed: the server is unreachable."
            )
            save_screenshot(page, tmp_path, "errors")
    assert on_disk(library_dir) == []


def test_without_javascript_the_plain_form_uploads_and_shows_the_messages(
    page_without_js: Page, library_dir: Path, tmp_path: Path
) -> None:
    page = page_without_js
    song = write(tmp_path, "plain.wav", noise_wav(11))
    fake = write(tmp_path, "fake.wav", fixture_bytes("document.docx"))
    page.goto("/")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("label.button")).to_be_hidden()
    expect(page.locator("button.play").first).to_be_hidden()

    page.set_input_files("#file-input", str(song))
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Upload").click()
    assert navigation.value is not None
    assert navigation.value.status == 201
    expect(page.locator("#notices li")).to_have_text("plain.wavUploaded")
    expect(page.locator(row("plain.wav"))).to_be_visible()
    assert on_disk(library_dir) == ["plain.wav"]

    page.set_input_files("#file-input", str(fake))
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Upload").click()
    assert navigation.value is not None
    assert navigation.value.status == 415
    notice = page.locator("#notices li")
    expect(notice.locator(".notice-name")).to_have_text("fake.wav")
    expect(notice.locator(".notice-text")).to_have_text(NON_AUDIO)
    save_screenshot(page, tmp_path, "no-javascript-rejected")
    assert on_disk(library_dir) == ["plain.wav"]

    page.get_by_role("link", name="Delete plain.wav").click()
    expect(page.get_by_role("heading", name="Delete this track?")).to_be_visible()
    save_screenshot(page, tmp_path, "no-javascript-confirm-delete")
    assert on_disk(library_dir) == ["plain.wav"]
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#notices li")).to_have_text("plain.wavDeleted.")
    expect(page.locator("#empty")).to_be_visible()
    assert on_disk(library_dir) == []


def test_long_and_unicode_names_and_hundreds_of_tracks_keep_the_layout(
    browser: Browser, library_dir: Path, tmp_path: Path
) -> None:
    long_name = "A very long recording name that goes on " * 5 + ".wav"
    write(library_dir, long_name.strip(), noise_wav(12))
    write(library_dir, "日本語のタイトル — Ünïcödé ☕ 🎵.wav", noise_wav(13))
    write(library_dir, "<b>not bold & co.wav", noise_wav(14))
    song = noise_wav(15)
    for number in range(300):
        write(library_dir, f"track {number:03}.wav", song)
    with audio_server(library_dir) as server:
        for viewport, size in VIEWPORTS.items():
            with open_tab(browser, server.url, viewport) as page:
                page.goto("/")
                expect(page.locator("#tracks tbody tr")).to_have_count(303)
                assert page.locator("audio").count() == 1
                assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
                expect(page.locator("a.track-name", has_text="<b>not bold & co.wav")).to_be_visible()
                save_screenshot(page, tmp_path, f"many-tracks-{viewport}", full_page=False)
