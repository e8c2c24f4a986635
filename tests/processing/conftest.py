"""Fixtures for the engine tests: photos made from scikit-image's bundled pictures, a local
RunPod-compatible server on a free port, and a tiny file server standing in for S3's
presigned GET/PUT URLs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from processing.engines.base import EngineResult
from processing.engines.runpod import RunPodEngine
from processing.runpod_local import LocalRunPod

API_KEY = "test-key"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    """A black-and-white photo as three equal channels."""
    from skimage import data

    return np.repeat(data.camera()[:, :, None], 3, axis=2)


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    from skimage import data

    return data.coffee()


@pytest.fixture
def runpod_server() -> Iterator[LocalRunPod]:
    server = LocalRunPod(api_key=API_KEY, endpoint_id="local").start()
    yield server
    server.stop()


@pytest.fixture
def runpod_engine(runpod_server: LocalRunPod) -> RunPodEngine:
    return RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=runpod_server.base_url)


def poll_until_done(engine: RunPodEngine, external_id: str, timeout: float = 60.0) -> EngineResult:
    """Poll like the job task does (without its backoff) until the job is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = engine.poll(external_id)
        if result is not None:
            return result
        time.sleep(0.05)
    raise AssertionError(f"job {external_id} did not finish in {timeout} s")


class FileServer:
    """Serves ``files[path]`` on GET and stores the body on PUT, like presigned S3 URLs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_PUT(self) -> None:
                files[self.path] = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    server = FileServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def png_of() -> Callable[[np.ndarray], bytes]:
    from processing.engines.codec import encode_png

    return encode_png


@pytest.fixture
def _no_enqueue(monkeypatch):
    """Jobs are run by calling job_run; the worker tests use the real queue."""
    from processing import services

    sent: list[int] = []
    monkeypatch.setattr(services, "job_enqueue", lambda *, job, countdown=None: sent.append(job.pk))
    return sent


@pytest.fixture
def finished_job(user, _no_enqueue):
    """A succeeded restore of a ready photo of ``user``, run in-process by the local engine."""
    from processing.services import job_create, job_run
    from tests.processing.test_jobs import ready_photo

    job = job_create(user=user, photo_id=ready_photo(user).pk, kind="restore")
    job_run(job_id=job.pk)
    job.refresh_from_db()
    return job
