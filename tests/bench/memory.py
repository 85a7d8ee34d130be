"""Memory per idle connection (tests/bench/run --memory).

For one server: start it, serve one request (so that whatever a first request sets up once is
in the baseline), read its resident set size, open `connections` connections from 127.0.0.1
that send nothing, wait until the server holds them all, read its resident set size again:
(after - before) / connections is what one idle connection costs the server's process. With
`kept`, the server runs with `--keep-alive --idle-ms 600000` and each connection first sends
one request and reads its answer: what a kept connection costs between two requests.

The figure is VmRSS from /proc/PID/status (the pages of the process that are in memory: its
heap, its stacks, the code and data it has touched), in KiB. The kernel's own memory for each
connection (the socket, its file, its epoll item, buffers once data waits) is not in it.

Every wait is a readiness check with a deadline, never a sleep that hopes: the connections
are opened `batch` at a time, and each batch waits until the server's /proc/PID/fd holds one
more socket per connection (so its accept queue never overflows: a dropped SYN would cost a
1 s retransmit). Then one more request, on a connection accepted after all of them, must be
answered: a one-thread server answers it only after it has run the code that each earlier
connection's arrival queued (the first read that would block, the registration with epoll).
The server is killed before the clients close (it has nothing left to do for them), and the
clients close with a reset (SO_LINGER 0), so no connection lingers in TIME_WAIT.
"""
import os
import re
import resource
import socket
import struct
import subprocess
import time
from pathlib import Path

import measure
import report

SLABS = ("TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi")  # see kernel_objects()


def vm_rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise measure.BenchError(f"no VmRSS in /proc/{pid}/status")


def fd_counts(pid):
    """(sockets, all fds) that process `pid` has open."""
    sockets = total = 0
    directory = f"/proc/{pid}/fd"
    for name in os.listdir(directory):
        try:
            target = os.readlink(f"{directory}/{name}")
        except FileNotFoundError:  # closed while we looked
            continue
        total += 1
        sockets += target.startswith("socket:")
    return sockets, total


def wait_until(condition, timeout, what):
    """Polls `condition` (a /proc read) until it holds; BenchError after `timeout` s."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not condition():
        if time.monotonic() > deadline:
            raise measure.BenchError(f"not within {timeout:g} s: {what}")
        time.sleep(delay)  # between two looks at /proc, not instead of one
        delay = min(delay * 2, 0.05)


def raise_fd_limit(pid, need):
    """Makes sure process `pid` (0: this one) may open `need` fds (root may raise the hard limit)."""
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (need, max(hard, need)))
    except (ValueError, PermissionError) as error:
        raise measure.BenchError(f"cannot raise RLIMIT_NOFILE to {need} (soft {soft}, hard "
                                 f"{hard}): {error}; run as root or with a higher hard limit, "
                                 f"or ask for fewer connections") from error


def measure_memory(binary, connections, kept=False, batch=250, timeout=20.0):
    """One server, `connections` idle connections: its VmRSS before and after, and its fds."""
    need = connections + 256  # the connections, and the few fds a process has anyway
    raise_fd_limit(0, need)
    args = ["--keep-alive", "--idle-ms", "600000"] if kept else []
    probe = measure.CLOSE_REQUEST if kept else measure.REQUEST
    clients = []
    try:
        with measure.Server(binary, args=args) as server:
            raise_fd_limit(server.pid, need)
            sockets_at_start, _ = fd_counts(server.pid)  # the listening socket
            if measure.exchange(server.port, probe, timeout) != measure.RESPONSE:
                raise measure.BenchError("wrong response to the first request")
            # A lingering close keeps the first request's socket until it sees our close.
            wait_until(lambda: fd_counts(server.pid)[0] <= sockets_at_start, timeout,
                       "the first request's connection closed by the server")
            _, fds_before = fd_counts(server.pid)
            rss_before = vm_rss_kib(server.pid)
            started = time.monotonic()
            for first in range(0, connections, batch):
                new = []
                for _ in range(min(batch, connections - first)):
                    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    clients.append(client)
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
                    client.settimeout(timeout)
                    client.connect(("127.0.0.1", server.port))
                    new.append(client)
                if kept:
                    for client in new:
                        client.sendall(measure.REQUEST)
                    for client in new:
                        got = b""
                        while len(got) < len(measure.KEEP_ALIVE_RESPONSE):
                            chunk = client.recv(4096)
                            if not chunk:
                                break
                            got += chunk
                        if got != measure.KEEP_ALIVE_RESPONSE:
                            raise measure.BenchError(f"wrong keep-alive answer: {got[:80]!r}")
                opened = len(clients)
                wait_until(lambda: fd_counts(server.pid)[0] - sockets_at_start >= opened,
                           timeout, f"the server holding {opened} connections")
                if not server.alive():
                    raise measure.BenchError(f"server died: {server.errors()}")
            if measure.exchange(server.port, probe, timeout) != measure.RESPONSE:
                raise measure.BenchError(f"wrong response to a request after {connections} "
                                         f"idle connections")
            wait_until(lambda: fd_counts(server.pid)[0] <= sockets_at_start + connections,
                       timeout, "the last request's connection closed by the server")
            sockets, fds_after = fd_counts(server.pid)
            rss_after = vm_rss_kib(server.pid)
            seconds = time.monotonic() - started
            if sockets - sockets_at_start != connections:
                raise measure.BenchError(f"the server holds {sockets - sockets_at_start} of the "
                                         f"{connections} connections")
            server.stop()  # before the clients' resets: it has nothing left to do for them
    finally:
        for client in clients:
            client.close()
    return dict(connections=connections, kept=kept, rss_before_kib=rss_before,
                rss_after_kib=rss_after, kib_per_connection=(rss_after - rss_before) / connections,
                fds_per_connection=(fds_after - fds_before) / connections, seconds=seconds)


def measured_servers(servers):
    """The servers worth 10,000 idle connections: the epoll ones (stage 05 on) and the peers.
    Threads stages would need 10,000 threads, stage 04's loop would spin over all of them."""
    chosen = []
    for server in servers:
        match = re.match(r"(\d\d)-", server["name"])
        if server["kind"] == "peer" or (match and int(match.group(1)) >= 5):
            chosen.append(server)
    return chosen


def lists_idle_ms(binary):
    done = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL)
    return "--idle-ms" in done.stdout


def measure_all(servers, connections):
    """[row] for every server: idle, and kept (servers whose --help lists --keep-alive)."""
    rows, failures = [], []
    for server in measured_servers(servers):
        for kept in ([False, True] if server.get("keep_alive") else [False]):
            what = f"{server['name']}{' --keep-alive' if kept else ''}"
            try:
                if kept and not lists_idle_ms(server["binary"]):
                    raise measure.BenchError("its --help lists --keep-alive but not --idle-ms: "
                                             "its idle timeout could close the connections "
                                             "while they are counted")
                row = measure_memory(server["binary"], connections, kept)
            except (measure.BenchError, OSError) as error:
                failures.append(f"{what} / memory: {error}")
                print(f"  FAILED memory {what:40} {error}", flush=True)
                continue
            rows.append(dict(server=server["name"], kind=server["kind"], **row))
            print(f"  memory {what:40} {row['kib_per_connection']:6.2f} KiB per connection "
                  f"(VmRSS {row['rss_before_kib']:,} -> {row['rss_after_kib']:,} KiB), "
                  f"{row['fds_per_connection']:.2f} fds per connection, "
                  f"{row['seconds']:.1f} s", flush=True)
    return rows, failures


def kernel_objects():
    """{slab cache: object size in bytes} from /proc/slabinfo (root only), for the note."""
    try:
        lines = Path("/proc/slabinfo").read_text().splitlines()
    except OSError:
        return {}
    sizes = {}
    for line in lines:
        fields = line.split()
        if fields and fields[0] in SLABS:
            sizes[fields[0]] = int(fields[3])
    return sizes


def markdown(rows, machine, connections, failures, chapters, goal=None):
    """The section for docs/benchmarks.md: the table, then the last stage's goal for `goal` (the
    last stage: report.goal_stage())."""
    labels = {"asio": "Asio peer", "tokio": "tokio peer"}

    def name(server):
        return f"[{server}]({server}.md)" if server in chapters else labels.get(server, server)

    kept = {row["server"]: row for row in rows if row["kept"]}
    idle = {row["server"]: row for row in rows if not row["kept"]}
    slabs = kernel_objects()
    kernel = ""
    if slabs:
        total = sum(slabs.values())
        kernel = (" On this run's kernel, /proc/slabinfo gives the objects one accepted "
                  "connection takes there, whichever server holds it: "
                  + ", ".join(f"`{slab}` {size:,} B" for slab, size in slabs.items())
                  + f", about {total / 1024:.1f} KiB, and the client's end of the connection "
                  "as much again (the epoll item only where the socket is registered).")
    lines = [
        "## Memory per idle connection",
        "",
        f"Generated by `tests/bench/run --memory` on {machine['date']} (commit "
        f"`{machine['commit']}`, Linux {machine['kernel']}): {connections:,} connections "
        "from 127.0.0.1 held open at once. **KiB per connection** is the server's VmRSS "
        "(from `/proc/PID/status`) with them all held, minus its VmRSS before the first one "
        "opened (after one request served), divided by the number of connections. "
        "**Idle** connections send nothing; **kept** ones (servers whose `--help` lists "
        "`--keep-alive`, started with `--keep-alive --idle-ms 600000`) have each had one "
        "request answered, and wait for the next. **fds per connection** counts every fd the "
        "server opened for them, from `/proc/PID/fd`."
        " **Kernel memory is not in these figures:** VmRSS counts the process's own pages, "
        "and a connection's socket, buffers and epoll registration are the kernel's." + kernel,
        "",
        *report.build_failure_lines(machine),
        "| server | KiB per idle connection | fds per idle connection "
        "| KiB per kept connection | fds per kept connection | VmRSS: before, then idle "
        "| VmRSS: before, then kept |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def cells(row):
        if not row:
            return ["—", "—"]
        return [f"{row['kib_per_connection']:.2f}", f"{row['fds_per_connection']:.2f}"]

    def rss(row):
        if not row:
            return "—"
        return f"{row['rss_before_kib'] / 1024:.1f} → {row['rss_after_kib'] / 1024:.1f} MiB"

    for server in dict.fromkeys(row["server"] for row in rows):
        i, k = idle.get(server), kept.get(server)
        lines.append("| " + " | ".join([name(server), *cells(i), *cells(k), rss(i), rss(k)])
                     + " |")
    lines += ["", *goal_lines(idle, goal)]
    if failures:
        lines += ["", "Failed in this run:", ""] + [f"- {failure}" for failure in failures]
    return "\n".join(lines)


def goal_lines(idle, goal):
    """The last stage's goal: the last stage's idle connection costs at most stage 05's."""
    title = (f"The last stage's goal for {goal}" if goal else "The last stage's goal") + (
        ", memory per idle connection at most stage 05's")
    if not goal:
        return [f"{title}: not checked in this run: it measured no stage whose `--help` "
                "lists `--keep-alive` (`--only` left it out, or it did not build)."]
    stage, reference = idle.get(goal), idle.get(report.REFERENCE)
    if not stage or not reference:
        missing = " and ".join(n for n, row in ((goal, stage), (report.REFERENCE, reference))
                               if not row)
        return [f"{title}: not measured ({missing}: no idle row in this run)."]
    mine, theirs = stage["kib_per_connection"], reference["kib_per_connection"]
    return [f"{title}: {mine:.2f} KiB, against {report.REFERENCE}'s {theirs:.2f} KiB "
            f"({report.fmt_ratio(report.ratio(mine, theirs))}): "
            f"{report.verdict(mine <= theirs)}."]
