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
start-up and shutdown cancel out. A server whose `--help` lists --keep-alive gets a second
row, started with --keep-alive: the client sends the requests one after the other on one
kept connection, reading each answer before it sends the next (no accept, no close: what a
request costs on a kept connection). On a quiet machine the counts repeat from run to run, to a
few instructions. Under load they drift: timing decides whether a request has arrived when a
server first reads, and a read too early costs a system call and a poll.
"""
import re
import socket
import subprocess
import tempfile
from pathlib import Path

import measure
import report

ALLOCATION = re.compile(r"\b(malloc|free|_int_malloc|_int_free|cfree|operator new|"
                        r"operator delete|malloc_consolidate|tcache\w*)\b")
LOCKS = re.compile(r"pthread_mutex_(un)?lock|__pthread_mutex_unlock_usercnt")


def serve(wrapper, binary, requests, keep_alive=False, timeout=120.0):
    """Runs the server under `wrapper`, makes `requests` sequential requests (with
    `keep_alive`, on one connection), then SIGTERM."""
    args = ["--keep-alive"] if keep_alive else []
    with measure.Server(binary, startup_timeout=timeout, wrapper=wrapper, args=args) as server:
        if keep_alive:
            kept_requests(server.port, requests, timeout)
        for _ in range(0 if keep_alive else requests):
            answer = measure.exchange(server.port, measure.REQUEST, timeout=timeout)
            if answer != measure.RESPONSE:
                raise measure.BenchError(f"{binary}: wrong response {answer[:60]!r}")
        server.terminate(timeout)


def kept_requests(port, requests, timeout):
    """`requests` requests on one connection, each answer read before the next request; the
    last asks to close, and the server's close is awaited (so its count includes it)."""
    expected = measure.KEEP_ALIVE_RESPONSE * (requests - 1) + measure.RESPONSE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        got = b""
        for i in range(requests):
            client.sendall(measure.CLOSE_REQUEST if i == requests - 1 else measure.REQUEST)
            want = len(measure.KEEP_ALIVE_RESPONSE) * (i + 1)
            while len(got) < want:
                chunk = client.recv(4096)
                if not chunk:
                    break
                got += chunk
        while chunk := client.recv(4096):  # the rest of the last answer, then the close
            got += chunk
    if got != expected:
        raise measure.BenchError(f"wrong answers on a kept connection: {got[-80:]!r}")


def count_syscalls(binary, requests, keep_alive=False):
    """{syscall: calls} while serving `requests` requests (strace -c, all threads)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".strace") as out:
        serve(["strace", "-f", "-c", "-o", out.name], binary, requests, keep_alive)
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


def count_instructions(binary, requests, keep_alive=False):
    """(all, allocation, locks): user-space instructions while serving `requests` requests."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        serve(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"], binary, requests,
              keep_alive)
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


def profile(server, base, requests, keep_alive=False):
    """Per-request counts for one server: the difference between two runs, divided."""
    syscalls_small = count_syscalls(server["binary"], base, keep_alive)
    syscalls_large = count_syscalls(server["binary"], base + requests, keep_alive)
    per_call = {name: (syscalls_large.get(name, 0) - syscalls_small.get(name, 0)) / requests
                for name in syscalls_large}
    per_call = {name: n for name, n in per_call.items() if n >= 0.05}
    small = count_instructions(server["binary"], base, keep_alive)
    large = count_instructions(server["binary"], base + requests, keep_alive)
    instructions, allocation, locks = ((b - a) / requests for a, b in zip(small, large))
    return dict(server=server["name"], keep_alive=keep_alive, syscalls=sum(per_call.values()),
                syscall_mix=dict(sorted(per_call.items(), key=lambda kv: -kv[1])),
                instructions=instructions, allocation=allocation, locks=locks)


def markdown(rows, machine, requests, chapters, goal=None):
    """The section for docs/benchmarks.md: the table, then the last stage's goals for `goal` (the
    last stage: report.goal_stage())."""
    lines = [
        "## Counted, not timed: one request's system calls and instructions",
        "",
        f"Generated by `tests/bench/run --profile` on {machine['date']} (commit "
        f"`{machine['commit']}`): {requests} sequential requests, one connection each. "
        "On a quiet machine these counts repeat from run to run, to a few instructions; under "
        "load they drift (see above). Stage 04 is left out: its loop spins, "
        "so its count would measure time, not requests. A row marked *keep-alive* is the "
        "same server started with `--keep-alive`, the requests sent one after the other on "
        "one kept connection, each answer read before the next request: no accept and no "
        "close."
        + (" The tokio peer's mutexes are Rust's `std::sync::Mutex`, whose uncontended lock "
           "and unlock are inlined into their callers: its last column cannot count them."
           if any(row["server"] == "tokio" for row in rows) else ""),
        "",
        *report.build_failure_lines(machine),
        "| server | system calls | which | user-space instructions | in malloc/free "
        "| in mutex lock/unlock |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        name = row["server"]
        label = f"[{name}]({name}.md)" if name in chapters else (
            {"asio": "Asio peer", "tokio": "tokio peer"}.get(name, name))
        if row.get("keep_alive"):
            label += ", *keep-alive*"
        mix = ", ".join(f"{call} {n:g}" for call, n in
                        ((c, round(n, 1)) for c, n in row["syscall_mix"].items()))
        lines.append(f"| {label} | {row['syscalls']:.1f} | {mix} | {row['instructions']:,.0f} "
                     f"| {row['allocation']:,.0f} | {row['locks']:,.0f} |")
    return "\n".join(lines + [""] + goal_lines(rows, goal))


INSTRUCTIONS_GOAL = 2000     # the last stage's goal: user-space instructions per request, at most
ALLOWED_EXTRA = {"shutdown"}  # the lingering close's shutdown(SHUT_WR), which 05 never makes


def goal_lines(rows, goal):
    """The last stage's profile goals for the last stage, in words. Both compare the rows with one
    new connection per request: stage 05 closes after every response, so it has no
    keep-alive row to compare with."""
    title = "The last stage's profile goals"
    if not goal:
        return [f"{title}: not checked in this run: it measured no stage whose `--help` "
                "lists `--keep-alive` (`--only` left it out, or it did not build)."]
    closing = {row["server"]: row for row in rows if not row.get("keep_alive")}
    stage, reference = closing.get(goal), closing.get(report.REFERENCE)
    lines = [f"{title} for {goal}, on the rows with one connection per request (the only "
             f"kind stage 05 has):", ""]
    if not stage:
        return lines + [f"- Not measured: {goal} has no row in this run."]
    instructions = stage["instructions"]
    lines.append(
        f"- At most {INSTRUCTIONS_GOAL:,} user-space instructions per request: {goal} "
        f"{instructions:,.0f}"
        + (f" (stage 05: {reference['instructions']:,.0f})" if reference else "")
        + f": {report.verdict(instructions <= INSTRUCTIONS_GOAL)}.")
    goal_text = ("- No system call that stage 05 does not make, except the lingering close's "
                 "`shutdown`")
    if not reference:
        return lines + [f"{goal_text}: not measured (stage 05 has no row in this run)."]
    mine, theirs = stage["syscall_mix"], reference["syscall_mix"]
    extra = [call for call in mine if call not in theirs]
    unexpected = [call for call in extra if call not in ALLOWED_EXTRA]
    more = [call for call in mine if call in theirs and round(mine[call], 1) > round(
        theirs[call], 1)]

    def counts(calls, with_reference=False):
        return ", ".join(f"`{call}` {round(mine[call], 1):g}"
                         + (f" (05: {round(theirs[call], 1):g})" if with_reference else "")
                         for call in calls)

    figures = (f"{goal} makes {stage['syscalls']:.1f} system calls per request, stage 05 "
               f"{reference['syscalls']:.1f}; "
               + (f"calls stage 05 does not make: {counts(extra)}" if extra
                  else "no call that stage 05 does not make")
               + (f"; more of them than stage 05: {counts(more, True)}" if more else ""))
    return lines + [f"{goal_text}: {figures}: {report.verdict(not unexpected)}"
                    + (f" (not allowed: {', '.join(f'`{c}`' for c in unexpected)})."
                       if unexpected else ".")]
