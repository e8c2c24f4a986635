"""The embedded default boots as real processes with no external server.

A fresh var/ folder, no DATABASE_URL or REDIS_URL: migrate on SQLite, start gunicorn and a
Celery worker on the filesystem transport, then use the site over HTTP like a person would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_embedded_worker_runs_tasks_from_the_filesystem_queue(embedded):
    _, env, var_dir = embedded
    target = var_dir / "probe.txt"
    send = (
        "import rekindle, django; django.setup(); from tests.celery_probe import touch; "
        f"touch.apply_async(args=[{str(target)!r}, 'ran'], queue='standard')"
    )
    subprocess.run([sys.executable, "-c", send], cwd=ROOT, env=env, check=True, capture_output=True)
    deadline = time.monotonic() + 30
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.read_text() == "ran"


def test_embedded_server_answers_health_and_home(embedded):
    embedded, _, _ = embedded
    assert requests.get(f"{embedded}/healthz", timeout=5).json() == {"status": "ok"}
    home = requests.get(f"{embedded}/", timeout=5)
    assert home.status_code == 200
    assert "Bring your family photos back to life" in home.text
    assert requests.get(f"{embedded}/static/css/app.css", timeout=5).status_code == 200


def test_embedded_server_shows_our_own_not_found_page(embedded):
    # `make run` runs with DEBUG off: a person sees our page, not Django's debug page.
    embedded, _, _ = embedded
    missing = requests.get(f"{embedded}/no-such-page/", timeout=5)
    assert missing.status_code == 404
    assert "We can't find that page" in missing.text
    assert "Django" not in missing.text and "URLconf" not in missing.text


def test_embedded_readiness_checks_sqlite_filesystem_queue_and_local_storage(embedded):
    embedded, _, _ = embedded
    response = requests.get(f"{embedded}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_embedded_sign_up_then_sign_in(embedded):
    embedded, _, _ = embedded
    browser = requests.Session()
    page = browser.get(f"{embedded}/accounts/signup/", timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    created = browser.post(
        f"{embedded}/accounts/signup/",
        data={"csrfmiddlewaretoken": token, "email": "new@example.com",
              "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
        headers={"Referer": f"{embedded}/accounts/signup/"}, timeout=10,
    )  # fmt: skip
    assert created.status_code == 200
    assert "Welcome to Rekindle" in created.text

    fresh = requests.Session()
    page = fresh.get(f"{embedded}/accounts/login/", timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    signed_in = fresh.post(
        f"{embedded}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": "new@example.com", "password": "a-long-pass-phrase"},
        headers={"Referer": f"{embedded}/accounts/login/"}, timeout=10,
    )  # fmt: skip
    assert signed_in.status_code == 200
    assert fresh.get(f"{embedded}/accounts/", timeout=5).url.endswith("/accounts/")


def _demo_session(base: str) -> tuple[requests.Session, dict[str, str]]:
    browser = requests.Session()
    page = browser.get(f"{base}/accounts/login/", timeout=5)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    browser.post(
        f"{base}/accounts/login/",
        data={"csrfmiddlewaretoken": token, "username": "demo@rekindle.local",
              "password": "rekindle-demo-photos"},
        headers={"Referer": f"{base}/accounts/login/"}, timeout=10,
    )  # fmt: skip
    return browser, {"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{base}/"}


def _finished(browser: requests.Session, base: str, headers: dict[str, str], payload: dict) -> dict:
    created = browser.post(f"{base}/api/v1/jobs", json=payload, headers=headers, timeout=10)
    assert created.status_code == 202, created.text
    job_url = f"{base}/api/v1/jobs/{created.json()['id']}"
    deadline = time.monotonic() + 120
    while (job := browser.get(job_url, timeout=5).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, "the worker did not finish the job"
        time.sleep(0.3)
    return job


def _restored(base: str) -> tuple[requests.Session, dict[str, str], dict]:
    from tests.photos import images

    browser, headers = _demo_session(base)
    uploaded = browser.post(
        f"{base}/api/v1/photos",
        files={"file": ("old.jpg", images.jpeg(), "image/jpeg")},
        headers=headers,
        timeout=30,
    )
    assert uploaded.status_code == 201, uploaded.text
    photo_id = uploaded.json()["id"]
    deadline = time.monotonic() + 60
    while browser.get(f"{base}/api/v1/photos/{photo_id}", timeout=5).json()["status"] != "ready":
        assert time.monotonic() < deadline, "the worker did not prepare the photo"
        time.sleep(0.3)
    return browser, headers, _finished(browser, base, headers, {"photo_id": photo_id, "kind": "restore"})


def test_embedded_default_restores_a_photo_end_to_end(embedded):
    base, _, _ = embedded
    browser, _, job = _restored(base)
    assert job["status"] == "succeeded", job
    result = browser.get(f"{base}{job['result_url']}", timeout=10)
    assert result.status_code == 200 and result.content[:3] == b"\xff\xd8\xff"


def test_embedded_default_animates_a_restored_photo_with_the_living_photo(embedded):
    """`make run`'s local engine: "Animate this" on a restored photo makes a real MP4 (not AI)."""
    base, env, _ = embedded
    grant = (
        "import rekindle, django; django.setup(); from accounts.models import User; "
        "from credits.services import credits_grant; "
        "credits_grant(user=User.objects.get(email='demo@rekindle.local'), amount=20, "
        "key='smoke-animate', reason='smoke test')"
    )
    subprocess.run([sys.executable, "-c", grant], cwd=ROOT, env=env, check=True, capture_output=True)
    browser, headers, restored = _restored(base)
    assert restored["status"] == "succeeded", restored
    job = _finished(
        browser,
        base,
        headers,
        {"kind": "animate", "source_job_id": restored["id"], "options": {"preset": "smile"}},
    )
    assert job["status"] == "succeeded", job
    assert job["result_type"] == "video" and job["ai_made"] is False
    assert any("without AI" in note for note in job["notes"])
    video = browser.get(f"{base}{job['result_url']}", timeout=10)
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    from processing.engines.video import decode_mp4

    decoded = decode_mp4(video.content)
    assert len(decoded.frames) == 81 and decoded.size == (job["result_width"], job["result_height"])


def test_embedded_queue_status_reads_the_filesystem_queue(embedded):
    _, env, _ = embedded
    done = subprocess.run(
        [sys.executable, "manage.py", "queue_status"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  priority\s+\d+$", done.stdout, re.M)
    assert re.search(r"^  standard\s+\d+$", done.stdout, re.M)
    assert "free       spent $0.00 of $50.00 today: running" in done.stdout
