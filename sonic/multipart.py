"""An upload's body: multipart/form-data with one `file` part, streamed from disk with its length known."""

import secrets
from collections.abc import Callable, Iterator
from io import BufferedReader

from sonic.errors import ClientError


CHUNK_SIZE = 1024 * 1024  # bytes of a file sent, or of a download read, at a time

# Told, after each chunk of a transfer, how many bytes it held: how the client reports progress.
Advance = Callable[[int], None]


class FileRun:
    """A run of an upload's file, one piece of the body: the transport sends it from the file with sendfile
    where it can (sonic.transport), and http.client reads it like any file where it cannot (TLS, a proxy)."""

    def __init__(self, file: BufferedReader, offset: int, size: int) -> None:
        self.file = file
        self.offset = offset
        self.size = size
        self.remaining = size

    def read(self, size: int = -1) -> bytes:
        """Up to `size` of the run's bytes not read yet; b"" at its end, or where the file ends early."""
        wanted = self.remaining if size < 0 else min(size, self.remaining)
        try:
            data = self.file.read(wanted)
        except OSError as error:
            # Not an OSError any more: requests would report it as a network failure.
            raise ClientError(f"cannot read the file: {error.strerror}") from error
        self.remaining -= len(data)
        return data


class MultipartUpload:
    """A multipart/form-data body with one `file` part, taken from disk a chunk at a time as it is sent.

    Its length is known in advance, so the request carries a Content-Length and the server can refuse
    a file that is too large before any of it is sent; memory use stays at one chunk at most.
    """

    def __init__(self, file: BufferedReader, filename: str, size: int, advance: Advance | None) -> None:
        self.file = file
        self.size = size
        self.advance = advance
        boundary = "screwdriver-" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self.head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{quote_filename(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes | FileRun]:
        """The body's pieces: the file as runs of a chunk each, every one sent whole before the next is made."""
        yield self.head
        start = self.file.tell()
        for offset in range(start, start + self.size, CHUNK_SIZE):
            run = FileRun(self.file, offset, min(CHUNK_SIZE, start + self.size - offset))
            yield run
            # The file's position follows what was sent, by read or by sendfile (which seeks the file after).
            if self.file.tell() < offset + run.size:
                raise ClientError("the file shrank while it was being uploaded")
            if self.advance is not None:
                self.advance(run.size)
        yield self.tail


def quote_filename(name: str) -> str:
    """Escape a file name for a multipart header the way browsers do: raw UTF-8, with `"` and CR/LF escaped."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
