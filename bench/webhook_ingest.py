"""Webhook ingest under gunicorn, against a bare Flask endpoint measured in the same run.

    .venv/bin/python bench/webhook_ingest.py [--seconds 10 | --requests N] [--concurrency 16]

What it does, in order:
1. A temp instance dir with a migrated SQLite database (the embedded default) and one installed
   Shoper shop with a known webhook secret (built by tests.support.make_shop).
2. Two gunicorn servers with the same settings (2 gthread workers, 1 thread each, keep-alive):
   `shoper_retention.wsgi:app` and the bare app in bench/bare_app.py (POST -> 204).
3. For each phase (rounds of bare/ingest in ABBA order): 16 keep-alive connections, opened by this
   process and checked to be spread evenly over the two workers (read from /proc), handed to
   client processes that send pre-built, correctly signed order.create webhooks with distinct
   order ids: a warm-up, then the measured phase. Latency, status codes, and the CPU used by the
   client, by each gunicorn worker and by the whole machine are recorded for the window.
4. The servers are stopped, the inbox rows counted, and every order id answered 2xx is looked for
   in the inbox (lost = accepted but not stored).
5. A table is printed, raw numbers go to bench/results/ (gitignored), and the results section of
   docs/PERFORMANCE.md (between its bench markers) is rewritten; the rest of that file is kept.

Why gthread: the sync worker closes the connection after every response (no keep-alive), so
"16 keep-alive connections" needs gthread. With --threads 1 each worker still runs one request
at a time, like a sync worker; both servers use the same worker class and settings.
Why a raw-socket client: on a 2-core machine the client shares the CPU with the server, and
http.client's header parsing costs several times what this client does per request.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.support builds the shop and the payloads

from shoper_retention.db import make_engine, make_session_factory  # noqa: E402
from shoper_retention.migrate import upgrade  # noqa: E402
from shoper_retention.platforms.shoper.signature import webhook_sha1  # noqa: E402
from shoper_retention.settings import Settings  # noqa: E402
from tests.support import WEBHOOK_ID, make_shop, order_payload  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
PERFORMANCE_MD = REPO / "docs" / "PERFORMANCE.md"
MARK_START = "<!-- bench/webhook_ingest.py results: start (generated, do not edit by hand) -->"
MARK_END = "<!-- bench/webhook_ingest.py results: end -->"
SECRET_KEY = "bench-secret-key-0123456789abcdef"
EVENT = "order.create"
ID_STRIDE = 10_000_000  # order id = phase base + connection * ID_STRIDE + sequence

QUIET_BUSY_PCT = 15.0  # a phase waits for the machine to be under this (% of all cores)
NOISY_OTHER_PCT = 25.0  # a phase during which others used more (% of one core) is flagged
NOISY_STEAL_PCT = 10.0  # ... or the hypervisor took more (% of all cores: CPU we never got)
TARGET_RATIO = 0.5
TARGET_P99_MS = 25.0


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    app: str
    port: int
    log_path: Path
    root: Path = REPO
    proc: subprocess.Popen[bytes] | None = None

    def start(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(args.workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--keep-alive",
            "30",  # the connections idle while the other server is measured
            "--bind",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(self.root),
            "--error-logfile",
            str(self.log_path),
            "--log-level",
            "warning",
            self.app,
        ]
        env = dict(env, PYTHONPATH=str(self.root))
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdin=subprocess.DEVNULL)

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        """Until `GET path` answers 2xx and every worker has booted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} gunicorn exited; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
                    status, _, _ = exchange(sock, bytearray(), request)
                if 200 <= status < 300 and len(self.worker_pids()) >= 1:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready in {timeout}s; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        return children_of(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM: gunicorn finishes the requests in flight, then exits."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def children_of(pid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            pids.append(int(entry))
    return sorted(pids)


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def server_side_ports(server_port: int) -> dict[int, int]:
    """For each established connection to server_port: client's port -> inode of the
    server-side socket (the one a worker accepted)."""
    result = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, state, inode = cols[1], cols[2], cols[3], int(cols[9])
        if state == "01" and int(local.split(":")[1], 16) == server_port:
            result[int(remote.split(":")[1], 16)] = inode
    return result


def worker_of_connections(server: Server, client_ports: Sequence[int]) -> list[int | None]:
    """Which gunicorn worker holds each client connection (None: not accepted yet)."""
    by_inode = {inode: pid for pid in server.worker_pids() for inode in socket_inodes(pid)}
    ports = server_side_ports(server.port)
    return [by_inode.get(ports.get(port, -1)) for port in client_ports]


# --------------------------------------------------------------------------------------------
# The HTTP client: pre-built requests over raw keep-alive sockets
# --------------------------------------------------------------------------------------------


def exchange(sock: socket.socket, buf: bytearray, request: bytes) -> tuple[int, bytearray, bool]:
    """Send one request, read one response. Returns (status, leftover bytes, server closes).

    Enough HTTP/1.1 for these servers: status line, Content-Length bodies, no chunking."""
    sock.sendall(request)
    while (end := buf.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head = bytes(buf[:end]).split(b"\r\n")
    del buf[: end + 4]
    status = int(head[0].split(b" ", 2)[1])
    length, closes = 0, False
    for line in head[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            closes = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            raise ValueError("chunked responses are not expected here")
    if status in (204, 304) or status < 200:
        length = 0
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection mid-body")
        buf += chunk
    del buf[:length]
    return status, buf, closes


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def build_requests(
    port: int, shop_ref: str, secret: str, first_id: int, count: int, now: datetime
) -> list[bytes]:
    """Distinct, correctly signed order.create deliveries, as Shoper would send them."""
    out = []
    for seq in range(count):
        body = json.dumps(order_payload(str(first_id + seq), at=now)).encode()
        head = (
            f"POST /shoper/webhooks/{shop_ref} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"X-Webhook-Id: {WEBHOOK_ID}\r\n"
            f"X-Webhook-Name: {EVENT}\r\n"
            f"X-Webhook-Sha1: {webhook_sha1(WEBHOOK_ID, secret, body)}\r\n"
            "X-Shop-License: licence\r\n"
            "X-Shop-Domain: sklep.example\r\n"
            "\r\n"
        )
        out.append(head.encode() + body)
    return out


@dataclass
class Plan:
    """One phase as the client processes see it."""

    port: int
    shop_ref: str
    secret: str
    id_base: int
    per_connection: int  # requests built per connection (warm-up + measured, the upper bound)
    warmup_seconds: float
    measure_seconds: float
    warmup_requests: int  # per connection, count mode only
    measure_requests: int  # per connection, count mode only (0: time mode)


@dataclass
class ConnResult:
    starts: array[float] = field(default_factory=lambda: array("d"))
    ends: array[float] = field(default_factory=lambda: array("d"))
    statuses: array[int] = field(default_factory=lambda: array("H"))
    ok_ids: array[int] = field(default_factory=lambda: array("q"))  # 2xx, warm-up included
    warmup_count: int = 0
    warmup_non2xx: Counter[int] = field(default_factory=Counter)
    reconnects: int = 0
    exhausted: bool = False


def run_connection(
    sock: socket.socket,
    requests: list[bytes],
    first_id: int,
    plan: Plan,
    start_at: float,
    result: ConnResult,
) -> None:
    """Closed loop on one keep-alive connection: next request as soon as the answer is in."""
    warm_end = start_at + plan.warmup_seconds
    measure_end = warm_end + plan.measure_seconds
    count_mode = plan.measure_requests > 0
    buf = bytearray()
    while time.monotonic() < start_at:
        time.sleep(0.0005)
    for i, request in enumerate(requests):
        t0 = time.monotonic()
        if count_mode:
            if i >= plan.warmup_requests + plan.measure_requests:
                break
            measured = i >= plan.warmup_requests
        else:
            if t0 >= measure_end:
                break
            measured = t0 >= warm_end
        try:
            status, buf, closes = exchange(sock, buf, request)
        except (OSError, ValueError):
            status, closes = 0, True  # no answer: counted as a failure, never as accepted
        t1 = time.monotonic()
        if 200 <= status < 300:
            result.ok_ids.append(first_id + i)
        if measured:
            result.starts.append(t0)
            result.ends.append(t1)
            result.statuses.append(status)
        else:
            result.warmup_count += 1
            if not 200 <= status < 300:
                result.warmup_non2xx[status] += 1
        if closes:
            sock.close()
            sock = connect(plan.port)
            buf = bytearray()
            result.reconnects += 1
    else:
        result.exhausted = not count_mode
    sock.close()


def client_process(
    conn_indexes: list[int],
    socks: list[socket.socket],
    plan: Plan,
    barrier: Any,
    started: Any,
    start_value: Any,
    out: Any,
) -> None:
    now = datetime.now(UTC)
    built = [
        build_requests(
            plan.port,
            plan.shop_ref,
            plan.secret,
            plan.id_base + c * ID_STRIDE,
            plan.per_connection,
            now,
        )
        for c in conn_indexes
    ]
    results = [ConnResult() for _ in conn_indexes]
    barrier.wait()  # everyone has built its requests
    started.wait(timeout=60)  # the parent has set the common start time
    start_at = start_value.value
    threads = [
        threading.Thread(
            target=run_connection,
            args=(sock, reqs, plan.id_base + c * ID_STRIDE, plan, start_at, res),
        )
        for c, sock, reqs, res in zip(conn_indexes, socks, built, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    payload = [
        dict(
            starts=r.starts.tobytes(),
            ends=r.ends.tobytes(),
            statuses=r.statuses.tobytes(),
            ok_ids=r.ok_ids.tobytes(),
            warmup_count=r.warmup_count,
            warmup_non2xx=dict(r.warmup_non2xx),
            reconnects=r.reconnects,
            exhausted=r.exhausted,
        )
        for r in results
    ]
    out.put(payload)


# --------------------------------------------------------------------------------------------
# CPU accounting (/proc), so the report shows who used the two cores during the window
# --------------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")
NPROC = os.cpu_count() or 1  # /proc/stat's first line sums every CPU of the machine


def proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def machine_busy() -> tuple[float, float, float]:
    """(busy, steal, total) jiffies over all CPUs since boot."""
    cols = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = cols[:8]
    return float(user + nice + system + irq + softirq), float(steal), float(sum(cols[:8]))


def busy_pct_between(m0: tuple[float, float, float], m1: tuple[float, float, float]) -> float:
    """Busy share of all CPUs between two samples, in %."""
    return 100 * (m1[0] - m0[0]) / max(1.0, m1[2] - m0[2])


def wait_for_quiet(max_wait: float, threshold: float) -> float:
    """Wait (at most max_wait s) until the machine is under `threshold` % busy over 0.5 s,
    so a phase does not start while something else is using the cores. Returns the last
    reading."""
    deadline = time.monotonic() + max_wait
    while True:
        m0 = machine_busy()
        time.sleep(0.5)
        busy = busy_pct_between(m0, machine_busy())
        if busy < threshold or time.monotonic() >= deadline:
            return busy


# --------------------------------------------------------------------------------------------
# One phase
# --------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    server: str
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    statuses: dict[str, int]
    non2xx: int
    warmup_requests: int
    warmup_non2xx: int
    reconnects: int
    exhausted_connections: int
    connections_per_worker: list[int]
    client_cpu_pct: float
    worker_cpu_pct: list[float]
    worker_cpu_us_per_request: float  # the server's CPU cost of one request, noise-resistant
    machine_busy_pct: float
    steal_pct: float
    other_cpu_pct: float  # machine busy minus this bench's processes, in % of one core
    busy_before_pct: float
    ok_ids: list[int] = field(repr=False, default_factory=list)
    discarded: bool = False  # measured again because others used the machine meanwhile

    @property
    def noisy(self) -> bool:
        return self.other_cpu_pct > NOISY_OTHER_PCT or self.steal_pct > NOISY_STEAL_PCT


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def open_balanced_connections(
    server: Server, count: int, probe_path: str, timeout: float = 20.0
) -> tuple[list[socket.socket], list[int]]:
    """`count` keep-alive connections spread as evenly as possible over the workers.

    A gthread worker keeps the connections it accepted, so which worker wins each accept() decides
    the load split for the whole phase; a connection on an over-full worker is reopened."""
    workers = server.worker_pids()
    cap = math.ceil(count / max(1, len(workers)))
    socks: list[socket.socket] = []
    owners: list[int] = []
    deadline = time.monotonic() + timeout
    probe = f"GET {probe_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    while len(socks) < count:
        sock = connect(server.port)
        status, _, _ = exchange(sock, bytearray(), probe)  # answered: a worker has accepted it
        if not 200 <= status < 300:
            raise RuntimeError(f"{server.name}: probe {probe_path} answered {status}")
        owner = worker_of_connections(server, [sock.getsockname()[1]])[0]
        if owner is None:
            raise RuntimeError(f"{server.name}: cannot tell which worker holds a connection")
        if owners.count(owner) >= cap and time.monotonic() < deadline:
            sock.close()
            time.sleep(0.002)
            continue
        socks.append(sock)
        owners.append(owner)
    return socks, [owners.count(pid) for pid in workers]


def run_phase(
    server: Server,
    round_no: int,
    args: argparse.Namespace,
    shop_ref: str,
    secret: str,
    id_base: int,
    probe_path: str,
    own_pids: list[int],
    busy_before: float,
) -> PhaseResult:
    count_mode = args.requests is not None
    conc = args.concurrency
    if count_mode:
        measure_per_conn = math.ceil(args.requests / conc)
        warmup_per_conn = math.ceil(args.warmup_requests / conc)
        per_conn = measure_per_conn + warmup_per_conn
    else:
        measure_per_conn = warmup_per_conn = 0
        per_conn = math.ceil(args.max_rate * (args.warmup + args.seconds) / conc)
    plan = Plan(
        port=server.port,
        shop_ref=shop_ref,
        secret=secret,
        id_base=id_base,
        per_connection=per_conn,
        warmup_seconds=args.warmup,
        measure_seconds=args.seconds,
        warmup_requests=warmup_per_conn,
        measure_requests=measure_per_conn,
    )
    socks, spread = open_balanced_connections(server, conc, probe_path)
    procs_n = min(args.client_processes, conc)
    groups = [list(range(i, conc, procs_n)) for i in range(procs_n)]
    ctx = mp.get_context("fork")  # the children inherit the open connections
    barrier = ctx.Barrier(procs_n + 1)
    started = ctx.Event()
    start_value = ctx.Value("d", 0.0)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=client_process,
            args=(group, [socks[i] for i in group], plan, barrier, started, start_value, out),
            daemon=True,
        )
        for group in groups
    ]
    for proc in procs:
        proc.start()
    for sock in socks:
        sock.close()  # the children hold their own copies
    barrier.wait(timeout=120)
    start_at = start_value.value = time.monotonic() + 0.05
    started.set()
    workers = server.worker_pids()
    clients = [proc.pid for proc in procs]
    others = [pid for pid in own_pids if pid not in workers]
    window: tuple[Any, Any] | None = None
    if not count_mode:

        def sample() -> tuple[list[float], float, float, tuple[float, float, float]]:
            return (
                [proc_cpu_seconds(p) for p in workers],
                sum(proc_cpu_seconds(p) for p in clients),
                sum(proc_cpu_seconds(p) for p in others),
                machine_busy(),
            )

        warm_end = start_at + args.warmup
        time.sleep(max(0.0, warm_end - time.monotonic()))
        s0 = sample()
        time.sleep(max(0.0, warm_end + args.seconds - time.monotonic()))
        window = (s0, sample())
    collected = [out.get(timeout=args.warmup + args.seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)

    starts, ends, statuses, ok_ids = array("d"), array("d"), array("H"), array("q")
    warm_n, warm_bad, reconnects, exhausted = 0, 0, 0, 0
    for conns in collected:
        for c in conns:
            starts.frombytes(c["starts"])
            ends.frombytes(c["ends"])
            statuses.frombytes(c["statuses"])
            ok_ids.frombytes(c["ok_ids"])
            warm_n += c["warmup_count"]
            warm_bad += sum(c["warmup_non2xx"].values())
            reconnects += c["reconnects"]
            exhausted += bool(c["exhausted"])
    n = len(starts)
    latencies = sorted((e - s) * 1000 for s, e in zip(starts, ends, strict=True))
    span = (max(ends) - min(starts)) if n else float("nan")
    nan = float("nan")
    worker_pct: list[float] = []
    client_pct = busy_pct = steal_pct = other_pct = nan
    if window:
        (w0, c0, o0, m0), (w1, c1, o1, m1) = window
        secs = args.seconds
        worker_pct = [round(100 * (b - a) / secs, 1) for a, b in zip(w0, w1, strict=True)]
        client_pct = 100 * (c1 - c0) / secs
        busy_pct = busy_pct_between(m0, m1)
        steal_pct = 100 * (m1[1] - m0[1]) / max(1.0, m1[2] - m0[2])
        ours = sum(worker_pct) + client_pct + 100 * (o1 - o0) / secs
        other_pct = busy_pct * NPROC - ours
    counts = Counter(statuses)
    return PhaseResult(
        server=server.name,
        round=round_no,
        requests=n,
        seconds=round(span, 3),
        rps=n / span if n else 0.0,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else float("nan"),
        mean_ms=sum(latencies) / n if n else float("nan"),
        statuses={str(k): v for k, v in sorted(counts.items())},
        non2xx=sum(v for k, v in counts.items() if not 200 <= k < 300),
        warmup_requests=warm_n,
        warmup_non2xx=warm_bad,
        reconnects=reconnects,
        exhausted_connections=exhausted,
        connections_per_worker=spread,
        client_cpu_pct=round(client_pct, 1),
        worker_cpu_pct=worker_pct,
        worker_cpu_us_per_request=round(sum(worker_pct) / 100 * args.seconds / n * 1e6, 1)
        if window and n
        else nan,
        machine_busy_pct=round(busy_pct, 1),
        steal_pct=round(steal_pct, 1),
        other_cpu_pct=round(other_pct, 1),
        busy_before_pct=round(busy_before, 1),
        ok_ids=list(ok_ids),
    )


# --------------------------------------------------------------------------------------------
# Setup, accounting, report
# --------------------------------------------------------------------------------------------


def make_instance(root: Path) -> tuple[Settings, str, str, int]:
    instance = root / "instance"
    settings = Settings(
        database_url=f"sqlite:///{instance / 'shoper_retention.sqlite3'}",
        secret_key=SECRET_KEY,
        instance_path=instance,
    )
    upgrade(settings)
    engine = make_engine(settings.database_url)
    shop = make_shop(make_session_factory(engine), settings, now=datetime.now(UTC))
    engine.dispose()
    return settings, shop.ref, shop.webhook_secret, shop.id


def stored_order_ids(db_path: Path, shop_id: int) -> tuple[int, set[int], int]:
    """(rows, order ids found in dedupe keys, rows not from this bench)."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT dedupe_key FROM inbox WHERE shop_id = ?", (shop_id,)).fetchall()
    ids, foreign = set(), 0
    for (key,) in rows:
        event, _, rest = key.partition(":")
        order_id = rest.split(":", 1)[0]
        if event == EVENT and order_id.isdigit():
            ids.add(int(order_id))
        else:
            foreign += 1
    return len(rows), ids, foreign


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    from importlib.metadata import version

    import gunicorn
    import sqlalchemy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return dict(
        nproc=len(os.sched_getaffinity(0)),
        cpu=cpu,
        python=platform.python_version(),
        system=f"{platform.system()} {platform.release()}",
        gunicorn=gunicorn.__version__,
        flask=version("flask"),
        sqlalchemy=sqlalchemy.__version__,
        sqlite=sqlite3.sqlite_version,
        server=f"gunicorn -w {args.workers} -k {args.worker_class} --threads {args.threads}",
    )


INGEST_PATH = (
    "shoper_retention/platforms/shoper/fast_ingest.py",
    "shoper_retention/ingest/writer.py",
    "shoper_retention/ingest/inbox.py",
    "shoper_retention/db.py",
    "shoper_retention/app.py",
    "shoper_retention/credentials.py",
    "shoper_retention/platforms/shoper/signature.py",
    "shoper_retention/platforms/shoper/events.py",
)


def code_version(root: Path) -> dict[str, Any]:
    """Which code was measured: the commit, whether the files on the webhook path differ from
    it, and a hash of those files as they were served (the work tree may be in flux)."""
    digest = hashlib.sha256()
    for rel in INGEST_PATH:
        path = root / rel
        digest.update(rel.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    info: dict[str, Any] = dict(root=str(root), ingest_path_sha256=digest.hexdigest()[:16])
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *INGEST_PATH],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        info.update(git_head=head, ingest_path_modified=[d for d in dirty if "/" in d])
    except (OSError, subprocess.CalledProcessError):
        info.update(git_head=None, ingest_path_modified=None)
    return info


def aggregate(phases: list[PhaseResult], name: str) -> dict[str, Any]:
    mine = [p for p in phases if p.server == name and not p.discarded]
    if not mine:
        nan = float("nan")
        return dict(requests=0, rps=nan, p99_ms_worst=nan, non2xx=0, cpu_us=nan, noisy=0)
    every = [p for p in phases if p.server == name]  # discarded ones too: every answer counts
    cpu = [p.worker_cpu_us_per_request for p in mine if not math.isnan(p.worker_cpu_us_per_request)]
    return dict(
        requests=sum(p.requests for p in mine),
        rps=sum(p.requests for p in mine) / sum(p.seconds for p in mine),
        p99_ms_worst=max(p.p99_ms for p in mine),
        non2xx=sum(p.non2xx + p.warmup_non2xx for p in every),
        cpu_us=sum(cpu) / len(cpu) if cpu else float("nan"),
        noisy=sum(p.noisy for p in mine),
    )


def fmt_row(p: PhaseResult) -> str:
    noisy = " (noisy)" if p.noisy else ""
    label = f"~~{p.server}~~ (discarded)" if p.discarded else p.server
    spread = "/".join(str(x) for x in p.connections_per_worker)
    wcpu = "/".join(f"{x:.0f}" for x in p.worker_cpu_pct) or "-"
    return (
        f"| {p.round} | {label} | {p.requests} | {p.rps:,.0f} | {p.p50_ms:.2f} | "
        f"{p.p95_ms:.2f} | {p.p99_ms:.2f} | {p.max_ms:.1f} | {p.non2xx} | {spread} | "
        f"{num(p.client_cpu_pct)} | {wcpu} | {num(p.worker_cpu_us_per_request)} | "
        f"{num(p.other_cpu_pct)}{noisy} | {num(p.machine_busy_pct)} | {num(p.steal_pct)} |"
    )


def num(value: float) -> str:
    """CPU figures exist in time mode only (--seconds); '-' in count mode."""
    return "-" if math.isnan(value) else f"{value:.0f}"


def report(
    args: argparse.Namespace,
    info: dict[str, Any],
    phases: list[PhaseResult],
    accounting: dict[str, Any],
    command: str,
) -> str:
    bare, ingest = aggregate(phases, "bare"), aggregate(phases, "ingest")
    code = info["code"]
    ratio = ingest["rps"] / bare["rps"]
    checks = [
        (f"ingest/bare throughput >= {TARGET_RATIO}", f"{ratio:.3f}", ratio >= TARGET_RATIO),
        (
            f"ingest p99 < {TARGET_P99_MS:.0f} ms (worst phase)",
            f"{ingest['p99_ms_worst']:.2f} ms",
            ingest["p99_ms_worst"] < TARGET_P99_MS,
        ),
        (
            "zero non-2xx answers (ingest, warm-up included)",
            str(ingest["non2xx"]),
            ingest["non2xx"] == 0,
        ),
        (
            "zero lost deliveries (accepted - stored)",
            str(accounting["lost"]),
            accounting["lost"] == 0,
        ),
    ]
    exhausted = sum(p.exhausted_connections for p in phases)
    lines = [
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}: `{command}`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['system']}, Python "
        f"{info['python']}, gunicorn {info['gunicorn']}, Flask {info['flask']}, "
        f"SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}; machine "
        f"{info['busy_before_run_pct']:.0f}% busy in the second before the run.",
        f"Servers: `{info['server']}` --keep-alive 30, each; the bare app is bench/bare_app.py.",
        f"Code: commit {code['git_head']}"
        + (
            f", webhook path modified in the work tree: {', '.join(code['ingest_path_modified'])}"
            if code["ingest_path_modified"]
            else ", webhook path as committed"
        )
        + f" (sha256 of the webhook path files {code['ingest_path_sha256']}"
        + (f", served from {code['root']}" if code["root"] != str(REPO) else "")
        + ").",
        f"Load: {args.concurrency} keep-alive connections (closed loop) from "
        f"{args.client_processes} client processes, "
        + (
            f"{args.requests} measured requests per phase after {args.warmup_requests} warm-up."
            if args.requests is not None
            else f"{args.warmup:g} s warm-up then {args.seconds:g} s measured per phase."
        ),
        "",
        "| round | server | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | non-2xx "
        "| conns per worker | client CPU % | worker CPU % | worker CPU µs/req | other CPU % "
        "| machine busy % | steal % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[fmt_row(p) for p in phases],
        "",
        "CPU % is of one core over the measured window. client: all client processes; worker: "
        "each gunicorn worker of the server measured; other: whatever else ran on the machine "
        f"(a phase is marked noisy above {NOISY_OTHER_PCT:.0f}%, or above "
        f"{NOISY_STEAL_PCT:.0f}% steal); machine busy and steal: % of all cores.",
        "",
        f"Throughput over the kept phases: bare {bare['rps']:,.0f} req/s, ingest "
        f"{ingest['rps']:,.0f} req/s, **ratio ingest/bare {ratio:.3f}**. Server CPU per "
        f"request: bare {num(bare['cpu_us'])} µs, ingest {num(ingest['cpu_us'])} µs.",
        "",
        f"Deliveries: {accounting['accepted']} answered 2xx by the ingest server (warm-up "
        f"included), {accounting['rows']} inbox rows, lost {accounting['lost']}, stored without "
        f"a 2xx {accounting['stored_not_acked']}, duplicates answered 200: "
        f"{accounting['duplicates']}. Connections reopened during the phases: "
        f"{sum(p.reconnects for p in phases)} (0: every connection stayed keep-alive).",
        "",
        "| target | measured | result |",
        "|---|---|---|",
        *[f"| {name} | {value} | {'PASS' if ok else 'FAIL'} |" for name, value, ok in checks],
    ]
    discarded = sum(p.discarded for p in phases)
    noisy_kept = bare["noisy"] + ingest["noisy"]
    if discarded or noisy_kept:
        lines += [
            "",
            f"{discarded} phase(s) measured again because other programs used the machine "
            f"meanwhile (discarded rows; their deliveries still count above); {noisy_kept} kept "
            "phase(s) still noisy: read those numbers with care.",
        ]
    if exhausted:
        lines += [
            "",
            f"WARNING: {exhausted} connection(s) ran out of pre-built requests; raise --max-rate.",
        ]
    return "\n".join(lines)


def update_performance_md(section: str) -> None:
    block = f"{MARK_START}\n{section}\n{MARK_END}"
    if PERFORMANCE_MD.exists():
        text = PERFORMANCE_MD.read_text()
        if MARK_START in text and MARK_END in text:
            before, rest = text.split(MARK_START, 1)
            after = rest.split(MARK_END, 1)[1]
            PERFORMANCE_MD.write_text(before + block + after)
            return
        PERFORMANCE_MD.write_text(
            text.rstrip() + "\n\n## Webhook ingest: latest run\n\n" + block + "\n"
        )
        return
    PERFORMANCE_MD.parent.mkdir(parents=True, exist_ok=True)
    PERFORMANCE_MD.write_text("# Performance\n\n## Webhook ingest: latest run\n\n" + block + "\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase")
    p.add_argument(
        "--requests",
        type=int,
        default=None,
        help="measure this many requests per phase instead of --seconds",
    )
    p.add_argument(
        "--warmup-requests",
        type=int,
        default=1000,
        help="warm-up requests per phase with --requests",
    )
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument(
        "--rounds", type=int, default=2, help="rounds of bare+ingest, in ABBA order to cancel drift"
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker-class", default="gthread")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--client-processes", type=int, default=2)
    p.add_argument(
        "--max-rate",
        type=float,
        default=10000.0,
        help="time mode: requests are pre-built for this total rate",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="seconds a phase may wait for other load on the machine to end",
    )
    p.add_argument(
        "--servers",
        type=lambda v: v.split(","),
        default=["bare", "ingest"],
        help="comma-separated subset of bare,ingest (diagnostics; implies --no-doc)",
    )
    p.add_argument(
        "--app-root",
        type=Path,
        default=REPO,
        help="serve shoper_retention from this checkout (to measure a candidate fix)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=1,
        help="times a phase is measured again when others used the machine during it",
    )
    p.add_argument("--no-doc", action="store_true", help="do not update docs/PERFORMANCE.md")
    p.add_argument("--keep", action="store_true", help="keep the temp instance dir")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.app_root = args.app_root.resolve()
    if set(args.servers) != {"bare", "ingest"}:
        args.no_doc = True
    command = " ".join(["bench/webhook_ingest.py", *(argv if argv is not None else sys.argv[1:])])
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    b0 = machine_busy()
    time.sleep(1.0)
    b1 = machine_busy()
    idle_busy = busy_pct_between(b0, b1)
    if idle_busy > 10:
        print(
            f"WARNING: the machine was {idle_busy:.0f}% busy before the run; the numbers "
            "will be noisy",
            file=sys.stderr,
        )
    root = Path(tempfile.mkdtemp(prefix="sr-bench-"))
    try:
        return run(args, root, command, stamp, idle_busy)
    finally:
        if args.keep:
            print(f"instance kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, command: str, stamp: str, idle_busy: float) -> int:
    """Set up, measure every phase, account for the deliveries, report."""
    settings, shop_ref, secret, shop_id = make_instance(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPER_RETENTION_")}
    env.update(
        SHOPER_RETENTION_DATABASE_URL=settings.database_url,
        SHOPER_RETENTION_SECRET_KEY=settings.secret_key,
        SHOPER_RETENTION_INSTANCE_PATH=str(settings.instance_path),
        PYTHONUNBUFFERED="1",
    )
    servers = {
        "ingest": Server(
            "ingest",
            "shoper_retention.wsgi:app",
            free_port(),
            RESULTS_DIR / f"{stamp}-ingest-gunicorn.log",
            root=args.app_root,
        ),
        "bare": Server(
            "bare", "bench.bare_app:app", free_port(), RESULTS_DIR / f"{stamp}-bare-gunicorn.log"
        ),
    }
    probes = {"ingest": "/healthz", "bare": "/healthz"}
    phases: list[PhaseResult] = []
    try:
        for server in servers.values():
            server.start(args, env)
        for name, server in servers.items():
            server.wait_ready(probes[name])
        order = []
        for r in range(args.rounds):
            pair = ["bare", "ingest"] if r % 2 == 0 else ["ingest", "bare"]
            order += [(name, r + 1) for name in pair if name in args.servers]
        own = [os.getpid()]
        for server in servers.values():
            assert server.proc is not None
            own += [server.proc.pid, *server.worker_pids()]
        run_no = 0
        for name, round_no in order:
            for attempt in range(args.retries + 1):
                run_no += 1
                busy_before = wait_for_quiet(args.quiet_wait, QUIET_BUSY_PCT)
                phase = run_phase(
                    servers[name],
                    round_no,
                    args,
                    shop_ref,
                    secret,
                    id_base=run_no * 1_000_000_000,
                    probe_path=probes[name],
                    own_pids=own,
                    busy_before=busy_before,
                )
                phases.append(phase)
                retry = phase.noisy and attempt < args.retries
                phase.discarded = retry
                print(
                    f"  {name:6} round {round_no}: {phase.rps:8,.0f} req/s  "
                    f"p99 {phase.p99_ms:6.2f} ms  non-2xx {phase.non2xx + phase.warmup_non2xx}  "
                    f"other CPU {phase.other_cpu_pct:.0f}%"
                    + ("  -> noisy, measured again" if retry else ""),
                    flush=True,
                )
                if not retry:
                    break
    finally:
        for server in servers.values():
            server.stop()

    accepted = {i for p in phases if p.server == "ingest" for i in p.ok_ids}
    rows, stored, foreign = stored_order_ids(
        settings.instance_path / "shoper_retention.sqlite3", shop_id
    )
    duplicates = sum(p.statuses.get("200", 0) for p in phases if p.server == "ingest")
    accounting = dict(
        accepted=len(accepted),
        rows=rows,
        lost=len(accepted - stored),
        stored_not_acked=len(stored - accepted),
        foreign_rows=foreign,
        duplicates=duplicates,
    )
    info = machine_info(args)
    info["busy_before_run_pct"] = round(idle_busy, 1)
    info["code"] = code_version(args.app_root)
    section = report(args, info, phases, accounting, command)
    print()
    print(section)
    out = dict(
        command=command,
        args=vars(args),
        machine=info,
        phases=[{k: v for k, v in asdict(p).items() if k != "ok_ids"} for p in phases],
        accounting=accounting,
    )
    result_file = RESULTS_DIR / f"{stamp}-webhook_ingest.json"
    result_file.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nraw results: {result_file.relative_to(REPO)}")
    if not args.no_doc:
        update_performance_md(section)
        print(f"updated {PERFORMANCE_MD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
