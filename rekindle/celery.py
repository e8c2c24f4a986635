"""The Celery app: two queues, paid work first.

``priority`` carries paid users' work and ``standard`` free users'. Workers are started with
``-Q priority,standard``; on Redis the broker option ``queue_order_strategy=priority`` makes
each fetch look at ``priority`` before ``standard``, and a prefetch of one means a worker
never sits on a free job while paid work waits.
"""

from __future__ import annotations

import logging.config
import os
from functools import cached_property
from typing import Any

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rekindle.settings")

PRIORITY_QUEUE = "priority"
STANDARD_QUEUE = "standard"
# The order workers consume in: the first queue is always looked at first.
WORKER_QUEUES = (PRIORITY_QUEUE, STANDARD_QUEUE)


class _Celery(Celery):
    @cached_property
    def Worker(self) -> type:
        """`celery worker`'s class: one that keeps an inherited SIGINT ignore (processing.worker)."""
        from processing.worker import worker_class

        return self.subclass_with_self(worker_class())


app = _Celery("rekindle")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(PRIORITY_QUEUE), Queue(STANDARD_QUEUE)]
app.autodiscover_tasks()


@signals.setup_logging.connect
def _use_django_logging(**kwargs: Any) -> None:
    """Workers log like the web process: Django's LOGGING (JSON lines), not Celery's plain text.

    Answering this signal stops Celery from configuring the root logger itself.
    """
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _task_id_on(task_id: str | None = None, **kwargs: Any) -> None:
    from rekindle.logging import task_id_var

    task_id_var.set(task_id or "-")


@signals.task_postrun.connect
def _task_id_off(**kwargs: Any) -> None:
    from rekindle.logging import task_id_var

    task_id_var.set("-")


def queue_for_tier(tier: str) -> str:
    """The queue a user's work goes to: paid tiers jump the line."""
    return STANDARD_QUEUE if tier == "free" else PRIORITY_QUEUE


def queue_depths() -> dict[str, int]:
    """Messages waiting in each of our queues on the broker (Redis or the filesystem transport).

    Messages a worker has taken but not yet acknowledged are not counted: they are running.
    """
    depths = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in WORKER_QUEUES:
            depths[name] = channel.queue_declare(queue=name, passive=False).message_count
    return depths


# Worker liveness and shutdown hooks (signal receivers; no models imported here).
import processing.worker  # noqa: E402, F401
