"""`make run`'s two steps as real processes: setup_embedded on a fresh var/ folder (one progress
report, not a line per migration), then scripts/run-embedded.sh; Ctrl-C stops every process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.embedded import ROOT, _embedded_env, _free_port, _wait_http

pytestmark = pytest.mark.integration


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_first_start_prints_a_short_report_and_ctrl_c_stops_web_worker_and_beat(tmp_path):
    env = _embedded_env(tmp_path / "var")
    setup = subprocess.run(
        [sys.executable, "manage.py", "setup_embedded"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stderr
    lines = setup.stdout.splitlines()
    assert lines[0].startswith("Preparing the database (") and lines[1].startswith("Database ready in ")
    assert lines[2] == "Demo account: demo@rekindle.local / rekindle-demo-photos"
    assert len(lines) == 3 and "Applying" not in setup.stdout + setup.stderr

    port = _free_port()
    log = tmp_path / "run.log"
    with log.open("w") as out:
        run = subprocess.Popen(
            ["bash", "scripts/run-embedded.sh"],
            cwd=ROOT, env={**env, "PORT": str(port)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own, like a terminal's foreground job
        )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", run)
        deadline = time.monotonic() + 60
        while not ("celery@" in log.read_text() and "ready." in log.read_text()):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        deadline = time.monotonic() + 20  # generous: a hang fails the test, speed is not asserted
        while run.poll() is None or _group_alive(run.pid):  # poll() reaps the script itself
            if time.monotonic() > deadline:
                left = subprocess.run(
                    ["ps", "-o", "pid,stat,args", "-g", str(run.pid)], capture_output=True, text=True
                )
                pytest.fail(f"still running 20 s after Ctrl-C:\n{left.stdout}\n{log.read_text()}")
            time.sleep(0.1)
    finally:
        if _group_alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130
    assert "Stopping Rekindle" in log.read_text()
    # The idle worker ends at once instead of sitting through Celery's warm shutdown.
    assert "worker stopping: idle, exiting now" in log.read_text()


def test_the_scripts_worker_leaves_ctrl_c_to_the_script_and_stops_at_once_on_sigterm(tmp_path):
    # Ctrl-C reaches the whole process group and the script sends the worker SIGTERM as well: a
    # second shutdown signal inside the first one's handler could hang the worker for good. Started
    # as the script's `&` starts it (SIGINT ignored), the worker keeps SIGINT ignored.
    env = _embedded_env(tmp_path / "var")
    setup = [sys.executable, "manage.py", "setup_embedded"]
    subprocess.run(setup, cwd=ROOT, env=env, check=True, capture_output=True)
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [".venv/bin/celery", "-A", "rekindle", "--quiet", "worker", "--pool", "solo",
             "--queues", "priority,standard", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        worker.send_signal(signal.SIGINT)
        time.sleep(1)
        assert worker.poll() is None and "shutdown" not in log.read_text()
        worker.send_signal(signal.SIGINT)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "worker stopping: idle, exiting now" in log.read_text()
