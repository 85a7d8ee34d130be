"""Measuring one server: start it, load it with wrk, read its costs from /proc.

Everything here is bounded in time: the readiness line has a deadline, wrk runs for a fixed
duration with a request timeout, and every process started is killed and reaped. Nothing
waits on a sleep to know that something has happened; the only sleeps are the measurement
windows of the idle scenario, whose length is the point.
"""
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRK_SCRIPT = HERE / "wrk_summary.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")

# The bytes of common/http.hpp: what every server must send.
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
            b"Hello world!")
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
             b"Connection: close\r\n\r\n")
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# --keep-alive (tests/bench/run's keep-alive cells): the answer that leaves the connection
# open, and the request that asks to close it (which gets RESPONSE, then a close).
KEEP_ALIVE_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello world!"
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
# What a stalled client sends: the start of a request, never the blank line that ends it.
STALLED_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"


class BenchError(Exception):
    """Something that makes a measurement meaningless (a server that does not start, ...)."""


class Server:
    """One running server process, started with `--quiet --port 0` (and `args`).

    The constructor returns once the readiness line has been read. Use it in a `with` block:
    leaving it kills and reaps the process. stderr goes to a file (a server logging errors
    into a pipe nobody reads would block); stdout is drained by a thread for the same reason.
    """

    def __init__(self, binary, startup_timeout=10.0, wrapper=(), args=()):
        self.stderr = tempfile.TemporaryFile()
        # `wrapper` runs the server under another program (strace, valgrind): see terminate().
        self.process = subprocess.Popen([*wrapper, str(binary), "--quiet", "--port", "0", *args],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.stderr)
        self.pid = self.process.pid
        self.drain = None
        try:
            self.port = self._read_port(startup_timeout)
        except BaseException:
            self.stop()
            raise
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _read_port(self, timeout):
        deadline = time.monotonic() + timeout
        seen = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in seen:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise BenchError(f"no readiness line within {timeout} s")
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    raise BenchError(f"exited before its readiness line: {self.errors()}")
                seen += chunk
        match = READY.match(seen)
        if not match:
            raise BenchError(f"unexpected first line: {seen.splitlines()[0]!r}")
        return int(match.group(1))

    def _drain(self):
        while os.read(self.process.stdout.fileno(), 65536):
            pass

    def cpu_seconds(self):
        """utime + stime of the whole process: every thread, including those that exited."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] = state
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def peak_rss_kib(self):
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def alive(self):
        return self.process.poll() is None

    def errors(self, limit=300):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[:limit].strip()

    def terminate(self, timeout):
        """SIGTERM to the server itself (under strace, the traced child: strace would only
        detach), then waits for the whole process tree to exit."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
        for pid in pids or [self.pid]:
            os.kill(pid, signal.SIGTERM)
        self.process.wait(timeout=timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.drain:  # it sees end-of-file now; join it before its fd number is reused
            self.drain.join(timeout=5)
        self.process.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.stderr.close()


def exchange(port, request, timeout=5.0):
    """Sends `request`, returns every byte received until the server closes.

    `timeout` bounds the whole exchange; past it, socket.timeout (an OSError) is raised.
    """
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(request)
        received = b""
        while True:
            client.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = client.recv(4096)
            if not chunk:
                return received
            received += chunk


def check_contract(binary):
    """The two answers the comparison relies on; raises BenchError if a server differs."""
    with Server(binary) as server:
        got = exchange(server.port, REQUEST)
        if got != RESPONSE:
            raise BenchError(f"wrong response to a request: {got[:80]!r}")
        # Exactly 1024 bytes and no blank line: the buffer fills and nothing is left unread
        # (unread bytes would turn the server's close into a reset that can eat the answer).
        got = exchange(server.port, b"GET /" + b"x" * 1019)
        if got != TOO_LARGE:
            raise BenchError(f"wrong response to a 1024-byte request: {got[:80]!r}")


def serves_keep_alive(binary):
    """Whether `binary --help` lists --keep-alive (a server without it exits 0 or 2: no)."""
    try:
        done = subprocess.run([str(binary), "--help"], capture_output=True, text=True,
                              timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--keep-alive" in done.stdout


def check_keep_alive(binary):
    """The keep-alive answers; raises BenchError if a server started with --keep-alive differs.

    Two requests then one with `Connection: close`, all sent at once (pipelined): three
    answers in order, then the close. Then a request alone, answered with the connection
    left open; then the 431 for a 1024-byte request, and the close.
    """
    with Server(binary, args=["--keep-alive"]) as server:
        got = exchange(server.port, REQUEST * 2 + CLOSE_REQUEST)
        if got != KEEP_ALIVE_RESPONSE * 2 + RESPONSE:
            raise BenchError(f"wrong answers to 3 pipelined requests: {got[:120]!r}")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5.0) as client:
            client.sendall(REQUEST)
            got = b""
            while len(got) < len(KEEP_ALIVE_RESPONSE):
                chunk = client.recv(4096)
                if not chunk:
                    break
                got += chunk
            if got != KEEP_ALIVE_RESPONSE:
                raise BenchError(f"wrong keep-alive response: {got[:80]!r}")
            client.sendall(b"GET /" + b"x" * 1019)
            got = b""
            while chunk := client.recv(4096):
                got += chunk
            if got != TOO_LARGE:
                raise BenchError(f"wrong response to a 1024-byte request on a kept-alive "
                                 f"connection: {got[:80]!r}")


class StalledClients:
    """Connections that send the start of a request and then nothing, held open until closed.

    connect() returns once the kernel has queued the connection, whether or not the server
    has accepted it yet: to a server that does not accept, they simply wait in its backlog,
    ahead of the load that follows (a blocking server picks the first one and stops there).
    """

    def __init__(self, port, count):
        self.sockets = []
        try:
            for _ in range(count):
                client = socket.create_connection(("127.0.0.1", port), timeout=5.0)
                self.sockets.append(client)
                client.sendall(STALLED_REQUEST)
        except BaseException:
            self.close()
            raise

    def close(self):
        for client in self.sockets:
            client.close()
        self.sockets = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Probes:
    """While a cell runs, a new client every `interval` s sends one request and waits at most
    `deadline` s for the exact response: the harness's own count of who gets served.

    wrk cannot give that count: wrk 4.1 counts a "timeout" only for a response that arrives
    late, and a request that never gets an answer is counted nowhere. The probes cost a few
    requests per second, next to thousands from wrk.
    """

    def __init__(self, port, interval=0.25, deadline=1.0, request=REQUEST):
        self.port, self.interval, self.deadline = port, interval, deadline
        self.request = request  # CLOSE_REQUEST for a server in --keep-alive mode
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.answered = 0
        self.threads = []
        self.pacer = threading.Thread(target=self._pace, daemon=True)
        self.pacer.start()

    def _pace(self):
        while not self.stop.wait(self.interval):  # pacing, not synchronization
            probe = threading.Thread(target=self._probe, daemon=True)
            self.threads.append(probe)
            probe.start()

    def _probe(self):
        try:
            ok = exchange(self.port, self.request, self.deadline) == RESPONSE
        except OSError:  # timed out, refused, reset: not answered
            ok = False
        with self.lock:
            self.sent += 1
            self.answered += ok

    def finish(self):
        """Stops sending; waits for the probes in flight (each ends by its deadline)."""
        self.stop.set()
        self.pacer.join()
        for probe in self.threads:
            probe.join(self.deadline + 5)
        return self.answered, self.sent


def run_wrk(port, connections, duration, timeout, threads):
    """Runs wrk against the server; returns its summary as a dict (latencies in µs)."""
    threads = min(threads, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s",
               "--timeout", f"{timeout}s", "-s", str(WRK_SCRIPT), f"http://127.0.0.1:{port}/"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30)
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from error
    for line in done.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[len("BENCH "):])
    raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")


def measure_load(binary, connections, duration, timeout, threads, stalled=0, keep_alive=False):
    """One cell: a fresh server, `stalled` stalled clients held open, then wrk for `duration`.

    With `keep_alive`, the server runs with --keep-alive: wrk's connections (which wrk keeps
    open when the server does) carry request after request, and the probes ask to close.

    Returns requests/s, latency percentiles, wrk's error counts, how many probe clients got
    their answer, the server's CPU time per request (over the wrk run) and its peak RSS.
    """
    args = ["--keep-alive"] if keep_alive else []
    with Server(binary, args=args) as server, StalledClients(server.port, stalled):
        cpu_before = server.cpu_seconds()
        probes = Probes(server.port, request=CLOSE_REQUEST if keep_alive else REQUEST)
        try:
            summary = run_wrk(server.port, connections, duration, timeout, threads)
            cpu = server.cpu_seconds() - cpu_before
        finally:
            answered, sent = probes.finish()
        if not server.alive():
            raise BenchError(f"server died under load: {server.errors()}")
        requests = summary["requests"]
        seconds = summary["duration_us"] / 1e6
        return {
            "requests": requests,
            "rps": requests / seconds if seconds else 0.0,
            "p50_us": summary["p50_us"],
            "p99_us": summary["p99_us"],
            "probes_answered": answered,
            "probes_sent": sent,
            "late": summary["timeout"],
            "errors": sum(summary[k] for k in ("connect", "read", "write", "status")),
            "cpu_s": cpu,
            # The probes' few requests are the server's work too.
            "cpu_us_per_request": cpu * 1e6 / (requests + answered) if requests else None,
            "peak_rss_kib": server.peak_rss_kib(),
        }


def measure_idle(binary, window, stalled):
    """One cell: the server's CPU while nobody sends anything.

    First `window` seconds with no client at all, then `window` seconds with `stalled`
    stalled clients connected (a busy loop, or an epoll registration that reports a socket
    ready forever, shows here). The second window includes accepting those connections.
    """
    with Server(binary) as server:
        start = server.cpu_seconds()
        time.sleep(window)
        idle = server.cpu_seconds() - start
        with StalledClients(server.port, stalled):
            start = server.cpu_seconds()
            time.sleep(window)
            idle_stalled = server.cpu_seconds() - start
        return {
            "idle_cpu_pct": 100 * idle / window,
            "idle_stalled_cpu_pct": 100 * idle_stalled / window,
            "idle_rss_kib": server.peak_rss_kib(),
        }
