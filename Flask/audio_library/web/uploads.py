"""Streaming multipart ingest, shared by the API and the page's form: all parts stored, or none.

The body is parsed as it is read, in chunks: every part named "file" is written (and hashed) straight to a
hidden temporary file inside the library, so an upload is never held in memory and the final rename stays
on one filesystem. The first bytes of each file part are judged as soon as they arrive: a part that is
certainly not audio (`media.early_verdict`) is refused at once, with the rest of the body unread (the
server streams bodies, see `serving.streaming`, and closes the connection after such an answer). Only when
the whole body has arrived is every part validated by its bytes; only when all are audio is any committed.
Whatever happens, the temporary files are removed before the response.
"""

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from flask import Request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge, RequestTimeout
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from audio_library.library.entries import Entry
from audio_library.library.entry_json import file_json
from audio_library.library.storage import Library
from audio_library.media.early_verdict import VERDICT_BYTES, certainly_not_audio
from audio_library.media.examiner import Facts
from audio_library.media.second_judge import NON_AUDIO_MESSAGE
from audio_library.web.errors import DISK_FULL_ERRNOS, DISK_FULL_MESSAGE, UploadError, too_large_message
from audio_library.web.formatting import human_size


FILE_FIELD = "file"
CHUNK_SIZE = 256 * 1024


@dataclass
class ReceivedFile:
    """One complete `file` part in its temporary file, with what was learnt while writing it."""

    sent_name: str
    temporary: Path
    sha256: str = ""


@dataclass(frozen=True)
class StoredFile:
    """One part of a successful upload: the library entry, the name it was sent as, and what happened."""

    entry: Entry
    sent_name: str
    status: str  # "stored" | "renamed" | "duplicate"

    def to_json(self) -> dict[str, Any]:
        """The API's JSON for this file: the listing entry plus sent_name and status."""
        return file_json(self.entry, sent_name=self.sent_name, status=self.status)

    @property
    def outcome(self) -> str:
        """What happened, in words: "Uploaded", "Uploaded as “x”" or "Already in the library as “x”"."""
        if self.status == "duplicate":
            return f"Already in the library as “{self.entry.name}”"
        if self.status == "renamed":
            return f"Uploaded as “{self.entry.name}”"
        return "Uploaded"


def success_status(stored: list[StoredFile]) -> int:
    """The status of an upload that succeeded: 201, or 200 if every part was already in the library."""
    return 200 if all(item.status == "duplicate" for item in stored) else 201


def store_upload(library: Library, request: Request) -> list[StoredFile]:
    """Receive, validate and commit every part named "file" of a multipart/form-data request.

    All-or-nothing: returns one StoredFile per part, in the order sent, or raises UploadError (400 malformed
    or no file, 413 too large or too many parts, 415 "Non-audio file detected: <name>" or the other refusals of
    media.second_judge, 507 disk full) with nothing from the request left in the library. Call it before
    anything reads `request.form` or `request.files`: it reads the body stream itself.
    """
    receiver = _Receiver(library, request)
    try:
        received = receiver.receive()
        checked = [(part, _validate(library, part)) for part in received]
        return _commit_all(library, checked)
    except FileExistsError as error:  # every numbered variant of the name is taken
        raise UploadError(409, f"Every name for this file is taken ({error}): rename it and upload again.") from error
    except OSError as error:
        if error.errno in DISK_FULL_ERRNOS:
            raise UploadError(507, DISK_FULL_MESSAGE) from error
        raise
    finally:
        receiver.remove_temporaries()


class _Receiver:
    """Parses one multipart body as it streams in, writing each "file" part to its own temporary file."""

    def __init__(self, library: Library, request: Request) -> None:
        self.library = library
        self.request = request
        self.max_parts = request.max_form_parts
        self.max_field = request.max_form_memory_size
        self.temporaries: list[Path] = []
        self.received: list[ReceivedFile] = []
        self.parts = 0
        self.current: ReceivedFile | None = None
        self.sink: BinaryIO | None = None
        self.hasher = hashlib.sha256()
        self.field_size: int | None = None  # bytes of the current plain field; None inside a file part
        self.head = bytearray()  # the current file part's first bytes, until judged (then empty)
        self.judged = False

    def receive(self) -> list[ReceivedFile]:
        """Read the whole body; return the complete "file" parts in order."""
        if self.request.mimetype != "multipart/form-data":
            raise UploadError(400, 'Send the files as multipart/form-data, in parts named "file".')
        boundary = self.request.mimetype_params.get("boundary", "")
        if not boundary:
            raise UploadError(400, "The multipart body has no boundary in its Content-Type.")
        if not boundary.isascii():  # e.g. an RFC 2231 boundary*=UTF-8''%E2%82%AC, which latin-1 cannot encode
            raise UploadError(400, "The multipart boundary must be ASCII (RFC 2046).")
        decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=self.max_field)
        try:
            pieces = _pieces(_chunks(self.request), _feed_size(self.max_field), boundary.encode("latin-1"))
            for piece in pieces:
                try:
                    decoder.receive_data(piece or None)
                except RequestEntityTooLarge as error:
                    raise UploadError(413, "The headers of a part are too large.") from error
                while not isinstance(event := decoder.next_event(), (NeedData, Epilogue)):
                    if isinstance(event, (File, Field)):
                        self._start_part(event)
                    elif isinstance(event, Data):
                        self._take_data(event)
                if isinstance(event, Epilogue):
                    _drain(self.request)
                    break
        except (ClientDisconnected, RequestTimeout) as error:
            raise _unfinished(error) from error
        except ValueError as error:
            raise UploadError(400, f"The multipart body is malformed: {error}.") from error
        if not self.received:
            raise UploadError(400, 'No file was sent: the form needs a part named "file" with a file in it.')
        return self.received

    def remove_temporaries(self) -> None:
        """Close and delete every temporary file of this request (committed files are hard links: they stay)."""
        if self.sink is not None:
            # Closing flushes what is buffered, which fails again on a full disk: the file goes regardless.
            with contextlib.suppress(OSError):
                self.sink.close()
        for path in self.temporaries:
            path.unlink(missing_ok=True)

    def _start_part(self, event: File | Field) -> None:
        self.parts += 1
        if self.max_parts is not None and self.parts > self.max_parts:
            raise UploadError(413, f"Too many parts in the form: the limit is {self.max_parts}.")
        self.field_size = 0 if isinstance(event, Field) else None
        if isinstance(event, File) and event.name == FILE_FIELD:
            if not event.filename.strip():
                raise UploadError(400, "A file part has an empty file name: choose a file to upload.")
            path, self.sink = self.library.create_temporary()
            self.temporaries.append(path)
            self.current = ReceivedFile(event.filename, path)
            self.hasher = hashlib.sha256()
            self.head, self.judged = bytearray(), False

    def _take_data(self, event: Data) -> None:
        if self.sink is not None and self.current is not None:
            self.judge_early(self.current, event.data)
            self.sink.write(event.data)
            self.hasher.update(event.data)
            if not event.more_data:
                self.sink.close()
                self.current.sha256 = self.hasher.hexdigest()
                self.received.append(self.current)
                self.sink, self.current = None, None
        elif self.field_size is not None:
            self.field_size += len(event.data)
            if self.max_field is not None and self.field_size > self.max_field:
                raise UploadError(413, f"A form field is too large: the limit is {human_size(self.max_field)}.")

    def judge_early(self, part: ReceivedFile, data: bytes) -> None:
        """Gather the part's first VERDICT_BYTES; then refuse it if they prove it is not audio."""
        if self.judged:
            return
        self.head += data[: VERDICT_BYTES - len(self.head)]
        if len(self.head) >= VERDICT_BYTES:
            self.judged = True
            head, self.head = bytes(self.head), bytearray()
            if certainly_not_audio(head):
                raise UploadError(415, f"Non-audio file detected: {part.sent_name}", name=part.sent_name)


def _unfinished(error: ClientDisconnected | RequestTimeout) -> UploadError:
    """The refusal of a body that will not arrive whole: its client went (400), or stalled and waits (408)."""
    if isinstance(error, RequestTimeout):
        return UploadError(408, "The upload stalled: nothing arrived for the idle timeout; nothing was stored.")
    return UploadError(400, "The upload was cut off before its end; nothing was stored.")


def _drain(request: Request) -> None:
    """Read what follows the closing boundary (an epilogue, usually a line end), so that the body has been read
    whole and the connection can carry the next request."""
    while request.stream.read(CHUNK_SIZE):
        pass


def _chunks(request: Request) -> Iterator[bytes]:
    """The body in chunks of CHUNK_SIZE (the last one shorter), ending with b"" (the decoder's end-of-input
    signal). A streamed body arrives in whatever pieces the client sent, down to a byte; werkzeug's multipart
    decoder fed one or two bytes at a time keeps the CR of the line break before a boundary in the file's
    data, so pieces are gathered to full chunks first, as reads of a spooled body always were."""
    stream = request.stream
    try:
        while chunk := _read_full(stream, CHUNK_SIZE):
            yield chunk
    except RequestEntityTooLarge as error:  # a chunked body that grew past the limit
        raise UploadError(413, too_large_message(request.max_content_length or 0)) from error
    yield b""


def _read_full(stream: IO[bytes], size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream."""
    pieces = []
    wanted = size
    while wanted and (piece := stream.read(wanted)):
        pieces.append(piece)
        wanted -= len(piece)
    return b"".join(pieces)


def _feed_size(max_field: int | None) -> int:
    """How much to give the decoder at a time: it refuses to buffer more than max_field bytes, and it only
    buffers what it cannot yet parse (part headers), so a slice well under the limit keeps it from mistaking
    a large read for a large header."""
    return CHUNK_SIZE if max_field is None else max(1, min(CHUNK_SIZE, max_field // 4))


def _pieces(chunks: Iterator[bytes], size: int, boundary: bytes) -> Iterator[bytes]:
    """Re-slice the chunks to about `size` bytes each, keeping the final b"".

    No piece ends inside a delimiter line ("\r\n--boundary", then "\r\n" or "--\r\n"): werkzeug's decoder
    (3.1) that sees the boundary without the end of its line passes the CR before it on as part data, which
    stored a file one byte longer than was sent. So the last bytes of each chunk wait for the next one.
    """
    delimiter = b"\r\n--" + boundary
    line = len(delimiter) + 4
    held = b""
    for chunk in chunks:
        data, held = held + chunk, b""
        if chunk:  # the end of this chunk may cut a delimiter line: it goes with the next chunk
            data, held = data[:-line], data[-line:]
        start = 0
        while start < len(data):
            end = min(start + size, len(data))
            found = data.rfind(delimiter, start, end)
            if found >= 0 and found + line > end:  # a delimiter line starts in this piece and may not end in it
                end = found if found > start else min(found + line, len(data))
            yield data[start:end]
            start = end
        if not chunk:
            yield chunk


def _validate(library: Library, part: ReceivedFile) -> Facts:
    facts = library.examine(part.temporary)
    if facts.type is None:
        raise UploadError(415, f"{facts.refusal or NON_AUDIO_MESSAGE}: {part.sent_name}", name=part.sent_name)
    facts.sha256 = part.sha256
    return facts


def _commit_all(library: Library, checked: list[tuple[ReceivedFile, Facts]]) -> list[StoredFile]:
    stored: list[StoredFile] = []
    try:
        for part, facts in checked:
            committed = library.commit(part.temporary, part.sent_name, facts)
            stored.append(StoredFile(committed.entry, part.sent_name, committed.status))
    except BaseException:
        for done in stored:
            if done.status != "duplicate":
                library.withdraw(done.entry.on_disk)
        raise
    return stored
