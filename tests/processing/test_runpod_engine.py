"""The RunPod engine over real HTTP, through the runpod SDK, against the local
RunPod-compatible server running our own handler (local backend)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import runpod

from processing.engines.base import EngineRequest, PermanentEngineError, TransientEngineError
from processing.engines.runpod import RunPodEngine
from processing.quality import QualityCheckFailed, quality_check
from processing.runpod_local import LocalRunPod
from tests.processing.conftest import API_KEY, poll_until_done

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def request_(astronaut: np.ndarray) -> EngineRequest:
    return EngineRequest(image=astronaut, kind="restore", max_size=(480, 270), seed=3, job_ref="job-42")


def test_a_job_completes_and_returns_a_checked_image(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    external_id = runpod_engine.submit(request_)

    result = poll_until_done(runpod_engine, external_id)

    assert result.engine == "runpod"
    assert result.image.shape == (270, 270, 3)
    assert result.usage["gpu_seconds"] >= 0.0
    assert "seconds" in result.usage
    quality_check(request_.image, result.image, (270, 270))
    assert runpod_server.stats()["submissions"] == 1
    assert runpod_server.jobs[external_id].input["job_ref"] == "job-42"


def test_a_presigned_url_is_sent_instead_of_base64(
    runpod_server: LocalRunPod, request_: EngineRequest, file_server, png_of
) -> None:
    # The file server stands in for our storage: results may be fetched from it.
    runpod_engine = RunPodEngine(
        api_key=API_KEY,
        endpoint_id="local",
        base_url=runpod_server.base_url,
        result_origins=[file_server.url("/")],
    )
    file_server.files["/photo.png"] = png_of(request_.image)

    external_id = runpod_engine.submit(
        request_, image_url=file_server.url("/photo.png"), result_put_url=file_server.url("/r.png?sig=1"),
        result_get_url=file_server.url("/r.png?sig=1"),
    )  # fmt: skip
    result = poll_until_done(runpod_engine, external_id)

    sent = runpod_server.jobs[external_id].input
    assert "image_b64" not in sent and sent["image_url"].endswith("/photo.png")
    assert result.image.shape == (270, 270, 3)


def test_resuming_polls_the_existing_job_without_submitting_again(
    runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(run_delay=0.5)
    first = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=runpod_server.base_url)
    external_id = first.submit(request_)
    assert first.poll(external_id) is None  # still queued or running

    # A retried task builds a new engine and resumes from the stored external id.
    resumed = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=runpod_server.base_url)
    result = poll_until_done(resumed, external_id)

    assert result.image.shape == (270, 270, 3)
    assert runpod_server.stats()["submissions"] == 1


def test_a_failed_worker_is_transient_and_asks_for_a_new_submission(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(fail_jobs=1)
    external_id = runpod_engine.submit(request_)

    with pytest.raises(TransientEngineError) as caught:
        poll_until_done(runpod_engine, external_id)

    assert caught.value.resubmit is True
    assert caught.value.message
    # The retry submits once more and succeeds.
    assert poll_until_done(runpod_engine, runpod_engine.submit(request_)).image.shape == (270, 270, 3)
    assert runpod_server.stats()["submissions"] == 2


def test_bad_input_fails_permanently(
    runpod_engine: RunPodEngine, request_: EngineRequest, file_server
) -> None:
    file_server.files["/notes.txt"] = b"this is not a photo"
    external_id = runpod_engine.submit(request_, image_url=file_server.url("/notes.txt"))

    with pytest.raises(PermanentEngineError) as caught:
        poll_until_done(runpod_engine, external_id)

    assert caught.value.code == "engine_bad_image"
    assert "could not be read" in caught.value.message


def test_timed_out_is_transient_and_asks_for_a_new_submission(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(timeout_jobs=1, run_delay=0.2)
    external_id = runpod_engine.submit(request_)

    with pytest.raises(TransientEngineError) as caught:
        poll_until_done(runpod_engine, external_id)

    assert caught.value.code == "engine_timed_out"
    assert caught.value.resubmit is True


def test_a_burst_of_server_errors_is_transient_then_polling_succeeds(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    external_id = runpod_engine.submit(request_)
    runpod_server.configure(error_burst=3)

    for _ in range(3):
        with pytest.raises(TransientEngineError) as caught:
            runpod_engine.poll(external_id)
        assert caught.value.resubmit is False  # the job is alive: poll it again later

    assert poll_until_done(runpod_engine, external_id).image.shape == (270, 270, 3)
    assert runpod_server.stats()["submissions"] == 1


def test_a_submission_refused_with_5xx_is_transient_and_creates_no_job(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(error_burst=1, error_status=502)

    with pytest.raises(TransientEngineError):
        runpod_engine.submit(request_)

    assert runpod_server.stats()["submissions"] == 0
    assert poll_until_done(runpod_engine, runpod_engine.submit(request_)) is not None


def test_rate_limiting_is_transient(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(error_burst=1, error_status=429)

    with pytest.raises(TransientEngineError) as caught:
        runpod_engine.submit(request_)

    assert caught.value.code == "engine_unavailable"


def test_cancel_stops_a_queued_job(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(queue_delay=10)
    external_id = runpod_engine.submit(request_)

    runpod_engine.cancel(external_id)

    with pytest.raises(PermanentEngineError) as caught:
        runpod_engine.poll(external_id)
    assert caught.value.code == "engine_cancelled"
    job = runpod_server.jobs[external_id]
    assert job.status == "CANCELLED" and job.started is None  # the handler never ran


def test_a_lost_job_asks_for_a_new_submission(
    runpod_engine: RunPodEngine, runpod_server: LocalRunPod, request_: EngineRequest
) -> None:
    runpod_server.configure(lose_jobs=1)
    external_id = runpod_engine.submit(request_)

    with pytest.raises(TransientEngineError) as caught:
        runpod_engine.poll(external_id)

    assert caught.value.code == "engine_job_lost"
    assert caught.value.resubmit is True
    runpod_engine.cancel(external_id)  # cancelling what RunPod forgot is harmless


def test_a_wrong_api_key_is_a_permanent_error(runpod_server: LocalRunPod, request_: EngineRequest) -> None:
    engine = RunPodEngine(api_key="wrong", endpoint_id="local", base_url=runpod_server.base_url)

    with pytest.raises(PermanentEngineError) as caught:
        engine.submit(request_)

    assert caught.value.code == "engine_unauthorised"
    assert runpod_server.stats()["submissions"] == 0


def test_a_result_that_is_not_an_image_fails_the_quality_check(request_: EngineRequest) -> None:
    server = LocalRunPod(
        api_key=API_KEY, handler=lambda job: {"image_b64": "aGVsbG8=", "width": 1, "height": 1}
    ).start()
    try:
        engine = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=server.base_url)
        with pytest.raises(QualityCheckFailed) as caught:
            poll_until_done(engine, engine.submit(request_))
    finally:
        server.stop()

    assert caught.value.code == "result_not_image"


def test_an_unreachable_endpoint_is_transient(request_: EngineRequest) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = RunPodEngine(api_key=API_KEY, endpoint_id="local", base_url=f"http://127.0.0.1:{port}/v2")

    with pytest.raises(TransientEngineError) as caught:
        engine.submit(request_)

    assert caught.value.code == "engine_unreachable"


def test_run_does_submit_and_poll_in_one_call(runpod_engine: RunPodEngine, request_: EngineRequest) -> None:
    result = runpod_engine.run(request_)

    assert result.image.shape == (270, 270, 3)


def test_missing_configuration_is_a_permanent_error() -> None:
    with pytest.raises(PermanentEngineError) as caught:
        RunPodEngine(api_key="", endpoint_id="local")

    assert caught.value.code == "engine_not_configured"


def test_the_sdk_runsync_and_health_work_against_the_local_server(
    runpod_server: LocalRunPod, astronaut: np.ndarray
) -> None:
    from processing.engines.codec import encode_b64

    endpoint = runpod.Endpoint("local", api_key=API_KEY)
    endpoint.rp_client.endpoint_url_base = runpod_server.base_url

    output = endpoint.run_sync({"kind": "restore", "image_b64": encode_b64(astronaut[:64, :64])}, timeout=60)

    assert output["width"] == 64
    assert endpoint.health()["jobs"]["completed"] == 1


def test_the_server_runs_from_the_command_line() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "RUNPOD_API_KEY": "cli-key"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "processing.runpod_local", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        endpoint = runpod.Endpoint("local", api_key="cli-key")
        endpoint.rp_client.endpoint_url_base = f"http://127.0.0.1:{port}/v2"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = endpoint.health()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        assert health["workers"]["idle"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
