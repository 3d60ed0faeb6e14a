"""WAV audio made at test time with the standard library: distinct noise, tones, and big silent files."""

import io
import math
import random
import struct
import wave
from pathlib import Path


SAMPLE_RATE = 8000
WRITE_CHUNK = 1024 * 1024


def noise_wav(seed: int = 0, seconds: float = 0.25) -> bytes:
    """A mono 16-bit WAV of noise: each seed gives other bytes, the same seed the same bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(random.Random(seed).randbytes(round(SAMPLE_RATE * seconds) * 2))
    return buffer.getvalue()


def write_tone(path: Path, seconds: float = 1.0, frequency: float = 440.0) -> Path:
    """A mono 16-bit WAV of a sine tone; different frequencies give different bytes."""
    frames = round(seconds * SAMPLE_RATE)
    samples = (round(8000 * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE)) for i in range(frames))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"".join(struct.pack("<h", sample) for sample in samples))
    return path


def write_silence(path: Path, data_size: int) -> Path:
    """A 44.1 kHz stereo 16-bit WAV of `data_size` bytes of silence, written 1 MiB at a time."""
    channels, width, rate = 2, 2, 44100
    header = b"RIFF" + struct.pack("<I", 36 + data_size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * width, channels * width, 16)
    header += b"data" + struct.pack("<I", data_size)
    zeros = bytes(WRITE_CHUNK)
    with path.open("wb") as out:
        out.write(header)
        remaining = data_size
        while remaining > 0:
            remaining -= out.write(zeros[: min(WRITE_CHUNK, remaining)])
    return path
