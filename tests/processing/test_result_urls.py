"""Result URLs named by the engine are fetched only from our storage or RunPod, and never
through a redirect: a worker (or whoever answers as one) cannot make our server fetch
from elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from processing.engines.base import EngineRequest, PermanentEngineError
from processing.engines.runpod import RunPodEngine, storage_origins
from processing.runpod_local import LocalRunPod
from tests.processing.conftest import API_KEY, poll_until_done


class Recorder:
    """An HTTP server that records every GET and answers with a redirect or a body."""

    def __init__(self, redirect_to: str | None = None, body: bytes = b"") -> None:
        self.gets: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                recorder.gets.append(self.path)
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def elsewhere(png_of, astronaut) -> Iterator[Recorder]:
    server = Recorder(body=png_of(astronaut))
    yield server
    server.close()


def _engine(*origins: str) -> RunPodEngine:
    return RunPodEngine(
        api_key=API_KEY, endpoint_id="local", base_url="http://127.0.0.1:9/v2", result_origins=origins
    )


def test_a_result_url_on_another_host_is_refused_without_being_fetched(elsewhere):
    engine = _engine("http://storage.example:8333")
    with pytest.raises(PermanentEngineError) as refused:
        engine._result({"output": {"image_url": elsewhere.url("/r.png")}})
    assert refused.value.code == "engine_result_url_refused"
    assert elsewhere.gets == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/r.png", "http://127.0.0.1:notaport/"])
def test_a_result_url_that_is_not_http_is_refused(url):
    with pytest.raises(PermanentEngineError):
        _engine("http://127.0.0.1")._result({"output": {"image_url": url}})


def test_a_redirect_from_storage_is_not_followed(elsewhere):
    storage = Recorder(redirect_to=elsewhere.url("/r.png"))
    try:
        # Even a redirect to a host we would accept is not followed.
        engine = _engine(storage.url("/"), elsewhere.url("/"))
        with pytest.raises(PermanentEngineError) as refused:
            engine._result({"output": {"image_url": storage.url("/r.png?sig=1")}})
    finally:
        storage.close()
    assert refused.value.code == "engine_result_url_refused"
    assert storage.gets == ["/r.png?sig=1"]
    assert elsewhere.gets == []


def test_a_result_from_allowed_storage_is_fetched(elsewhere, astronaut: np.ndarray):
    result = _engine(elsewhere.url("/"))._result({"output": {"image_url": elsewhere.url("/r.png")}})
    assert result.image.shape == astronaut.shape
    assert elsewhere.gets == ["/r.png"]


@pytest.mark.integration
def test_a_worker_naming_a_result_outside_storage_fails_the_job(
    astronaut: np.ndarray, file_server, elsewhere
):
    # The worker uploads its result and names it on a host that is not our storage.
    server = LocalRunPod(api_key=API_KEY, endpoint_id="local").start()
    try:
        engine = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=server.base_url)
        request = EngineRequest(image=astronaut, kind="restore", max_size=(480, 270), seed=3, job_ref="j")
        external_id = engine.submit(
            request, result_put_url=file_server.url("/r.png"), result_get_url=file_server.url("/r.png")
        )
        with pytest.raises(PermanentEngineError) as refused:
            poll_until_done(engine, external_id)
    finally:
        server.stop()
    assert refused.value.code == "engine_result_url_refused"


def test_storage_origins_follow_the_storage_settings(settings):
    settings.USE_S3 = True
    settings.AWS_STORAGE_BUCKET_NAME = "rekindle"
    settings.AWS_S3_ENDPOINT_URL = "http://s3:8333"
    assert storage_origins() == ["http://s3:8333", "http://rekindle.s3:8333"]
    settings.AWS_S3_ENDPOINT_URL = None
    settings.AWS_S3_REGION_NAME = "eu-west-1"
    assert "https://rekindle.s3.eu-west-1.amazonaws.com" in storage_origins()
    settings.USE_S3 = False
    settings.SITE_URL = "https://rekindle.example"
    assert storage_origins() == ["https://rekindle.example"]
