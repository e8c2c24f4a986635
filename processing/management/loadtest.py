"""The pieces of ``manage.py loadtest`` that need no servers: the wrk script and the parsing of
its output, percentiles, peak memory of a process tree, a slow client, and the report lines.

Kept apart from the command so a quick test can check them (tests/processing/test_loadtest.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

# Printed by the wrk script's done(): one line, easy to find among wrk's own output.
WRK_MARK = "LOADTEST "

# A wrk script: each connection walks the given paths in turn (one poller per job, as
# browsers do), sends the given headers, and done() prints the figures we need as JSON —
# wrk's own --latency table has no 95th percentile.
WRK_SCRIPT = """
local paths = {%(paths)s}
local counter = 0
%(headers)s
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d, '
      .. '"p50_us": %%d, "p95_us": %%d}\\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(95)))
end
"""


def wrk_script(paths: Sequence[str], headers: dict[str, str]) -> str:
    """The Lua for one wrk run over ``paths`` with ``headers`` on every request."""
    if not paths:
        raise ValueError("wrk needs at least one path")
    quoted = ", ".join(json.dumps(p) for p in paths)
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    return WRK_SCRIPT % {"paths": quoted, "headers": lines, "mark": WRK_MARK}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    errors: int
    non_2xx: int
    p50_ms: float
    p95_ms: float
    # CPU the web tier (gunicorn's processes) spent per request, when measured.
    cpu_ms: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def parse_wrk(output: str) -> WrkResult:
    """The figures our script's done() printed; a clear error if wrk printed none."""
    for line in output.splitlines():
        if line.startswith(WRK_MARK):
            data = json.loads(line[len(WRK_MARK) :])
            return WrkResult(
                requests=data["requests"],
                duration_s=data["duration_us"] / 1e6,
                errors=data["errors"],
                non_2xx=data["non_2xx"],
                p50_ms=data["p50_us"] / 1000,
                p95_ms=data["p95_us"] / 1000,
            )
    raise ValueError(f"wrk printed no figures:\n{output[-2000:]}")


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method; nan for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its children, in bytes (0 once it is gone)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


def tree_rss_each(pid: int) -> list[int]:
    """Resident memory of a process and of each of its children, in bytes (parent first)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    sizes = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            sizes.append(proc.memory_info().rss)
    return sizes


def rss_line(name: str, sizes: Sequence[int]) -> str:
    """ "gunicorn: 4 processes, 48 MiB (master) + 140, 142, ... MiB" for the docs' per-process figures."""
    if not sizes:
        return f"    {name}: not running"
    rest = ", ".join(f"{size / 2**20:.0f}" for size in sizes[1:])
    return f"    {name}: {len(sizes)} processes, {sizes[0] / 2**20:.0f} MiB (main) + {rest} MiB"


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its children have used so far."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


class Sampler:
    """Runs ``probe`` every ``interval_s`` in a thread until stopped; keeps what it returns."""

    def __init__(self, probe: Callable[[], object], interval_s: float) -> None:
        self.probe = probe
        self.interval_s = interval_s
        self.samples: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.probe())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_get(url: str, timeout_s: float) -> float | None:
    """Seconds one GET took with a fresh connection (None if it failed or timed out): what a
    load balancer's health check sees."""
    import httpx

    started = time.perf_counter()
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError:
        return None
    return time.perf_counter() - started if response.status_code == 200 else None


def _probe(url: str, interval_s: float, timeout_s: float, ready: Any, stop: Any, out: Any) -> None:
    """HealthProbe's process (multiprocessing events and a queue)."""
    ready.set()
    samples: list[float | None] = []
    while not stop.is_set():
        samples.append(timed_get(url, timeout_s))
        stop.wait(interval_s)
    out.put(samples)


class HealthProbe:
    """GETs ``url`` every ``interval_s`` from a process of its own while the block runs, so
    the load generator's threads (and their lock on the interpreter) do not slow the probe
    down; ``samples`` then holds each probe's seconds, or None for a failure or timeout."""

    def __init__(self, url: str, *, interval_s: float = 0.1, timeout_s: float = 2.0) -> None:
        self.url, self.interval_s, self.timeout_s = url, interval_s, timeout_s
        self.samples: list[float | None] = []

    def __enter__(self) -> HealthProbe:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop, self._out = context.Event(), context.Event(), context.Queue()
        self._proc = context.Process(
            target=_probe,
            args=(self.url, self.interval_s, self.timeout_s, self._ready, self._stop, self._out),
            daemon=True,
        )
        self._proc.start()
        if not self._ready.wait(30):
            raise RuntimeError("the health probe did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.samples = self._out.get(timeout=30)
        self._proc.join(timeout=10)


def slow_upload(
    host: str,
    port: int,
    path: str,
    *,
    body_bytes: int,
    chunk: int,
    every_s: float,
    until: float,
    headers: dict[str, str] | None = None,
) -> str:
    """A slow client: headers for a ``body_bytes`` POST, then ``chunk`` bytes every ``every_s``
    seconds until the body is sent or the monotonic clock passes ``until``. Returns how it
    ended: "sent", "stopped" (ran out of time, still sending) or "dropped" (the server closed it)."""
    fields = {"Content-Type": "application/octet-stream", **(headers or {})}
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        + f"Content-Length: {body_bytes}\r\nConnection: close\r\n\r\n"
    )
    sent = 0
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(head.encode())
            while sent < body_bytes and time.monotonic() < until:
                sock.sendall(b"x" * min(chunk, body_bytes - sent))
                sent += chunk
                time.sleep(every_s)
    except OSError:
        return "dropped"
    return "sent" if sent >= body_bytes else "stopped"


def free_port_block(names: Sequence[str], *, step: int = 10) -> dict[str, int]:
    """Consecutive free loopback ports for ``names`` (SeaweedFS also takes each port + 10000 for
    gRPC, so they are drawn below 29000 and checked with their gRPC twins)."""
    import random

    def free(port: int) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) != 0

    for _ in range(50):
        base = random.randrange(20000, 29000, step)  # noqa: S311 -- not a secret
        ports = {name: base + i for i, name in enumerate(names)}
        if all(free(p) and free(p + 10000) for p in ports.values()):
            return ports
    raise RuntimeError("no free ports")


def ms(value: float) -> str:
    """Seconds as milliseconds to print; "-" for no samples, "timed out" for a failure."""
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "timed out"
    return f"{value * 1000:.0f} ms" if value >= 0.1 else f"{value * 1000:.1f} ms"


def mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def plain_line(name: str, result: WrkResult) -> str:
    cpu = f"  web CPU {result.cpu_ms:4.1f} ms/req" if result.cpu_ms is not None else ""
    return (
        f"    {name:<32} {result.rate:6.0f} req/s  "
        f"p50 {result.p50_ms:6.1f} ms  p95 {result.p95_ms:6.1f} ms{cpu}"
        + (f"  [{result.errors} errors]" if result.errors else "")
    )


def ratio_line(name: str, result: WrkResult, baseline: WrkResult, target: float) -> str:
    """One polling figure against the trivial authenticated view, with PASS/MISS."""
    ratio = result.rate / baseline.rate if baseline.rate else 0.0
    verdict = "PASS" if ratio >= target else "MISS"
    return plain_line(name, result) + f"  ratio {ratio:.2f} (>= {target}) {verdict}"


def median_result(results: Sequence[WrkResult]) -> WrkResult:
    """The run with the median rate of several (noisy neighbours move single runs a lot)."""
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


def summarise(values: Iterable[float | None]) -> tuple[int, int, float, float]:
    """(ok, failed, p50, p95) of timings where None marks a failure or timeout; a failure
    counts as slower than every answer (inf), so failures push the percentiles up."""
    values = list(values)
    ok = [v for v in values if v is not None]
    ranked = [math.inf if v is None else v for v in values]
    return len(ok), len(values) - len(ok), percentile(ranked, 50), percentile(ranked, 95)
