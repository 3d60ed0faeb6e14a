"""The one examination of a file: whether its bytes are audio, how long it plays and what its tags say.

Uploads (before a file is committed) and the catalog's background examiner (for files copied into the folder)
both ask `examine`, so a file is judged the same way whichever road it came by. Nothing here is cached: the
library keeps the facts per file version (`library.metadata_cache`).
"""

import logging
from dataclasses import dataclass
from pathlib import Path

from audio_library.media.detection import UndecidableError, detect_audio_type, probe_duration
from audio_library.media.tags import NO_TAGS, Tags, read_tags


logger = logging.getLogger(__name__)


@dataclass
class Facts:
    """What the bytes of one file say: its audio type (None: not audio), duration, tags and, once needed, digest."""

    type: str | None
    duration: float | None
    sha256: str | None = None
    tags: Tags = NO_TAGS
    refusal: str | None = None  # why a file that is not audio was refused, when "not audio" is not the truth


def examine(path: Path) -> Facts:
    """Read what a file's bytes say (type None: not audio); raises OSError if it cannot be read."""
    try:
        mime = detect_audio_type(path)
        if mime is None:
            return Facts(None, None)
        return Facts(mime, probe_duration(path, mime), tags=read_tags(path, mime))
    except OSError:
        raise
    except UndecidableError as error:
        return Facts(None, None, refusal=str(error))
    except Exception:
        # A parser's bug must not kill the catalog's examiner or turn a request into a 500: the file is refused.
        logger.exception("examining %s failed; taking it as not audio", path)
        return Facts(None, None)
