"""kombu's filesystem transport (the embedded default's queue), with messages that appear whole.

kombu writes a message by creating its file under its final name and then writing it; the
consumer takes no lock, so a worker that lists the folder in between (it looks every 0.1 s)
took the empty file, failed to decode it and died (Celery's "Unrecoverable error"): the message
was lost and, under `make run`, everything stopped. On a loaded machine the producer can be
descheduled for milliseconds there. Here the file is written under a name the consumer skips and
renamed into place (atomic within the folder), and a file that still cannot be decoded (one left
by an older version or a killed producer) is dropped with an error in the log instead of ending
the worker.

Settings: ``CELERY_BROKER_TRANSPORT`` names this class; the URL stays ``filesystem://``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: no queue's message ("<stamp>_<uuid>.<queue>.msg") for _get, _size, _purge.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> Any:
        while True:
            try:
                return super()._get(queue)  # raises queue.Empty when there is none
            except ValueError:  # not JSON, or cut short; kombu has already taken the file away
                logger.error("queue: an unreadable message file was dropped", extra={"queue": queue})


class Transport(filesystem.Transport):
    Channel = Channel
