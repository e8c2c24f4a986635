"""Worker liveness: who this worker is, the heartbeats of the jobs it holds, and shutdown.

A Celery worker names itself once per start (``<hostname>#<random>``: a restarted worker never
passes for the dead one); each of its processes holds jobs as ``<name>:<pid>``. Three things
prove a worker is alive, all through the job rows (``processing.services``, "Leases"):

- when the main process takes a ``processing.job_run`` message from the broker it records the
  reservation on the job, and a thread in the main process refreshes the heartbeat of every
  job it has taken but not started;
- the process running a job refreshes that job's heartbeat from a thread (``job_run``);
- the sweeper re-sends any job whose heartbeat is older than ``JOB_HEARTBEAT_STALE_S``: beat
  sends it every ``JOB_SWEEP_INTERVAL_S``, and each worker's main process runs it on the same
  interval too (once per interval across workers), since beat's message needs a free slot.

On SIGTERM (warm shutdown) the main process hands back at once the jobs it has not started
and those waiting on a remote engine (they keep their RunPod id, so the next worker resumes
polling), gives local jobs ``JOB_SHUTDOWN_GRACE_S`` to finish, then hands back the rest and
stops the pool. Handing back = release the lease and re-send; the lease fences any late finish.

Shutdown signals must not deadlock: Python runs a second signal's handler *inside* the first one
when it arrives while the first still runs, and Celery sends ``worker_shutting_down`` from
within its handler. So the receiver here only puts on a ``SimpleQueue`` (its ``put`` is
reentrant; an ``Event``'s ``set`` holds a plain lock, and a nested ``set`` waited on itself for
ever), and a worker started with SIGINT ignored keeps it ignored (``worker_class``): under
``make run`` a Ctrl-C reaches the whole process group, and scripts/run-embedded.sh alone stops
the worker, with one SIGTERM.

Imported by rekindle/celery.py so the signal receivers exist before the worker starts; no
models at import time (Django is set up during ``worker_init``).
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import signal
import socket
import threading
import time
from typing import Any

from celery import signals

logger = logging.getLogger(__name__)

JOB_RUN_TASK = "processing.job_run"

_name: str | None = None
# Put on by the shutdown signal's handler, taken by the heartbeat thread (see the module's doc).
_stop_requests: queue.SimpleQueue[str] = queue.SimpleQueue()


def worker_name() -> str:
    """This worker's name (or, outside a worker, this process's)."""
    global _name
    if _name is None:
        _name = f"{socket.gethostname()}#{os.getpid()}.{secrets.token_hex(3)}"
    return _name


def holder() -> str:
    """What a job records as its holder: the worker's name and this process's id."""
    return f"{worker_name()}:{os.getpid()}"


def holder_is_dead(job_holder: str) -> bool:
    """True when the holder is a process of this worker that no longer exists (a pool child
    that was killed: its parent requeued the message, so the job can be taken over at once)."""
    name, _, pid = job_holder.rpartition(":")
    if name != worker_name() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@signals.worker_init.connect
def _name_this_worker(sender: Any = None, **kwargs: Any) -> None:
    """Main process, before the pool forks: children inherit the name."""
    global _name
    from rekindle.logging import set_worker_name

    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    _name = f"{hostname}#{secrets.token_hex(3)}"
    set_worker_name(_name)
    while not _stop_requests.empty():
        _stop_requests.get_nowait()


@signals.task_received.connect
def _record_reservation(request: Any = None, **kwargs: Any) -> None:
    """Main process: a job's message was taken from the broker; say so on the job."""
    if request is None or request.name != JOB_RUN_TASK or not request.args:
        return
    from django.db import connection

    from processing.services import job_reserve

    try:
        job_reserve(job_id=int(request.args[0]), holder=holder())
    except Exception:  # the database may blink; the sweeper's long deadline still covers the job
        logger.warning("job reservation not recorded", exc_info=True)
        connection.close()  # a broken connection is not reused: the next message reconnects


@signals.worker_ready.connect
def _start_heartbeat(**kwargs: Any) -> None:
    threading.Thread(target=_main_loop, name="job-heartbeat", daemon=True).start()


@signals.worker_shutting_down.connect
def _on_shutting_down(sig: str = "", **kwargs: Any) -> None:
    """Runs inside the SIGTERM handler, maybe nested in another run of it: no locks, only a
    reentrant put; the heartbeat thread does the work."""
    _stop_requests.put(sig)


def _stop_requested(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a shutdown signal; True once one came."""
    try:
        _stop_requests.get(timeout=timeout)
    except queue.Empty:
        return False
    return True


def worker_class() -> type:
    """`celery worker`'s class (rekindle/celery.py): Celery's, except that SIGINT stays ignored
    when the process started with it ignored, as a shell's background job does (``&`` in
    scripts/run-embedded.sh). Celery installs a SIGINT handler regardless, so a Ctrl-C, which
    reaches the whole process group, was a second shutdown signal a moment after the script's
    SIGTERM: nested in the first handler, it could hang the worker for good. Built on demand:
    the web processes never import Celery's worker."""
    from celery.apps.worker import Worker

    class _Worker(Worker):
        def install_platform_tweaks(self, worker: Any) -> None:
            if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
                super().install_platform_tweaks(worker)
                return
            # Blocked meanwhile, so no SIGINT is caught by Celery's handler in between; setting
            # SIG_IGN discards one that is pending.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                super().install_platform_tweaks(worker)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    return _Worker


@signals.worker_shutdown.connect
def _hand_back_the_rest(**kwargs: Any) -> None:
    """The pool has stopped: nothing of this worker runs any more, so hand back what is left."""
    from processing.services import job_hand_back

    try:
        job_hand_back(worker=worker_name(), remote_only=False)
    except Exception:
        logger.exception("jobs not handed back at shutdown; the sweeper will recover them")


def _sweep_unless_another_worker_did() -> None:
    """Beat's sweep is a task and needs a free pool slot; this one runs in the main process, at
    most once per interval across all workers (the first to take the cache key sweeps)."""
    from django.conf import settings
    from django.core.cache import cache

    from processing.services import job_sweep

    if cache.add("processing:job-sweep", worker_name(), timeout=max(1, int(settings.JOB_SWEEP_INTERVAL_S))):
        job_sweep()


def _main_loop() -> None:
    from django.conf import settings
    from django.db import connection

    from processing.services import job_hand_back, job_heartbeat_reservations, job_open_count

    me = holder()
    next_sweep = time.monotonic() + settings.JOB_SWEEP_INTERVAL_S
    try:
        while not _stop_requested(settings.JOB_HEARTBEAT_S):
            try:
                job_heartbeat_reservations(holder=me)
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + settings.JOB_SWEEP_INTERVAL_S
                    _sweep_unless_another_worker_did()
            except Exception:
                logger.warning("reservation heartbeat or sweep failed", exc_info=True)
                connection.close()
        logger.info("worker stopping: handing back jobs not started and remote jobs")
        job_hand_back(worker=worker_name(), remote_only=True)
        if settings.EMBEDDED and not job_open_count(worker=worker_name()):
            # `make run`'s single worker, idle: nothing of ours runs and the filesystem transport
            # keeps no unacknowledged messages, so end now instead of sitting through Celery's
            # warm shutdown (its 2 s consumer poll, timer and teardown: 5-7 s), so Ctrl-C is quick.
            logger.info("worker stopping: idle, exiting now")
            os._exit(0)
        deadline = time.monotonic() + settings.JOB_SHUTDOWN_GRACE_S
        while time.monotonic() < deadline:
            if not job_open_count(worker=worker_name()):
                return
            time.sleep(0.5)
        handed = job_hand_back(worker=worker_name(), remote_only=False)
        logger.warning(
            "worker stopping: grace period over, local jobs handed back",
            extra={"jobs": handed, "grace_s": settings.JOB_SHUTDOWN_GRACE_S},
        )
        # A cold shutdown stops the pool's processes; their late results are fenced off anyway.
        os.kill(os.getpid(), signal.SIGQUIT)
    except Exception:
        logger.exception("worker heartbeat thread failed; the sweeper will recover its jobs")
    finally:
        connection.close()
