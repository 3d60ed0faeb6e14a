"""The media child: one FFmpeg job (through PyAV) on untrusted bytes, within the limits it is started with.

`sandbox.py` runs it as `python -I child.py TASK CPU_S MEMORY FILE_SIZE ARGUMENTS...`, with the file it works
on as an inherited descriptor and nothing else open. It imports nothing of the server's (so it starts in a
tenth of a second), sets its limits before it reads a byte of the file, and answers on stdout:

    measure FD SECONDS       one JSON object: the container, its streams, and how decoding up to SECONDS of
                             its audio went; {"opened": false} when FFmpeg cannot open it at all
    cover FD MAX_BYTES       the attached picture's bytes (nothing when there is none or it is bigger)
    transcode FD OUT KIND    the audio re-encoded into the descriptor OUT: KIND "webm" is Opus in WebM, "mp3"
                             MP3; then one JSON object {"seconds": decoded}

Exit statuses: 0 done; 1 FFmpeg or the file failed the job; 2 bad arguments; 3 out of memory. Past the CPU
limit the kernel stops it with SIGXCPU (then SIGKILL); a write past the file-size limit gets SIGXFSZ.
"""

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

# PyAV and FFmpeg are our code, loaded before main() sets the limits, so those measure the job, not the
# start-up; the file's bytes are read only after.
import av


# Text kept of one tag value (the server cuts it further): bounds what a file can make this child print.
MAX_TAG_TEXT = 2000
TAG_KEYS = ("title", "artist", "album_artist", "album", "track")
MAX_PACKETS = 100_000  # a measure stops after this many packets of any stream, however short they are
MAX_OPEN_FILES = 32
PR_SET_PDEATHSIG = 1  # Linux's prctl option: a signal for this process when the thread that started it ends
PROBE_OPTIONS = {"probesize": str(2 * 1024 * 1024), "analyzeduration": "5000000"}
# Codec options that make decoders check what they can (a frame whose CRC fails is an error, not noise).
DECODE_OPTIONS = {"err_detect": "crccheck"}
OPUS_BIT_RATE = 96_000
MP3_BIT_RATE = 160_000
MP3_RATES = (48_000, 44_100, 32_000)


def set_limits(cpu_seconds: int, memory_bytes: int, file_bytes: int) -> None:
    """Bound this process before it touches the file: CPU time, address space, files written, descriptors, no
    core dump, and death with the server."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    # Killed with the server, never left to run out its limits as an orphan (Linux; elsewhere the limits do).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def open_input(descriptor: int) -> BinaryIO:
    """The inherited file, from its start: FFmpeg probes its bytes, never a name (there is none to see)."""
    stream = os.fdopen(descriptor, "rb")
    stream.seek(0)
    return stream


def measure(descriptor: int, seconds: float) -> dict[str, Any]:
    """What the file is to FFmpeg: its container, streams and tags, and how well up to `seconds` of its first
    audio stream decode (every packet counted good or bad, with its bytes)."""
    try:
        container = av.open(open_input(descriptor), "r", options=PROBE_OPTIONS)
    except (av.FFmpegError, OSError, ValueError):
        return {"opened": False}
    with container:
        audio = next((stream for stream in container.streams if stream.type == "audio"), None)
        found: dict[str, Any] = {
            "opened": True,
            "format": container.format.name,
            "streams": [
                {
                    "type": stream.type,
                    "codec": stream.codec_context.name if stream.codec_context is not None else None,
                    "picture": bool(stream.disposition & av.stream.Disposition.attached_pic),
                    "frames": stream.frames,
                    "packets": 0,
                }
                for stream in container.streams
            ],
            "duration": _duration(container, audio),
            "tags": _tags(container, audio),
            "cover": None,
        }
        found.update(_decode(container, audio, seconds, found["streams"]))
    return found


def _duration(container: Any, audio: Any) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / 1_000_000
    if audio is not None and audio.duration is not None and audio.time_base is not None and audio.duration > 0:
        return float(audio.duration * audio.time_base)
    return None


def _tags(container: Any, audio: Any) -> dict[str, str]:
    """Title, artist, album artist, album and track from the container's tags, else the audio stream's (Ogg and
    Matroska keep them there)."""
    sources = [container.metadata, audio.metadata if audio is not None else {}]
    tags: dict[str, str] = {}
    for key in TAG_KEYS:
        for source in sources:
            value = next((text for name, text in source.items() if name.lower() == key), None)
            if value:
                tags[key] = str(value)[:MAX_TAG_TEXT]
                break
    return tags


def _decode(container: Any, audio: Any, seconds: float, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Demux every stream (counting each one's packets) and decode the first audio stream's until `seconds` of
    audio came out, the file ended or MAX_PACKETS passed."""
    decoded = {"good_packets": 0, "bad_packets": 0, "good_bytes": 0, "bad_bytes": 0, "seconds": 0.0, "eof": False}
    decoded["tail_bad_bytes"] = 0  # bad bytes since the last good packet: a file cut short ends with them
    cover: dict[str, Any] | None = None
    if audio is not None:
        audio.codec_context.thread_count = 1
        audio.codec_context.options = DECODE_OPTIONS
    packets = _packets(container)
    for count, packet in enumerate(packets):
        if count >= MAX_PACKETS or decoded["seconds"] >= seconds:
            break
        info = streams[packet.stream.index]
        if packet.size:
            info["packets"] += 1
        if info["picture"] and cover is None and packet.size:
            cover = {"head": bytes(packet)[:16].hex(), "size": packet.size}
        if audio is None or packet.stream.index != audio.index:
            if audio is None and count >= 2 * len(streams):  # enough to tell a still from a moving picture
                break
            continue
        try:
            frames = audio.codec_context.decode(packet)
        except av.FFmpegError:
            decoded["bad_packets"] += 1
            decoded["bad_bytes"] += packet.size
            decoded["tail_bad_bytes"] += packet.size
            continue
        if packet.size:
            decoded["good_packets"] += 1
            decoded["good_bytes"] += packet.size
            decoded["tail_bad_bytes"] = 0
        decoded["seconds"] += sum(frame.samples / frame.sample_rate for frame in frames if frame.sample_rate)
    else:
        decoded["eof"] = True
    return {**decoded, "cover": cover}


def _packets(container: Any) -> Iterator[Any]:
    """Every packet in file order; a demuxing error ends the file as FFmpeg's players end it."""
    demuxer = container.demux()
    while True:
        try:
            yield next(demuxer)
        except (StopIteration, av.FFmpegError, EOFError):
            return


def cover(descriptor: int, max_bytes: int) -> bytes:
    """The first attached picture's bytes, or b"" if there is none of at most max_bytes."""
    with av.open(open_input(descriptor), "r", options=PROBE_OPTIONS) as container:
        pictures = {s.index for s in container.streams if s.disposition & av.stream.Disposition.attached_pic}
        if not pictures:
            return b""
        for count, packet in enumerate(_packets(container)):
            if count >= MAX_PACKETS:
                break
            if packet.stream.index in pictures and packet.size:
                return bytes(packet) if packet.size <= max_bytes else b""
    return b""


def transcode(descriptor: int, out_descriptor: int, kind: str) -> dict[str, Any]:
    """Decode the first audio stream whole and encode it as Opus in WebM or as MP3 into `out_descriptor`;
    packets that do not decode are skipped, as players skip them."""
    seconds = 0.0
    with (
        av.open(open_input(descriptor), "r", options=PROBE_OPTIONS) as source,
        av.open(os.fdopen(out_descriptor, "wb"), "w", format="webm" if kind == "webm" else "mp3") as target,
    ):
        audio = source.streams.audio[0]
        audio.codec_context.thread_count = 1
        channels = min(2, max(1, audio.codec_context.channels))
        layout = "stereo" if channels == 2 else "mono"
        if kind == "webm":
            rate = 48_000
            encoder = target.add_stream("libopus", rate=rate, layout=layout)
            encoder.codec_context.bit_rate = OPUS_BIT_RATE
        else:
            source_rate = audio.codec_context.sample_rate or 0
            rate = source_rate if source_rate in MP3_RATES else 44_100
            encoder = target.add_stream("libmp3lame", rate=rate, layout=layout)
            encoder.codec_context.bit_rate = MP3_BIT_RATE
        encoder.codec_context.thread_count = 1
        encoder.codec_context.open(strict=False)  # only an open encoder knows its frame size
        context = encoder.codec_context
        resampler = av.AudioResampler(format=context.format, layout=layout, rate=rate, frame_size=context.frame_size)
        for packet in _packets(source):
            if packet.stream.index != audio.index:
                continue
            try:
                frames = audio.codec_context.decode(packet)
            except av.FFmpegError:
                continue
            for frame in frames:
                seconds += frame.samples / frame.sample_rate if frame.sample_rate else 0.0
                frame.pts = None
                for resampled in resampler.resample(frame):
                    target.mux(encoder.encode(resampled))
        for resampled in resampler.resample(None):
            target.mux(encoder.encode(resampled))
        target.mux(encoder.encode(None))
    return {"seconds": seconds}


def main(argv: list[str]) -> int:
    """Run one task; see the module's docstring."""
    try:
        task, cpu, memory, file_size, *arguments = argv
        set_limits(int(cpu), int(memory), int(file_size))
        descriptor = int(arguments[0])
        argument = arguments[1]
        extra = arguments[2] if task == "transcode" else ""
    except (ValueError, IndexError):
        print("usage: child.py TASK CPU_S MEMORY FILE_SIZE FD ARGUMENTS...", file=sys.stderr)
        return 2
    av.logging.set_level(None)
    try:
        if task == "measure":
            sys.stdout.write(json.dumps(measure(descriptor, float(argument))))
        elif task == "cover":
            sys.stdout.buffer.write(cover(descriptor, int(argument)))
        elif task == "transcode":
            sys.stdout.write(json.dumps(transcode(descriptor, int(argument), extra)))
        else:
            print(f"child.py: no task {task!r}", file=sys.stderr)
            return 2
    except MemoryError:
        return 3
    except (av.FFmpegError, OSError, ValueError, IndexError):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
