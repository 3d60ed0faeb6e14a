"""The one examination of a file: whether its bytes are audio, how long it plays and what its tags say.

Uploads (before a file is committed) and the catalog's background examiner (for files copied into the folder)
both ask the library's one `Examiner`, so a file is judged the same way whichever road it came by. Nothing
here is cached: the library keeps the facts per file version (`library.metadata_cache`).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from audio_library.media.detection import UndecidableError, detect_audio_type, probe_duration
from audio_library.media.second_judge import NOT_AUDIO, SecondJudge, refusal_reason
from audio_library.media.tags import NO_TAGS, Tags, read_tags


logger = logging.getLogger(__name__)


@dataclass
class Facts:
    """What the bytes of one file say: its audio type (None: not audio), duration, tags and, once needed, digest."""

    type: str | None
    duration: float | None
    sha256: str | None = None
    tags: Tags = NO_TAGS
    refusal: str | None = None  # when type is None: why, as the person is told ("Non-audio file detected")


class Examiner:
    """Examines files: the built-in parsers first, then FFmpeg (the second judge, in a bounded child) for what
    they do not accept. One per library: the judge holds the library's few child slots."""

    def __init__(self, judge: SecondJudge) -> None:
        self.judge = judge

    def examine(self, path: Path) -> Facts:
        """Read what a file's bytes say (type None: not audio, and why in `refusal`); raises OSError if it
        cannot be read, BlockingIOError when no child is free to judge it in time."""
        try:
            try:
                mime = detect_audio_type(path)
            except UndecidableError as error:
                # The parsers could not tell within their budget: FFmpeg may still play it.
                return self._judged(path, undecided=str(error))
            if mime is None:
                return self._judged(path)
            return Facts(mime, probe_duration(path, mime), tags=read_tags(path, mime))
        except OSError:
            raise
        except Exception:
            # A parser's bug must not kill the catalog's examiner or turn a request into a 500: the file is refused.
            logger.exception("examining %s failed; taking it as not audio", path)
            return Facts(None, None)

    def _judged(self, path: Path, undecided: str | None = None) -> Facts:
        verdict = self.judge.judge(path)
        if verdict.type is not None:
            return Facts(verdict.type, verdict.duration, tags=verdict.tags)
        if undecided is not None and verdict.refused == NOT_AUDIO:
            return Facts(None, None, refusal=undecided)  # "could not tell" is truer than "not audio" here
        return Facts(None, None, refusal=refusal_reason(verdict.refused))
