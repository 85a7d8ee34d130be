"""Where a request's CPU goes, counted instead of timed (tests/bench/run --profile).

Timings on a shared 2-CPU machine drift by several percent from run to run, which is as big
as the differences between the one-thread servers. Counts do not drift. For every server
this counts, per request:

- the system calls it makes (`strace -f -c`): the kernel's share, which is most of the cost
  of a connection that is opened, read, answered and closed;
- the instructions it runs in user space (`valgrind --tool=callgrind`), and how many of them
  are spent in malloc/free and in mutex lock/unlock.

The client is the same for everyone: `requests` connections one after the other, each
sending one request and reading the whole response. Each server is counted twice, serving
`base` and then `base + requests` requests, and the difference is divided by `requests`:
start-up and shutdown cancel out. The counts repeat exactly from run to run, whatever else
the machine is doing.
"""
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import measure

ALLOCATION = re.compile(r"\b(malloc|free|_int_malloc|_int_free|cfree|operator new|"
                        r"operator delete|malloc_consolidate|tcache\w*)\b")
LOCKS = re.compile(r"pthread_mutex_(un)?lock|__pthread_mutex_unlock_usercnt")


def serve(wrapper, binary, requests, timeout=120.0):
    """Runs `wrapper + [binary, ...]`, makes `requests` sequential requests, then SIGTERM."""
    with tempfile.TemporaryFile() as stdout:
        process = subprocess.Popen(wrapper + [str(binary), "--quiet", "--port", "0"],
                                   stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=subprocess.DEVNULL)
        try:
            port = wait_for_port(stdout, process, timeout)
            for _ in range(requests):
                answer = measure.exchange(port, measure.REQUEST, timeout=timeout)
                if answer != measure.RESPONSE:
                    raise measure.BenchError(f"{binary}: wrong response {answer[:60]!r}")
            # The server itself, not strace: strace would detach and leave it running.
            for pid in children(process.pid) or [process.pid]:
                os.kill(pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_for_port(stdout, process, timeout):
    """The port of the readiness line (valgrind needs a few seconds to get there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stdout.seek(0)
        match = measure.READY.match(stdout.read())
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            raise measure.BenchError(f"exited with {process.returncode} before listening")
        time.sleep(0.05)  # polling a file: the readiness line has no other signal here
    raise measure.BenchError(f"no readiness line within {timeout} s")


def children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def count_syscalls(binary, requests):
    """{syscall: calls} while serving `requests` requests (strace -c, all threads)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".strace") as out:
        serve(["strace", "-f", "-c", "-o", out.name], binary, requests)
        lines = out.read().splitlines()
    counts = {}
    header = next(i for i, line in enumerate(lines) if "calls" in line)
    columns = lines[header].replace("% time", "%time").split()
    for line in lines[header + 2:]:
        fields = line.split()
        if not fields or fields[0].startswith("-") or fields[-1] == "total":
            continue
        # The errors column is blank when a syscall never failed: count from the right.
        calls = int(fields[columns.index("calls")]) if len(fields) == len(columns) else int(
            fields[-2])
        counts[fields[-1]] = calls
    return counts


def count_instructions(binary, requests):
    """(all, allocation, locks): user-space instructions while serving `requests` requests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        serve(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"], binary, requests)
        annotated = subprocess.run(["callgrind_annotate", "--threshold=100", str(out)],
                                   capture_output=True, text=True, check=True).stdout
    total = allocation = locks = 0
    for line in annotated.splitlines():
        match = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)", line)
        if not match:
            continue
        count, where = int(match.group(1).replace(",", "")), match.group(2)
        if "PROGRAM TOTALS" in where:
            total = count
        elif LOCKS.search(where):
            locks += count
        elif ALLOCATION.search(where.split(" [")[0]):
            allocation += count
    return total, allocation, locks


def profile(server, base, requests):
    """Per-request counts for one server: the difference between two runs, divided."""
    syscalls_small = count_syscalls(server["binary"], base)
    syscalls_large = count_syscalls(server["binary"], base + requests)
    per_call = {name: (syscalls_large.get(name, 0) - syscalls_small.get(name, 0)) / requests
                for name in syscalls_large}
    per_call = {name: n for name, n in per_call.items() if n >= 0.05}
    small = count_instructions(server["binary"], base)
    large = count_instructions(server["binary"], base + requests)
    instructions, allocation, locks = ((b - a) / requests for a, b in zip(small, large))
    return dict(server=server["name"], syscalls=sum(per_call.values()),
                syscall_mix=dict(sorted(per_call.items(), key=lambda kv: -kv[1])),
                instructions=instructions, allocation=allocation, locks=locks)


def markdown(rows, machine, requests, chapters):
    """The table for docs/benchmarks.md."""
    lines = [
        "## Counted, not timed: one request's system calls and instructions",
        "",
        f"Generated by `tests/bench/run --profile` on {machine['date']} (commit "
        f"`{machine['commit']}`): {requests} sequential requests, one connection each. "
        "These counts repeat exactly from run to run. Stage 04 is left out: its loop spins, "
        "so its count would measure time, not requests.",
        "",
        "| server | system calls | which | user-space instructions | in malloc/free "
        "| in mutex lock/unlock |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        name = row["server"]
        label = f"[{name}]({name}.md)" if name in chapters else (
            "Asio peer" if name == "asio" else name)
        mix = ", ".join(f"{call} {n:g}" for call, n in
                        ((c, round(n, 1)) for c, n in row["syscall_mix"].items()))
        lines.append(f"| {label} | {row['syscalls']:.1f} | {mix} | {row['instructions']:,.0f} "
                     f"| {row['allocation']:,.0f} | {row['locks']:,.0f} |")
    return "\n".join(lines)
