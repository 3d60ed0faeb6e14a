"""The serving settings: waitress's Adjustments, with those of the library's own overrides beside them."""

from typing import Any, cast

from waitress.adjustments import Adjustments

from audio_library.serving.access_log import AccessLog
from audio_library.serving.streaming import StreamSlots


DEFAULT_HEAD_TIMEOUT = 10.0
DEFAULT_CONNECTIONS_PER_CLIENT = 64
DEFAULT_STREAMING_BODIES = 2


class ServingAdjustments(Adjustments):
    """waitress's Adjustments (its keyword arguments), and the settings of the overrides here."""

    def __init__(
        self,
        *,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        connections_per_client: int = DEFAULT_CONNECTIONS_PER_CLIENT,
        spool_folder: str | None = None,
        access_log: AccessLog | None = None,
        streaming_bodies: int = DEFAULT_STREAMING_BODIES,
        **waitress_adjustments: Any,
    ) -> None:
        """`spool_folder`: where bodies too big for memory are spooled (None: the system's temporary folder);
        `access_log`: where waitress's own answers are logged too (None: not logged); `streaming_bodies`: how
        many request bodies may be handed to the application as they arrive at once (0: every body spooled
        whole first, as waitress does)."""
        super().__init__(**waitress_adjustments)
        self.stream_slots = StreamSlots(streaming_bodies)
        self.head_timeout = head_timeout
        self.connections_per_client = connections_per_client
        self.spool_folder = spool_folder
        self.access_log = access_log


def ours(adj: Adjustments) -> ServingAdjustments:
    """The adjustments waitress hands a channel, parser or task, which `create_server` made ServingAdjustments."""
    return cast(ServingAdjustments, adj)
