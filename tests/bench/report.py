"""Turning the samples of a run into what a reader looks at: Markdown tables and SVG charts.

Every figure shown is the median over the rounds of one (server, scenario) cell. A cell where
a round served no request has no CPU per request or latency for that round; such a round
counts as "infinitely slow" in the median, so a server that served nothing in most rounds
shows a dash, not a flattering number from its one lucky round.
"""
import math
import re
from html import escape

GOAL_STAGES = re.compile(r"^1[1-4]-")  # the servers on our runtime
REFERENCE = "05-multiplexed"            # the one-thread epoll server
PEER = "asio"
PEERS = ("asio", "tokio")               # the last stage's goals compare the last stage with both
PEER_LABELS = {"asio": "Asio peer", "tokio": "tokio peer"}
# What tests/bench/runtime_bench.cpp measures; a program that reports any of these names is a
# runtime, and gets a column in the side-by-side table (stage 10's, tokio's, later stages').
RUNTIME_BENCHMARKS = ("spawn_and_complete", "wake_poll_1_task", "wake_poll_1000_tasks",
                      "yield_now_1_task")


def goal_stage(servers):
    """The stage the last stage's goals are for: the last stage whose `--help` lists --keep-alive
    (15-fast-runtime today), or None. It keeps that even if it fails the keep-alive check
    (`lists_keep_alive`; a run saved before that field existed has only `keep_alive`)."""
    stages = [s["name"] for s in servers
              if s["kind"] == "stage" and s.get("lists_keep_alive", s.get("keep_alive"))]
    return max(stages) if stages else None


def verdict(ok):
    """A goal's verdict, in words: True, False, or None (not measured)."""
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def build_failure_lines(machine):
    """What the build left out, for every page the run writes (empty if everything built)."""
    failed = machine.get("build_failures")
    if not failed:
        return []
    return ["**The build failed in this run.** These targets were not built (or would have "
            "been stale), so they are not measured: " + ", ".join(f"`{t}`" for t in failed)
            + ".", ""]


def anchor(server):
    """The id of a server's row in docs/benchmarks.md: stage-05-multiplexed, peer-asio."""
    return f"{server['kind']}-{server['name']}"


def label(server):
    if server["kind"] == "peer":
        return PEER_LABELS.get(server["name"], server["name"])
    return server["name"]


def median(values, missing_is_worst=True):
    """Median of `values`; None (nothing measured) sorts above every number, or below."""
    if not values:
        return None
    worst = math.inf if missing_is_worst else -math.inf
    ordered = sorted(worst if v is None else v for v in values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        value = ordered[middle]
    else:
        value = (ordered[middle - 1] + ordered[middle]) / 2
    return None if math.isinf(value) or math.isnan(value) else value


class Results:
    """The samples of one run, indexed by (server name, scenario key)."""

    def __init__(self, run):
        self.run = run
        self.servers = run["servers"]
        self.scenarios = {s["key"]: s for s in run["scenarios"]}
        self.cells = {}
        for sample in run["samples"]:
            self.cells.setdefault((sample["server"], sample["scenario"]), []).append(sample)

    def get(self, server, scenario, metric):
        samples = self.cells.get((server, scenario), [])
        return median([s.get(metric) for s in samples])

    def total(self, server, scenario, metric):
        return sum(s.get(metric) or 0 for s in self.cells.get((server, scenario), []))

    def probes(self, server, scenario):
        """The probe clients that got their response, over all rounds, as "answered/sent"."""
        if not self.has(server, scenario):
            return "—"
        return (f"{self.total(server, scenario, 'probes_answered')}/"
                f"{self.total(server, scenario, 'probes_sent')}")

    def problems(self, server, scenario):
        """wrk's late responses and socket errors, summed over all rounds."""
        return (f"{self.total(server, scenario, 'late'):,}, "
                f"{self.total(server, scenario, 'errors'):,}")

    def has(self, server, scenario):
        return (server, scenario) in self.cells

    def server_named(self, name):
        return next((s for s in self.servers if s["name"] == name), None)


# --- formatting -------------------------------------------------------------------------

def fmt_int(value):
    return "—" if value is None else f"{value:,.0f}"


def fmt_us(value):
    if value is None:
        return "—"
    if value >= 10_000:
        return f"{value / 1000:,.0f} ms"
    if value >= 1000:
        return f"{value / 1000:.1f} ms"
    return f"{value:.0f} µs"


def fmt_cpu(value):
    if value is None:
        return "—"
    return f"{value:.1f} µs" if value < 100 else f"{value:,.0f} µs"


def fmt_ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def fmt_mib(kib):
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def fmt_pct(value):
    return "—" if value is None else f"{value:.0f} %"


def fmt_cpu_fine(value):
    """CPU per request to 0.01 µs: the goal table compares servers a few percent apart."""
    return "—" if value is None else f"{value:.2f} µs"


def fmt_close_ratio(value):
    """A ratio, with a third decimal when two would show 1.00× for unequal figures."""
    if value is None:
        return "—"
    return f"{value:.3f}×" if f"{value:.2f}" == "1.00" and value != 1 else f"{value:.2f}×"


def ratio(a, b):
    return a / b if a is not None and b else None


# --- Markdown ---------------------------------------------------------------------------

def machine_lines(machine):
    return [
        f"- **Machine:** {machine['cpu']}, {machine['nproc']} CPUs (`nproc`), "
        f"Linux {machine['kernel']}",
        f"- **Compiler:** {machine['compiler']}, Meson buildtype `{machine['buildtype']}`; "
        f"load generator {machine['wrk']}; Asio {machine['asio']}",
        f"- **tokio peer:** {machine.get('tokio', 'not measured: this run predates it')}",
        f"- **Run:** {machine['date']}, commit `{machine['commit']}`, "
        f"load average {machine['load_before']} before and {machine['load_after']} after "
        f"(anything well above 0 means other work shared the machine), "
        f"{machine['elapsed_min']:.1f} minutes",
    ] + ([f"- **Build:** failed; not built, so not measured: "
          + ", ".join(f"`{t}`" for t in machine["build_failures"])]
         if machine.get("build_failures") else [])


def table(header, rows, text_columns=1):
    """A Markdown table; the first `text_columns` columns are left-aligned, numbers right."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < text_columns else "---:" for i in range(len(header)))
             + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def name_cell(server, with_anchor, chapters):
    text = label(server)
    if server["kind"] == "stage" and server["name"] in chapters:
        text = f"[{text}]({server['name']}.md)"
    if with_anchor:
        text = f'<a id="{anchor(server)}"></a>{text}'
    return text


def headline(results, chapters):
    """One row per server at the headline level, with its idle and stalled-client columns."""
    config = results.run["config"]
    main = config["headline"]
    ref = results.get(REFERENCE, main, "cpu_us_per_request")
    has_idle = any(results.has(s["name"], "idle") for s in results.servers)
    has_stalled = any(results.has(s["name"], "stalled") for s in results.servers)
    header = ["server", "requests/s", "p50", "p99", "server CPU per request", "vs 05",
              "peak RSS"]
    if has_idle:
        header += ["idle CPU", f"idle CPU, {config['stalled']} stalled clients"]
    if has_stalled:
        header += [f"requests/s with {config['stalled']} stalled clients",
                   "probes answered (all rounds)"]
    rows = []
    for server in results.servers:
        n = server["name"]
        cpu = results.get(n, main, "cpu_us_per_request")
        row = [name_cell(server, True, chapters), fmt_int(results.get(n, main, "rps")),
               fmt_us(results.get(n, main, "p50_us")), fmt_us(results.get(n, main, "p99_us")),
               fmt_cpu(cpu), fmt_ratio(ratio(cpu, ref)),
               fmt_mib(results.get(n, main, "peak_rss_kib"))]
        if has_idle:
            row += [fmt_pct(results.get(n, "idle", "idle_cpu_pct")),
                    fmt_pct(results.get(n, "idle", "idle_stalled_cpu_pct"))]
        if has_stalled:
            row += [fmt_int(results.get(n, "stalled", "rps")), results.probes(n, "stalled")]
        rows.append(row)
    return table(header, rows)


def level_table(results, scenario, chapters):
    # Keep-alive cells have no stage 05 (it closes after every response): compare with Asio.
    keep_alive = results.scenarios[scenario].get("keep_alive")
    ref = results.get(PEER if keep_alive else REFERENCE, scenario, "cpu_us_per_request")
    header = ["server", "requests/s", "p50", "p99", "server CPU per request",
              "vs Asio peer" if keep_alive else "vs 05",
              "peak RSS", "probes answered", "late, errors"]
    rows = []
    for server in results.servers:
        n = server["name"]
        if not results.has(n, scenario):
            continue
        cpu = results.get(n, scenario, "cpu_us_per_request")
        rows.append([name_cell(server, False, chapters), fmt_int(results.get(n, scenario, "rps")),
                     fmt_us(results.get(n, scenario, "p50_us")),
                     fmt_us(results.get(n, scenario, "p99_us")), fmt_cpu(cpu),
                     fmt_ratio(ratio(cpu, ref)),
                     fmt_mib(results.get(n, scenario, "peak_rss_kib")),
                     results.probes(n, scenario), results.problems(n, scenario)])
    return table(header, rows)


def keep_alive_lines(results):
    """What the keep-alive tables measure, said once before them."""
    keys = [k for k, s in results.scenarios.items() if s.get("keep_alive")]
    if not keys:
        return []
    served = [label(s) for s in results.servers if any(results.has(s["name"], k) for k in keys)]
    lines = ["### Keep-alive", "",
             "The cells above open a new connection for every request. These keep it open: "
             "each server runs with `--keep-alive` (HTTP/1.1 persistent connections, each "
             "answer `HTTP/1.1 200 OK\\r\\nContent-Length: 12\\r\\n\\r\\nHello world!`), "
             "and wrk, which keeps connections open by default, sends request after request "
             "on each of its connections. No accept and no close per request: what is left is "
             "the read and the write, the waits for readiness, and the runtime's own work. "
             "Only servers whose `--help` lists `--keep-alive` and that pass a keep-alive "
             "check (pipelined requests answered in order, `Connection: close` honoured, 431 "
             "for a full buffer) are measured; the others answer one request per connection, "
             "as the server contract says. The probes send `Connection: close`. On 2 CPUs, wrk's "
             "one thread is the bottleneck here as much as the server: read CPU per request "
             "first, and the ratio is to the Asio peer."]
    if not served:
        return lines + ["", "Not measured in this run: no server passed the keep-alive check.",
                        ""]
    return lines + ["", "Measured: " + ", ".join(served) + ".", ""]


def goal_lines(results):
    """The issue's goal for the runtime servers, checked against this run's medians."""
    main = results.run["config"]["headline"]
    goal = [s for s in results.servers if s["kind"] == "stage" and GOAL_STAGES.match(s["name"])]
    lines = ["## The goal for the runtime servers", "",
             f"At {results.scenarios[main]['connections']} connections, each server on our "
             f"runtime (stages 11–14) should spend at most 1.1× the server CPU per request "
             f"of stage 05, use no CPU when idle, and spend no more CPU per request than the "
             f"Asio peer. This run's medians:", ""]
    if not goal:
        return lines + ["Not measured yet: no stage from 11 to 14 has a server in this "
                        "build. The check fills in by itself once they do.", ""]
    ref = results.get(REFERENCE, main, "cpu_us_per_request")
    peer = results.get(PEER, main, "cpu_us_per_request")
    has_idle = any(results.has(s["name"], "idle") for s in goal)

    def verdict(ok):
        return "—" if ok is None else ("yes" if ok else "**no**")

    header = ["server", "CPU per request", "vs 05 (goal ≤ 1.10×)", "vs Asio peer (goal ≤ 1×)"]
    if has_idle:
        header += ["idle CPU: no client / stalled clients (goal 0)"]
    rows = []
    for server in goal:
        n = server["name"]
        cpu = results.get(n, main, "cpu_us_per_request")
        r05, rpeer = ratio(cpu, ref), ratio(cpu, peer)
        row = [f"[{n}](#{anchor(server)})", fmt_cpu(cpu),
               f"{fmt_ratio(r05)}: {verdict(None if r05 is None else r05 <= 1.10)}",
               f"{fmt_ratio(rpeer)}: {verdict(None if rpeer is None else rpeer <= 1.0)}"]
        if has_idle:
            idle = [results.get(n, "idle", k) for k in ("idle_cpu_pct", "idle_stalled_cpu_pct")]
            known = [v for v in idle if v is not None]
            # /proc counts CPU in 10 ms ticks: 1 % of a 1 s window is one tick.
            zero = None if not known else max(known) <= results.run["config"]["idle_resolution_pct"]
            row.append(f"{' / '.join(fmt_pct(v) for v in idle)}: {verdict(zero)}")
        rows.append(row)
    return lines + table(header, rows) + [""]


def issue12_lines(results):
    """The last stage's goals for the last stage, checked against this run's medians, in words.

    The profile and memory goals come from their own runs (--profile, --memory), and are
    checked at the end of their own sections (profile.goal_lines, memory.goal_lines)."""
    run = results.run
    stage = goal_stage(results.servers)
    lines = ["## The last stage's goals", ""]
    if not stage:
        return lines + ["Not checked in this run: it measured no stage whose `--help` lists "
                        "`--keep-alive` (the last stage's does; `--only` left it out, or it "
                        "did not build)."
                        + (" Not built: " + ", ".join(f"`{t}`" for t in
                                                      run["machine"]["build_failures"]) + "."
                           if run["machine"].get("build_failures") else ""), ""]
    machine = run["machine"]
    lines += [f"The last stage, [{stage}](#stage-{stage}), sets out to beat stage 05 and "
              f"both peers. Each line below is one comparison, from this run's medians "
              f"({run['config']['rounds']} round(s), load average {machine['load_before']} "
              f"before and {machine.get('load_after', '?')} after: read them as \"about\" when "
              f"that is well above 0). The profile's and the memory's goals come from their "
              f"own runs, and are checked at the end of those sections.", ""]
    names = {s["name"]: s for s in results.servers}

    def who(name):
        return label(names[name]) if name in names else PEER_LABELS.get(name, name)

    def cell(name, scenario, metric, missing):
        """(value, why it is missing): value None with a reason when not measured."""
        if name not in names:
            return None, missing
        if not results.has(name, scenario):
            if results.scenarios.get(scenario, {}).get("keep_alive") and not names[name].get(
                    "keep_alive"):
                return None, f"{who(name)} left out of the keep-alive cells"
            return None, f"{who(name)} not measured at this level"
        return results.get(name, scenario, metric), None

    def compare(scenario, metric, other, fmt, passes, other_missing):
        """One goal row's figures and verdict: the stage's value against `other`'s."""
        mine, why = cell(stage, scenario, metric, f"{stage} not in this run")
        if why:
            return why, None
        if mine is None:
            return f"{stage} served nothing", False
        theirs, why = cell(other, scenario, metric, other_missing)
        if why:
            return f"{stage} {fmt(mine)}; {why}", None
        if theirs is None:
            return f"{stage} {fmt(mine)}; {who(other)} served nothing", None
        return (f"{stage} {fmt(mine)}, {who(other)} {fmt(theirs)} "
                f"({fmt_close_ratio(ratio(mine, theirs))})", passes(mine, theirs))

    rows = []
    close = results.scenarios.get("c50", {}).get("title", "50 connections")
    for other, goal, passes in [
            (REFERENCE, "at most 1.0× stage 05's", lambda a, b: a <= b),
            ("asio", "under the Asio peer's", lambda a, b: a < b),
            ("tokio", "under the tokio peer's", lambda a, b: a < b)]:
        rows.append((f"Connection: close, {close}: server CPU per request {goal}",
                     *compare("c50", "cpu_us_per_request", other, fmt_cpu_fine, passes,
                              f"{who(other)} not in this run")))
    for other in PEERS:
        rows.append((f"Keep-alive, 50 connections: server CPU per request under the "
                     f"{PEER_LABELS[other]}'s",
                     *compare("ka50", "cpu_us_per_request", other, fmt_cpu_fine,
                              lambda a, b: a < b, f"{PEER_LABELS[other]} not in this run")))
    for other in PEERS:
        rows.append((f"Keep-alive, 50 connections: requests/s at least the "
                     f"{PEER_LABELS[other]}'s",
                     *compare("ka50", "rps", other, fmt_int, lambda a, b: a >= b,
                              f"{PEER_LABELS[other]} not in this run")))
    rows += micro_goal_rows(run.get("micro") or [], stage)

    lines += table(["goal", "this run", "verdict"],
                   [[goal, figures, verdict(ok)] for goal, figures, ok in rows], 3) + [""]
    tally = {word: [goal for goal, _, ok in rows if verdict(ok) == word]
             for word in ("met", "**not met**", "not measured")}
    lines += [f"In this run: {len(tally['met'])} of {len(rows)} goals met, "
              f"{len(tally['**not met**'])} not met, {len(tally['not measured'])} not "
              f"measured." + (" Not built, so not measured: " + ", ".join(
                  f"`{t}`" for t in machine["build_failures"]) + "."
                  if machine.get("build_failures") else ""), ""]
    return lines


# The runtime micro-benchmarks the last stage's goals name, and what each is called there.
MICRO_GOALS = (("spawn_and_complete", "spawn", ""),
               ("wake_poll_1_task", "wake round trip", ""),
               ("yield_now_1_task", "yield",
                " (tokio's `yield_now()` defers its wake until its runtime has looked at "
                "its I/O driver: with nothing else runnable, an `epoll_wait` per yield, "
                "which ours does not make)"))


def micro_goal_rows(micro, stage):
    """(goal, figures, ok) for each micro-benchmark goal: the stage's runtime at or under
    tokio's nanoseconds per operation."""
    def program(prefix):
        return next((m["program"] for m in micro if m["program"].startswith(prefix)
                     and m["name"] in RUNTIME_BENCHMARKS), None)

    ours, tokio = program(f"{stage}/"), program("tokio/")
    rows = []
    for name, what, note in MICRO_GOALS:
        goal = f"Micro-benchmark, {what} (`{name}`): at or under tokio's time{note}"
        values = {p: median(m["ns_per_op"]) for m in micro for p in (ours, tokio)
                  if p and m["program"] == p and m["name"] == name}
        if ours not in values:
            rows.append((goal, f"no `{stage}/…` runtime micro-benchmark with this name in "
                               f"this run", None))
        elif tokio not in values:
            rows.append((goal, f"{stage} {values[ours]:,.1f} ns; the tokio peer's "
                               f"`tokio-bench` not in this run", None))
        else:
            mine, theirs = values[ours], values[tokio]
            rows.append((goal, f"{stage} {mine:,.1f} ns, tokio {theirs:,.1f} ns "
                               f"({fmt_close_ratio(ratio(mine, theirs))})", mine <= theirs))
    return rows


def runtime_column(program):
    """The side-by-side table's heading for a program: which runtime it measures."""
    if program == "bench/runtime":
        return "stage 10 (`bench/runtime`)"
    if program.startswith("tokio/"):
        return "tokio current_thread"
    match = re.match(r"(\d\d)-", program)
    return f"stage {match.group(1)} (`{program}`)" if match else f"`{program}`"


def runtime_lines(run, micro):
    """Stage 10's runtime, tokio's, and any later stage's, on the same micro-benchmarks."""
    programs = {m["program"] for m in micro if m["name"] in RUNTIME_BENCHMARKS}
    programs = sorted(programs, key=lambda p: (0 if p == "bench/runtime" else
                                               2 if p.startswith("tokio/") else 1, p))
    if not programs:
        return [], micro
    tokio = run["machine"].get("tokio", "")
    lines = ["### Side by side: our runtime and tokio's", "",
             "The same micro-benchmarks, run by each runtime: "
             "`bench/runtime` is [`tests/bench/runtime_bench.cpp`](../tests/bench/runtime_bench.cpp) "
             "built against stage 10's scheduler and reactor (the runtime of stages 11–14)"
             + (", and `15-fast-runtime/runtime` the same program built against stage 15's "
                "headers and runtime library" if "15-fast-runtime/runtime" in programs else "")
             + "; "
             "`tokio current_thread` is "
             "[`tests/bench/tokio/src/bin/tokio-bench.rs`](../tests/bench/tokio/src/bin/tokio-bench.rs)"
             + (f" ({tokio})" if tokio and not tokio.startswith("not ") else "") +
             ", the same tasks (a future that is done on its first poll; one that wakes itself "
             "with `wake_by_ref`) on a runtime built with `enable_all()`, which, like stage 10, "
             "looks at its I/O driver once every 61 polls while tasks stay runnable. tokio's "
             "spawn includes what tokio's spawn always does: its task list takes a mutex, and "
             "the `JoinHandle` is dropped. `yield_now_1_task` is, on tokio, its own "
             "`yield_now()`, which defers the wake until the runtime has looked at its I/O "
             "driver: with nothing else runnable, an `epoll_wait` per yield. Ours is a future "
             "that does the same without deferring (an ordinary wake, queued at once), so on "
             "our runtimes it costs what `wake_poll_1_task` costs: that row compares a "
             "design choice, not only speed. A stage whose "
             "build registers a Meson `benchmark()` printing these names (for example "
             "`runtime_bench.cpp` built against its own sources), or builds an executable "
             "named `runtime-bench`, gets a column here by itself. Nanoseconds per operation, "
             "median over the rounds; lower is better.", ""]
    names = [n for n in RUNTIME_BENCHMARKS if any(m["name"] == n for m in micro)]
    names += [m["name"] for m in micro if m["program"] in programs and m["name"] not in names]
    header = ["benchmark", "what one operation is"] + [runtime_column(p) for p in programs]
    rows = []
    for name in dict.fromkeys(names):
        entries = {m["program"]: m for m in micro if m["name"] == name and m["program"] in programs}
        about = next(entries[p]["about"] for p in programs if p in entries)
        rows.append([f"`{name}`", about] + [
            f"{median(entries[p]['ns_per_op']):,.1f}" if p in entries else "—" for p in programs])
    lines += table(header, rows, 2) + [""]
    return lines, [m for m in micro if m["program"] not in programs]


def micro_lines(run):
    micro, raw = run.get("micro"), run.get("micro_raw", {})
    lines = ["## Runtime micro-benchmarks", ""]
    if not micro and not raw:
        return lines + [run.get("micro_note", "Not measured in this run."), ""]
    lines += [run.get("micro_note", ""), ""]
    side_by_side, others = runtime_lines(run, micro or [])
    lines += side_by_side
    if others:
        if side_by_side:
            lines += ["### The other micro-benchmarks", ""]
        header = ["benchmark", "what one operation is", "program", "ns per operation"]
        rows = [[f"`{m['name']}`", m["about"], f"`{m['program']}`",
                 f"{median(m['ns_per_op']):,.1f}"] for m in others]
        lines += table(header, rows, 3) + [""]
    for name, output in raw.items():
        lines += [f"`{name}`, as it printed its last round:", "", "```", output.rstrip(), "```", ""]
    return lines


def markdown(run, chapters, svg_dir_link):
    """The generated part of docs/benchmarks.md (or the whole results.md of a smoke run)."""
    results = Results(run)
    config = run["config"]
    main = config["headline"]
    out = ["## Results", ""]
    out += machine_lines(run["machine"])
    out += [f"- **Load:** wrk {config['wrk_threads_note']}, {config['duration']} s per cell, "
            f"request timeout {config['timeout']} s; {config['rounds']} interleaved "
            f"round(s); every figure is the median over the rounds", ""]
    out += [f"### At {results.scenarios[main]['connections']} connections", ""]
    out += headline(results, chapters) + [""]
    out += [f"![server CPU per request]({svg_dir_link}/cpu-per-request.svg)", "",
            f"![requests per second]({svg_dir_link}/requests-per-second.svg)", ""]
    for key, scenario in results.scenarios.items():
        if key in (main, "idle") or scenario.get("keep_alive"):
            continue
        out += [f"### {scenario['title']}", ""] + level_table(results, key, chapters) + [""]
    out += keep_alive_lines(results)
    for key, scenario in results.scenarios.items():
        if scenario.get("keep_alive") and any(results.has(s["name"], key)
                                              for s in results.servers):
            out += [f"#### {scenario['title']}", ""] + level_table(results, key, chapters) + [""]
    if run.get("failures"):
        out += ["### Cells that failed in this run", ""]
        out += [f"- {failure}" for failure in run["failures"]] + [""]
    out += goal_lines(results)
    out += issue12_lines(results)
    out += micro_lines(run)
    return "\n".join(out)


# --- SVG --------------------------------------------------------------------------------

COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"]


def nice_step(span, ticks=5):
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def bar_chart(title, subtitle, groups, series, unit_fmt, cap=None, tick_fmt=None):
    """A horizontal grouped bar chart.

    groups: [(label, {series_key: value or None})]; series: [(key, legend label)].
    Bars longer than `cap` are cut at the edge and marked with a break; their value is
    still printed in full.
    """
    left, plot, right, bar, gap = 190, 480, 110, 11, 12
    top = 78
    finite = [v for _, values in groups for v in values.values() if v is not None]
    top_value = max(finite, default=1.0) or 1.0
    limit = min(top_value, cap) if cap else top_value
    step = nice_step(limit)
    limit = math.ceil(limit / step) * step
    group_height = len(series) * bar + gap
    height = top + len(groups) * group_height + 30
    width = left + plot + right
    scale = plot / limit
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
           f'<text x="10" y="38" fill="#555">{escape(subtitle)}</text>']
    x = left
    for i, (_, name) in enumerate(series):
        svg.append(f'<rect x="{x}" y="48" width="12" height="12" fill="{COLORS[i]}"/>')
        svg.append(f'<text x="{x + 16}" y="58">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    axis_bottom = top + len(groups) * group_height
    tick = 0.0
    while tick <= limit + 1e-9:
        tx = left + tick * scale
        svg.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{axis_bottom}" '
                   f'stroke="#ddd"/>')
        svg.append(f'<text x="{tx:.1f}" y="{axis_bottom + 16}" text-anchor="middle" '
                   f'fill="#555">{escape((tick_fmt or unit_fmt)(tick)) if tick else "0"}</text>')
        tick += step
    for g, (group_label, values) in enumerate(groups):
        y0 = top + g * group_height
        svg.append(f'<text x="{left - 8}" y="{y0 + len(series) * bar / 2 + 4:.1f}" '
                   f'text-anchor="end">{escape(group_label)}</text>')
        for i, (key, _) in enumerate(series):
            if key not in values:
                continue
            value = values[key]
            y = y0 + i * bar
            if value is None:
                svg.append(f'<text x="{left + 4}" y="{y + bar - 2}" font-size="10" '
                           f'fill="#999">nothing served</text>')
                continue
            length = min(value, limit) * scale
            svg.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar - 1}" '
                       f'fill="{COLORS[i]}"/>')
            if value > limit:  # a break mark: this bar goes on past the edge
                bx = left + length - 14
                svg.append(f'<path d="M{bx:.1f} {y + bar}l5 {-bar - 1}M{bx + 5:.1f} {y + bar}'
                           f'l5 {-bar - 1}" stroke="white" stroke-width="2"/>')
            svg.append(f'<text x="{left + length + 4:.1f}" y="{y + bar - 2}" font-size="10">'
                       f'{escape(unit_fmt(value))}</text>')
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def charts(run):
    """{file name: SVG text} for the run."""
    results = Results(run)
    # One new connection per request: the keep-alive cells, another kind of work, have
    # their own tables only.
    levels = [(k, s) for k, s in results.scenarios.items()
              if k != "idle" and not s.get("keep_alive")]
    groups_cpu, groups_rps = [], []
    for server in results.servers:
        n = server["name"]
        groups_cpu.append((label(server), {k: results.get(n, k, "cpu_us_per_request")
                                           for k, _ in levels if results.has(n, k)}))
        groups_rps.append((label(server), {k: results.get(n, k, "rps") or 0.0
                                           for k, _ in levels if results.has(n, k)}))
    series = [(k, s["short"]) for k, s in levels]
    finite = sorted(v for _, values in groups_cpu for v in values.values() if v is not None)
    # Cut the few runaway bars (a busy loop with one client) so the rest stay readable.
    cap = 4 * median(finite) if finite else None
    machine = run["machine"]
    subtitle = (f"median of {run['config']['rounds']} round(s); {machine['nproc']} CPUs, "
                f"{machine['cpu']}; lower is better")
    cpu_svg = bar_chart("Server CPU time per request (utime + stime, all threads)", subtitle,
                        groups_cpu, series, lambda v: f"{v:.0f} µs" if v >= 10 else f"{v:.1f} µs",
                        cap)
    rps_svg = bar_chart("Requests per second (wrk, one new connection per request)",
                        subtitle.replace("lower", "higher"), groups_rps, series,
                        lambda v: f"{v:,.0f}",
                        tick_fmt=lambda v: f"{v / 1000:g}k" if v >= 1000 else f"{v:g}")
    return {"cpu-per-request.svg": cpu_svg, "requests-per-second.svg": rps_svg}
