"""sonic.client on its own, against a real server: the transport draws nothing, tells progress through a
callback, and fails with typed errors whose words name no option of the command line."""

import os
from pathlib import Path

import pytest

from devtools.servers import LOOPBACK, audio_server, free_port
from devtools.wav import noise_wav, write_silence
from sonic.client import Credentials, LibraryClient
from sonic.errors import (
    ClientError,
    CredentialsRefusedError,
    CredentialsWantedError,
    NoServerError,
    NotAFileError,
    ServerError,
)
from tests.cli.screwdriver_runs import Screwdriver
from tests.users_files import write_users_file


TIMEOUT = 30.0


def test_an_upload_tells_its_callback_of_every_byte_sent(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "song.wav", 3 * 1024 * 1024 + 17)  # more than one chunk, not a whole number
    counts: list[int] = []

    with LibraryClient(screwdriver.url, TIMEOUT, None) as client:
        entry = client.upload(song, counts.append)

    assert entry["name"] == "song.wav"
    assert len(counts) > 1
    assert sum(counts) == song.stat().st_size
    assert screwdriver.content("song.wav") == song.read_bytes()


def test_an_upload_of_several_chunks_arrives_byte_for_byte(screwdriver: Screwdriver, files: Path) -> None:
    song = files / "noise.wav"
    song.write_bytes(noise_wav(seconds=210))  # 3.4 MB of noise: a piece sent twice or out of place would show

    with LibraryClient(screwdriver.url, TIMEOUT, None) as client:
        client.upload(song)

    assert screwdriver.content("noise.wav") == song.read_bytes()


def test_a_file_that_shrinks_during_its_upload_is_a_clear_error(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "song.wav", 3 * 1024 * 1024)

    def shrink(count: int) -> None:  # after the first chunk: the second is cut off halfway through
        os.truncate(song, 3 * 1024 * 1024 // 2)

    with (
        LibraryClient(screwdriver.url, TIMEOUT, None) as client,
        pytest.raises(ClientError, match=r"^the file shrank while it was being uploaded$"),
    ):
        client.upload(song, shrink)
    assert screwdriver.names() == []


def test_a_download_hands_out_the_file_as_it_comes(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "song.wav", 2 * 1024 * 1024)
    with LibraryClient(screwdriver.url, TIMEOUT, None) as client:
        client.upload(song)

        with client.download("song.wav") as download:
            size = download.size
            received = b"".join(download.chunks)

    assert size == song.stat().st_size
    assert received == song.read_bytes()


def test_a_listing_and_a_delete(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "song.wav", 4096)
    with LibraryClient(screwdriver.url, TIMEOUT, None) as client:
        client.upload(song)
        listed = [entry["name"] for entry in client.list_files().entries]
        client.delete("song.wav")
        with pytest.raises(ServerError) as missing:
            client.delete("song.wav")

    assert listed == ["song.wav"]
    assert screwdriver.names() == []
    assert missing.value.status == 404


def test_a_folder_is_not_a_file(screwdriver: Screwdriver, files: Path) -> None:
    with LibraryClient(screwdriver.url, TIMEOUT, None) as client, pytest.raises(NotAFileError) as refused:
        client.upload(files)

    assert refused.value.directory
    assert_names_no_option(refused.value)


def test_credentials_wanted_and_refused_are_told_apart(library_dir: Path, tmp_path: Path, files: Path) -> None:
    users = write_users_file(tmp_path / "users", {"alice": "correct-horse"})
    song = write_silence(files / "song.wav", 4096)
    wrong = Credentials("alice", "nope", "a test")

    with audio_server(library_dir, "--users", str(users)) as server:
        with LibraryClient(server.url, TIMEOUT, None) as client, pytest.raises(CredentialsWantedError) as wanted:
            client.upload(song)
        with LibraryClient(server.url, TIMEOUT, wrong) as client, pytest.raises(CredentialsRefusedError) as refused:
            client.upload(song)

    assert str(wanted.value) == f"the server at {server.url} needs a user name and password"
    assert str(refused.value) == f"the server at {server.url} refused the password of 'alice'"
    assert_names_no_option(wanted.value)
    assert_names_no_option(refused.value)


def test_nothing_listening_is_no_server() -> None:
    url = f"http://{LOOPBACK}:{free_port()}"

    with LibraryClient(url, TIMEOUT, None) as client, pytest.raises(NoServerError) as failed:
        client.list_files()

    assert str(failed.value).startswith(f"cannot reach the server at {url}: ")
    assert_names_no_option(failed.value)


def assert_names_no_option(error: ClientError) -> None:
    """The transport's words are for any caller: the command line adds its options itself."""
    for option in ("--", "SCREWDRIVER_", "netrc", "upload -r"):
        assert option not in str(error)
