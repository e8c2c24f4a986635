"""The parts of `manage.py loadtest` that need no servers (the benchmark itself is `make
loadtest`, not part of the suite): the wrk script and its output, the figures, the probes, and
nginx's body limit agreeing with Django's."""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings

from processing.management import loadtest as lt
from rekindle.middleware import BODY_OVERHEAD

ROOT = Path(__file__).resolve().parents[2]

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8000
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   180.12ms   90.40ms   1.20s    70.00%
  1400 requests in 5.00s, 1.2MB read
Requests/sec:    280.00
LOADTEST {"requests": 1400, "duration_us": 5000000, "errors": 3, "non_2xx": 2, \
"p50_us": 160500, "p95_us": 402000}
"""


def test_the_wrk_script_walks_the_paths_with_the_headers_and_prints_p95():
    script = lt.wrk_script(["/jobs/1/", "/jobs/2/"], {"Cookie": 'sessionid=a"b', "HX-Request": "true"})
    assert 'local paths = {"/jobs/1/", "/jobs/2/"}' in script
    assert 'wrk.headers["Cookie"] = "sessionid=a\\"b"' in script
    assert 'wrk.headers["HX-Request"] = "true"' in script
    assert "latency:percentile(95)" in script and lt.WRK_MARK in script
    with pytest.raises(ValueError, match="at least one path"):
        lt.wrk_script([], {})


def test_wrks_figures_are_read_from_the_scripts_line():
    result = lt.parse_wrk(WRK_OUTPUT)
    assert result.requests == 1400 and result.errors == 3 and result.non_2xx == 2
    assert result.rate == pytest.approx(280.0)
    assert (result.p50_ms, result.p95_ms) == (pytest.approx(160.5), pytest.approx(402.0))
    with pytest.raises(ValueError, match="wrk printed no figures"):
        lt.parse_wrk("unable to connect to 127.0.0.1:8000 Connection refused")


def test_the_ratio_line_says_pass_or_miss_against_the_target():
    baseline = lt.WrkResult(
        requests=1000, duration_s=5, errors=0, non_2xx=0, p50_ms=10, p95_ms=20, cpu_ms=3.5
    )
    fast = lt.WrkResult(requests=900, duration_s=5, errors=0, non_2xx=0, p50_ms=11, p95_ms=22, cpu_ms=3.9)
    slow = lt.WrkResult(requests=500, duration_s=5, errors=4, non_2xx=4, p50_ms=30, p95_ms=80)
    assert "ratio 0.90 (>= 0.8) PASS" in lt.ratio_line("status", fast, baseline, 0.8)
    assert "web CPU  3.9 ms/req" in lt.ratio_line("status", fast, baseline, 0.8)
    line = lt.ratio_line("status", slow, baseline, 0.8)
    assert "ratio 0.50 (>= 0.8) MISS" in line and "[4 errors]" in line
    assert lt.median_result([slow, fast, baseline]) is fast


def test_percentiles_and_summaries_count_failures_apart():
    assert lt.percentile([5, 1, 4, 2, 3], 50) == 3
    assert lt.percentile([float(i) for i in range(1, 101)], 95) == 95
    ok, failed, p50, p95 = lt.summarise([0.1, 0.3, 0.2, 0.25])
    assert (ok, failed, p50, p95) == (4, 0, 0.2, 0.3)
    ok, failed, p50, p95 = lt.summarise([0.1, None, 0.3, 0.2, None])  # failures rank slowest
    assert (ok, failed, p50, lt.ms(p95)) == (3, 2, 0.3, "timed out")
    assert lt.ms(lt.summarise([])[2]) == "-"


def test_nginx_refuses_bodies_django_would_refuse_and_takes_every_photo_django_accepts():
    template = (ROOT / "deploy" / "nginx" / "rekindle.conf.template").read_text()
    limit = re.search(r"client_max_body_size (\d+)m;", template)
    assert limit is not None
    assert int(limit.group(1)) * 2**20 == settings.PHOTO_MAX_BYTES + BODY_OVERHEAD
    # the placeholders loadtest and the nginx image fill in, and whole-body buffering
    assert "${WEB_UPSTREAM}" in template and "${NGINX_LISTEN}" in template
    assert "proxy_request_buffering on;" in template


@pytest.fixture
def healthz_server():
    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 500)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_health_probe_times_gets_from_a_process_of_its_own(healthz_server):
    with lt.HealthProbe(f"{healthz_server}/healthz", interval_s=0.02) as probe:
        time.sleep(0.3)
    assert probe.samples and all(s is not None and s > 0 for s in probe.samples)
    with lt.HealthProbe(f"{healthz_server}/broken", interval_s=0.02) as broken:
        time.sleep(0.1)
    assert broken.samples and all(s is None for s in broken.samples)


def test_a_slow_client_keeps_sending_until_told_to_stop_or_dropped():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    received = bytearray()

    def serve(close_at_once: bool) -> None:
        conn, _ = listener.accept()
        with conn:
            if close_at_once:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return
            while chunk := conn.recv(65536):
                received.extend(chunk)

    reader = threading.Thread(target=serve, args=(False,))
    reader.start()
    ended = lt.slow_upload(
        "127.0.0.1", port, "/up", body_bytes=10**6, chunk=100, every_s=0.01, until=time.monotonic() + 0.2,
        headers={"Authorization": "Bearer t"},
    )  # fmt: skip
    reader.join()
    assert ended == "stopped"
    head = received.split(b"\r\n\r\n", 1)[0].decode()
    assert (
        "POST /up HTTP/1.1" in head
        and "Authorization: Bearer t" in head
        and "Content-Length: 1000000" in head
    )

    closer = threading.Thread(target=serve, args=(True,))
    closer.start()
    ended = lt.slow_upload(
        "127.0.0.1", port, "/up", body_bytes=10**6, chunk=100, every_s=0.01, until=time.monotonic() + 5
    )
    closer.join()
    listener.close()
    assert ended == "dropped"
