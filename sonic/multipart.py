"""An upload's body: multipart/form-data with one `file` part, streamed from disk with its length known."""

import secrets
from collections.abc import Callable, Iterator
from io import BufferedIOBase

from sonic.errors import ClientError


CHUNK_SIZE = 1024 * 1024  # bytes read from a file, or from a download, at a time

# Told, after each chunk of a transfer, how many bytes it held: how the client reports progress.
Advance = Callable[[int], None]


class MultipartUpload:
    """A multipart/form-data body with one `file` part, read from disk chunk by chunk as it is sent.

    Its length is known in advance, so the request carries a Content-Length and the server can refuse
    a file that is too large before any of it is sent; memory use stays at one chunk.
    """

    def __init__(self, file: BufferedIOBase, filename: str, size: int, advance: Advance | None) -> None:
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

    def __iter__(self) -> Iterator[bytes | memoryview]:
        """The body's pieces. The file's chunks are views of one buffer, refilled for each: each is sent whole
        (sendall) before the next is asked for, and the memory is not taken afresh for every MiB."""
        yield self.head
        buffer = bytearray(CHUNK_SIZE)
        remaining = self.size
        while remaining > 0:
            view = memoryview(buffer)[: min(CHUNK_SIZE, remaining)]
            try:
                count = self.file.readinto(view)
            except OSError as error:
                # Not an OSError any more: requests would report it as a network failure.
                raise ClientError(f"cannot read the file: {error.strerror}") from error
            if not count:
                raise ClientError("the file shrank while it was being uploaded")
            remaining -= count
            yield view[:count]
            if self.advance is not None:
                self.advance(count)
        yield self.tail


def quote_filename(name: str) -> str:
    """Escape a file name for a multipart header the way browsers do: raw UTF-8, with `"` and CR/LF escaped."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
