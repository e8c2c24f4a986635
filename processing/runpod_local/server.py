"""A small server that speaks RunPod's serverless v2 job API and runs our own handler.

Routes (all need ``Authorization: Bearer <key>``, or the bare key, else 401):

- ``POST /v2/{endpoint}/run``            → ``{"id", "status": "IN_QUEUE"}``
- ``POST /v2/{endpoint}/runsync``        → the final status (waits up to ``?wait=`` ms, 30 s)
- ``GET  /v2/{endpoint}/status/{id}``    → ``{"id", "status", "delayTime", "executionTime",
  "workerId", "output"?, "error"?}``; 404 for an unknown (or "lost") job. While a job runs,
  ``output`` is the last progress its handler sent (``progress_update(job, data)``, passed to
  handlers that accept a ``progress_update`` keyword), as on RunPod
- ``POST /v2/{endpoint}/cancel/{id}``    → ``{"id", "status"}``
- ``GET  /v2/{endpoint}/health``         → ``{"jobs": {...}, "workers": {...}}``
- ``POST /v2/{endpoint}/purge-queue``    → ``{"removed", "status"}``

Misbehaviour for tests and rehearsals, set in Python (``server.configure(...)``) or over HTTP
(``POST /_local/control`` with a JSON object of the same fields; ``POST /_local/reset``;
``GET /_local/stats`` → submissions and per-status counts). See ``Behaviour``.

Jobs run in worker threads (one by default, like one GPU worker), in submission order.
Standard library only (http.server), plus our handler.
"""

from __future__ import annotations

import inspect
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
MAX_BODY = 12 * 1024 * 1024  # RunPod refuses /run bodies over 10 MB; leave headroom


@dataclass
class Behaviour:
    """How the server misbehaves. Counters are consumed: ``fail_jobs=2`` fails the next two
    jobs submitted, ``error_burst=3`` answers the next three API requests with ``error_status``."""

    queue_delay: float = 0.0  # seconds every job stays IN_QUEUE before a worker takes it
    run_delay: float = 0.0  # extra seconds every job stays IN_PROGRESS
    fail_jobs: int = 0  # next N jobs end FAILED with fail_error (the handler does not run)
    fail_error: str = "Simulated worker crash"
    timeout_jobs: int = 0  # next N jobs end TIMED_OUT after run_delay
    lose_jobs: int = 0  # next N jobs are forgotten at once: status and cancel answer 404
    error_burst: int = 0  # next N requests to run/runsync/status/cancel fail with error_status
    error_status: int = 503


@dataclass
class LocalJob:
    id: str
    input: dict[str, Any]
    plan: str  # "run", "fail", "timeout" or "lose"
    status: str = "IN_QUEUE"
    output: Any = None
    error: Any = None
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    worker: str = ""

    def payload(self) -> dict[str, Any]:
        now = time.monotonic()
        delay_end = self.started if self.started is not None else (self.finished or now)
        data: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "delayTime": int((delay_end - self.created) * 1000),
        }
        if self.started is not None:
            data["executionTime"] = int(((self.finished or now) - self.started) * 1000)
            data["workerId"] = self.worker
        if self.output is not None:
            data["output"] = self.output
        if self.error is not None:
            data["error"] = self.error
        return data


def _takes_progress_update(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` accepts ``progress_update=`` (ours does; a bare test lambda not)."""
    try:
        parameters = inspect.signature(handler).parameters
    except (TypeError, ValueError):
        return False
    return "progress_update" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def _default_handler() -> Callable[..., dict[str, Any]]:
    from processing.runpod_worker.handler import handler

    return handler


class LocalRunPod:
    """The server: ``LocalRunPod(api_key=...).start()``; ``.base_url`` is what
    RUNPOD_ENDPOINT_BASE_URL should be set to; ``.stop()`` shuts it down."""

    def __init__(
        self,
        *,
        api_key: str,
        endpoint_id: str = "local",
        host: str = "127.0.0.1",
        port: int = 0,
        workers: int = 1,
        handler: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        self.api_key = api_key
        self.endpoint_id = endpoint_id
        self.handler = handler or _default_handler()
        self._handler_takes_progress = _takes_progress_update(self.handler)
        self.behaviour = Behaviour()
        self.jobs: dict[str, LocalJob] = {}
        self.submissions = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.httpd = ThreadingHTTPServer((host, port), _make_request_handler(self))
        self.httpd.daemon_threads = True
        self.workers = [
            threading.Thread(target=self._work, name=f"local-worker-{n}", daemon=True) for n in range(workers)
        ]
        self._serve_thread = threading.Thread(
            target=self.httpd.serve_forever, name="local-runpod", daemon=True
        )

    # --- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v2"

    def start(self) -> LocalRunPod:
        for worker in self.workers:
            worker.start()
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        for _ in self.workers:
            self.queue.put(None)

    def serve_forever(self) -> None:
        for worker in self.workers:
            worker.start()
        self.httpd.serve_forever()

    # --- behaviour -------------------------------------------------------------------

    def configure(self, **changes: Any) -> Behaviour:
        names = {f.name: f.type for f in fields(Behaviour)}
        unknown = set(changes) - set(names)
        if unknown:
            raise ValueError(f"unknown behaviour: {', '.join(sorted(unknown))}")
        with self.lock:
            for name, value in changes.items():
                default = getattr(Behaviour(), name)
                setattr(self.behaviour, name, type(default)(value))
            return Behaviour(**asdict(self.behaviour))

    def reset(self) -> None:
        with self.lock:
            self.behaviour = Behaviour()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            counts: dict[str, int] = {}
            for job in self.jobs.values():
                counts[job.status] = counts.get(job.status, 0) + 1
            return {"submissions": self.submissions, "jobs": counts, "behaviour": asdict(self.behaviour)}

    def take_error(self) -> int | None:
        """The status to fail this request with, when an error burst is under way."""
        with self.lock:
            if self.behaviour.error_burst > 0:
                self.behaviour.error_burst -= 1
                return self.behaviour.error_status
        return None

    # --- jobs ------------------------------------------------------------------------

    def submit(self, job_input: dict[str, Any]) -> LocalJob:
        with self.lock:
            self.submissions += 1
            b = self.behaviour
            plan = "run"
            for name, counter in (("lose", "lose_jobs"), ("fail", "fail_jobs"), ("timeout", "timeout_jobs")):
                if getattr(b, counter) > 0:
                    setattr(b, counter, getattr(b, counter) - 1)
                    plan = name
                    break
            job = LocalJob(id=f"{uuid.uuid4()}-local", input=job_input, plan=plan)
            self.jobs[job.id] = job
        self.queue.put(job.id)
        return job

    def find(self, job_id: str) -> LocalJob | None:
        with self.lock:
            job = self.jobs.get(job_id)
            return None if job is None or job.plan == "lose" else job

    def cancel(self, job: LocalJob) -> str:
        with self.lock:
            if job.status not in FINAL:
                job.status = "CANCELLED"
                job.finished = time.monotonic()
                self.changed.notify_all()
            return job.status

    def wait_final(self, job: LocalJob, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while job.status not in FINAL and time.monotonic() < deadline:
                self.changed.wait(max(0.0, deadline - time.monotonic()))

    def _sleep_unless_cancelled(self, job: LocalJob, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        with self.lock:
            while job.status != "CANCELLED" and time.monotonic() < deadline:
                self.changed.wait(max(0.0, deadline - time.monotonic()))
            return job.status != "CANCELLED"

    def _finish(self, job: LocalJob, status: str, *, output: Any = None, error: Any = None) -> None:
        with self.lock:
            if job.status == "CANCELLED":
                return
            job.status, job.output, job.error = status, output, error
            job.finished = time.monotonic()
            self.changed.notify_all()

    def _work(self) -> None:
        name = threading.current_thread().name
        while True:
            job_id = self.queue.get()
            if job_id is None:
                return
            job = self.jobs[job_id]
            if not self._sleep_unless_cancelled(
                job, self.behaviour.queue_delay - (time.monotonic() - job.created)
            ):
                continue
            with self.lock:
                if job.status == "CANCELLED":
                    continue
                job.status, job.started, job.worker = "IN_PROGRESS", time.monotonic(), name
                run_delay = self.behaviour.run_delay
            if job.plan == "timeout":
                if self._sleep_unless_cancelled(job, run_delay):
                    self._finish(job, "TIMED_OUT", error="Job timed out (simulated execution timeout).")
                continue
            if job.plan == "fail":
                self._finish(job, "FAILED", error=self.behaviour.fail_error)
                continue
            try:
                payload = {"id": job.id, "input": job.input}
                if self._handler_takes_progress:
                    output = self.handler(payload, progress_update=self.progress_update)
                else:
                    output = self.handler(payload)
            except Exception as exc:  # RunPod reports handler crashes as FAILED, so do we
                logger.exception("handler crashed on %s", job.id)
                self._finish(
                    job,
                    "FAILED",
                    error=json.dumps({"error_type": type(exc).__name__, "error_message": str(exc)}),
                )
                continue
            if not self._sleep_unless_cancelled(job, run_delay):
                continue
            if isinstance(output, dict) and "error" in output:
                error = output.pop("error")
                self._finish(job, "FAILED", output=output or None, error=error)
            else:
                self._finish(job, "COMPLETED", output=output)

    def progress_update(self, job: dict[str, Any], progress: Any) -> None:
        """What ``runpod.serverless.progress_update(job, progress)`` does on RunPod: while the
        job is IN_PROGRESS, its status shows ``progress`` as ``output``."""
        with self.lock:
            local = self.jobs.get(job.get("id", ""))
            if local is not None and local.status == "IN_PROGRESS":
                local.output = progress

    def health(self) -> dict[str, Any]:
        with self.lock:
            statuses = [job.status for job in self.jobs.values() if job.plan != "lose"]
        running = statuses.count("IN_PROGRESS")
        return {
            "jobs": {
                "completed": statuses.count("COMPLETED"),
                "failed": statuses.count("FAILED") + statuses.count("TIMED_OUT"),
                "inProgress": running,
                "inQueue": statuses.count("IN_QUEUE"),
                "retried": 0,
            },
            "workers": {"idle": len(self.workers) - running, "running": running},
        }


def _make_request_handler(server: LocalRunPod) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("body too large")
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw) if raw.strip() else None

        def _authorised(self) -> bool:
            given = (self.headers.get("Authorization") or "").strip()
            if given.lower().startswith("bearer "):
                given = given[7:].strip()
            return bool(server.api_key) and given == server.api_key

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            try:
                body = self._body() if method == "POST" else None
            except ValueError:
                self._send(HTTPStatus.BAD_REQUEST, {"error": "Body is not JSON or is too large."})
                return
            if not self._authorised():
                self._send(HTTPStatus.UNAUTHORIZED, {"error": "Unauthorized"})
                return
            if parts[:1] == ["_local"]:
                self._control(method, parts[1:], body)
                return
            if len(parts) < 3 or parts[0] != "v2" or parts[1] != server.endpoint_id:
                self._send(HTTPStatus.NOT_FOUND, {"error": "Endpoint not found"})
                return
            action, rest = parts[2], parts[3:]
            if action in {"run", "runsync", "status", "cancel"}:
                status = server.take_error()
                if status is not None:
                    self._send(status, {"error": "Simulated server error"})
                    return
            if method == "POST" and action in {"run", "runsync"} and not rest:
                if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                    self._send(HTTPStatus.BAD_REQUEST, {"error": "The body needs an 'input' object."})
                    return
                job = server.submit(body["input"])
                if action == "run":
                    self._send(HTTPStatus.OK, {"id": job.id, "status": "IN_QUEUE"})
                    return
                wait_ms = parse_qs(url.query).get("wait", ["30000"])[0]
                server.wait_final(job, min(300.0, max(0.0, float(wait_ms) / 1000)))
                self._send(HTTPStatus.OK, job.payload())
                return
            if (
                action in {"status", "cancel"}
                and len(rest) == 1
                and method == ("GET" if action == "status" else "POST")
            ):
                job = server.find(rest[0])
                if job is None:
                    self._send(HTTPStatus.NOT_FOUND, {"error": "request does not exist"})
                elif action == "status":
                    self._send(HTTPStatus.OK, job.payload())
                else:
                    self._send(HTTPStatus.OK, {"id": job.id, "status": server.cancel(job)})
                return
            if action == "health" and method == "GET" and not rest:
                self._send(HTTPStatus.OK, server.health())
                return
            if action == "purge-queue" and method == "POST" and not rest:
                removed = 0
                with server.lock:
                    queued = [job for job in server.jobs.values() if job.status == "IN_QUEUE"]
                for job in queued:
                    server.cancel(job)
                    removed += 1
                self._send(HTTPStatus.OK, {"removed": removed, "status": "completed"})
                return
            self._send(HTTPStatus.NOT_FOUND, {"error": "Not found"})

        def _control(self, method: str, parts: list[str], body: Any) -> None:
            if method == "GET" and parts == ["stats"]:
                self._send(HTTPStatus.OK, server.stats())
            elif method == "POST" and parts == ["reset"]:
                server.reset()
                self._send(HTTPStatus.OK, server.stats())
            elif method == "POST" and parts == ["control"] and isinstance(body, dict):
                try:
                    behaviour = server.configure(**body)
                except (TypeError, ValueError) as exc:
                    self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                    return
                self._send(HTTPStatus.OK, asdict(behaviour))
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": "Not found"})

    return RequestHandler
