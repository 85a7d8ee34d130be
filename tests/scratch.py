"""Builds copies of stages outside the workbook's own build: a reader's copy of a stage, a
stage with a challenge's solution applied, a stage with its challenge tests.

tests/check and tests/challenge use it; it is not a command of its own. Each copy becomes a
Meson subproject of a scratch project under build-scratch/LABEL/ (git ignores it):

  build-scratch/LABEL/src/meson.build              the scratch project: one subproject a copy
  build-scratch/LABEL/src/subprojects/common/      common/, copied, compiled once for all
  build-scratch/LABEL/src/subprojects/behaviour/   the behaviour suite, copied
  build-scratch/LABEL/src/subprojects/COPY/STAGE/  the copy: its sources, with the stage's
                                                   own meson.build and tests/ next to them
  build-scratch/LABEL/out/                         Meson's build directory

A copy keeps its stage's directory name, so its meson.build names its suite and its server's
banner exactly as the stage does. Each subproject's tests are selected as `COPY:SUITE`.
SCRATCH_DIR puts the labels elsewhere than build-scratch/ (the workbook's own tests do).
Files are rewritten only when they change, so a second build compiles only what changed.
Compiled without optimization: these builds are for checking, and build fast that way.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
CHALLENGES = ROOT / "tests" / "challenges"

# Files of a stage's directory that are not sources a test links: programs with a main().
PROGRAMS = {"main.cpp", "demo.cpp"}


def stage_named(number, command):
    """The stage directory name that `number` ("05", "05-multi", "05-multiplexed") names."""
    stages = sorted(p.name for p in CHAPTERS.iterdir() if p.is_dir())
    matches = [name for name in stages if name.startswith(number)]
    if len(matches) != 1:
        what = "matches no stage" if not matches else f"is ambiguous ({', '.join(matches)})"
        raise SystemExit(f"{command}: '{number}' {what}; the stages are:\n  " + "\n  ".join(stages))
    return matches[0]


def stage_before(stage):
    stages = sorted(p.name for p in CHAPTERS.iterdir() if p.is_dir())
    index = stages.index(stage)
    return stages[index - 1] if index > 0 else None


def meson_list(text, name):
    """The strings of `name = [ ... ]` in a meson.build."""
    body = re.search(rf"^{name} = \[(.*?)\]$", text, re.S | re.M).group(1)
    return re.findall(r"'((?:[^'\\]|\\.)*)'", body)


def behaviour_cases():
    text = (ROOT / "tests" / "meson.build").read_text()
    return meson_list(text, "behaviour_cases"), meson_list(text, "behaviour_heavy_cases")


def stage_limits(stage):
    """The behaviour cases `stage` is expected to fail (tests/behaviour/limits.txt)."""
    for line in (ROOT / "tests" / "behaviour" / "limits.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, cases = line.split(": ", 1)
            if name == stage:
                return set(cases.split(", "))
    return set()


def challenges_of(stage):
    """The challenge tests of a stage: {name: path of its test}, in name order."""
    where = CHALLENGES / stage
    if not where.is_dir():
        return {}
    return {p.stem: p for p in sorted(where.glob("*.cpp"))}


def solution_of(stage, challenge):
    return CHALLENGES / "solutions" / stage / f"{challenge}.patch"


def read_tree(directory):
    """{relative path: bytes} of every file under `directory`."""
    files = {}
    for path in sorted(Path(directory).rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file():
            files[str(relative)] = path.read_bytes()
    return files


def apply_patch(files, patch):
    """`files` with `patch` (a diff of the stage's directory, paths a/... b/...) applied."""
    with tempfile.TemporaryDirectory() as scratch:
        for name, data in files.items():
            (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(scratch) / name).write_bytes(data)
        done = subprocess.run(["git", "apply", "--whitespace=nowarn", str(patch)], cwd=scratch,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{patch} does not apply:\n{done.stderr}")
        return read_tree(scratch)


def stage_files(stage, sources):
    """What a copy of `stage` is made of: the sources in `sources` (its top-level .cpp and
    .hpp files), and the stage's own meson.build, tests/ and bench/ from chapters/ (and its
    demo.cpp, where `sources` has none)."""
    files = {p.name: p.read_bytes() for p in sorted(Path(sources).glob("*.[ch]pp"))}
    chapter = CHAPTERS / stage
    if "demo.cpp" not in files and (chapter / "demo.cpp").is_file():
        files["demo.cpp"] = (chapter / "demo.cpp").read_bytes()  # the chapter's demo, if
        # the copy has none: it shows the stage's idea, it is not part of it
    files["meson.build"] = (chapter / "meson.build").read_bytes()
    for extra in ("tests", "bench"):
        if (chapter / extra).is_dir():
            for name, data in read_tree(chapter / extra).items():
                files[f"{extra}/{name}"] = data
    return files


def sources_missing(stage, files):
    """The stage's own sources (its top-level .cpp and .hpp files) that a copy lacks."""
    return sorted(p.name for p in (CHAPTERS / stage).glob("*.[ch]pp") if p.name not in files)


@dataclass
class Copy:
    """One copy of a stage to build: `name` is its subproject's name."""
    name: str
    stage: str
    files: dict                                    # the stage directory's files
    stage_tests: bool = True                       # build the stage's own tests
    challenges: list = field(default_factory=list)  # challenge names to build and register
    behaviour: bool = False                        # register the behaviour cases


def write_if_changed(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def sync(directory, files):
    """Makes `directory` hold exactly `files`, touching only what differs."""
    for name, data in files.items():
        write_if_changed(directory / name, data)
    if directory.is_dir():
        for path in sorted(directory.rglob("*"), reverse=True):
            relative = str(path.relative_to(directory))
            if path.is_file() and relative not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def project_head(name):
    """The workbook's own project() call, warnings and globals, for a subproject `name`."""
    text = (ROOT / "meson.build").read_text()
    head = text[:text.index("subdir('common')")]
    return re.sub(r"project\('[^']*'", f"project('{name}'", head, count=1)


def quoted(values):
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
                           for v in values) + "]"


def copy_meson(copy):
    cases, heavy = behaviour_cases()
    sources = sorted(n for n in copy.files
                     if "/" not in n and n.endswith(".cpp") and n not in PROGRAMS)
    lines = [project_head(copy.name),
             "common = subproject('common')",
             "common_dep = common.get_variable('common_dep')",
             "testing_dep = common.get_variable('testing_dep')",
             "registered_cases = common.get_variable('registered_cases')",
             "check_demo = common.get_variable('check_demo')",
             "stage_servers = {}",
             f"subdir('{copy.stage}')",
             f"server = stage_servers['{copy.stage}']"]
    for challenge in copy.challenges:
        lines.append(
            f"test('{challenge}', executable('challenge-{challenge}', "
            f"'challenges/{challenge}.cpp', {quoted(copy.stage + '/' + s for s in sources)}, "
            f"include_directories: include_directories('{copy.stage}'), "
            f"cpp_args: ['-DSTAGE=\"{copy.stage}\"'], dependencies: testing_dep), "
            f"env: {{'SERVER': server.full_path()}}, suite: 'challenges', timeout: 90)")
    if copy.behaviour:
        lines += ["behaviour = subproject('behaviour').get_variable('behaviour')",
                  f"foreach case : {quoted(cases)}",
                  "  test(case, behaviour, args: ['--test-case=' + case],",
                  "    env: {'SERVER': server.full_path()}, suite: 'behaviour',",
                  f"    is_parallel: case not in {quoted(heavy)}, timeout: 30)",
                  "endforeach"]
    return "\n".join(lines) + "\n"


def build(label, copies, quiet=True):
    """Writes the scratch project for `copies` and compiles it. Returns its build directory."""
    top = Path(os.environ.get("SCRATCH_DIR", ROOT / "build-scratch")) / label
    src, out = top / "src", top / "out"
    options = (ROOT / "meson_options.txt").read_bytes()
    common = read_tree(ROOT / "common")
    common["meson.build"] = (project_head("common") + common["meson.build"].decode()).encode()
    common["meson_options.txt"] = options
    behaviour = {f"behaviour/{n}": d for n, d in read_tree(ROOT / "tests" / "behaviour").items()}
    behaviour["meson_options.txt"] = options
    behaviour["meson.build"] = (
        project_head("behaviour") + "testing_dep = subproject('common').get_variable('testing_dep')\n"
        "behaviour = executable('behaviour', "
        + quoted(sorted(n for n in behaviour if n.endswith(".cpp")))
        + ", dependencies: testing_dep)\n").encode()

    tree = {"meson.build": ("project('scratch', 'cpp', meson_version: '>=0.61',\n"
                            "  default_options: ['buildtype=plain', 'optimization=0'])\n"
                            + "".join(f"subproject('{c.name}', default_options: "
                                      f"['tests={'true' if c.stage_tests else 'false'}'])\n"
                                      for c in copies)).encode()}
    for name, data in common.items():
        tree[f"subprojects/common/{name}"] = data
    for name, data in behaviour.items():
        tree[f"subprojects/behaviour/{name}"] = data
    for copy in copies:
        base = f"subprojects/{copy.name}"
        tree[f"{base}/meson.build"] = copy_meson(copy).encode()
        tree[f"{base}/meson_options.txt"] = options
        for name, data in copy.files.items():
            tree[f"{base}/{copy.stage}/{name}"] = data
        for challenge in copy.challenges:
            tree[f"{base}/challenges/{challenge}.cpp"] = \
                challenges_of(copy.stage)[challenge].read_bytes()
        if copy.challenges:  # helpers that the stage's challenge tests share
            for header in sorted((CHALLENGES / copy.stage).glob("*.hpp")):
                tree[f"{base}/challenges/{header.name}"] = header.read_bytes()
    sync(src, tree)

    if not (out / "build.ninja").is_file():
        shutil.rmtree(out, ignore_errors=True)
        setup = subprocess.run(["meson", "setup", str(out), str(src), "-Dcommon:tests=true"],
                               capture_output=quiet, text=True)
        if setup.returncode != 0:
            shutil.rmtree(out, ignore_errors=True)  # set up again next time
            raise BuildFailed((setup.stdout or "") + (setup.stderr or ""))
    compiled = subprocess.run(["meson", "compile", "-C", str(out)], capture_output=quiet,
                              text=True)
    if compiled.returncode != 0:
        raise BuildFailed(compiled.stdout or "")
    return out


class BuildFailed(Exception):
    """The copy did not compile; the message is the compiler's output."""

    def errors(self, limit=40):
        output = str(self).splitlines()
        lines = [line for line in output
                 if ("error" in line.lower() or "undefined reference" in line
                     or line.startswith((" ", "In file")))
                 and not line.startswith(("[", "FAILED:", "ninja"))]
        return "\n".join("    " + line for line in (lines or output[-limit:])[:limit])


def run_tests(out, selections):
    """Runs the tests of `selections` (["COPY:SUITE", ...]) and returns their results:
    [{name, project, suite, result, output, command, env}] (result is Meson's: OK, FAIL,
    EXPECTEDFAIL...)."""
    log = out / "meson-logs" / "testlog.json"
    if log.exists():
        log.unlink()
    args = ["meson", "test", "-C", str(out), "--no-rebuild"]
    for selection in selections:
        args += ["--suite", selection]
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    if log.exists():
        for line in log.read_text().splitlines():
            test = json.loads(line)
            # Meson names a test "PROJECT:SUITE / NAME".
            where, _, name = test["name"].partition(" / ")
            project, _, suite = where.partition(":")
            results.append({"name": name, "project": project, "suite": suite,
                            "result": test["result"], "command": test["command"],
                            "env": test.get("env") or {},
                            "output": (test.get("stdout") or "") + (test.get("stderr") or "")})
    return results


def passes_without_limits(result):
    """True if a stage's failing test binary passes once its "limit: ..." cases are left out:
    a challenge's solution may lift a limit the stage declares, and that limit's test then
    fails, as it should."""
    command = result["command"]
    if not command or command[0].endswith(("python3", ".py")):
        return False
    done = subprocess.run(command + ["--test-case-exclude=limit: *"],
                          env=dict(os.environ, **result["env"]), capture_output=True, timeout=300)
    return done.returncode == 0


def report(output, limit=40, test_cases=False):
    """The part of doctest's output a reader needs: the failed checks, not the banners (with
    `test_cases`, the name of each failing test case above its checks)."""
    keep = []
    for line in output.splitlines():
        if "TEST CASE:" in line and test_cases:
            keep.append("in \"" + line.split("TEST CASE:", 1)[1].strip() + "\":")
            continue
        if not line.strip() or line.startswith(("[doctest]", "=====")) or "TEST CASE:" in line:
            continue
        if line.endswith(":") and ".cpp:" in line and " " not in line.strip():
            continue  # the bare "file:line:" that opens doctest's report of a test case
        line = re.sub(r"^\S*/subprojects/[^/]+/", "", line)  # a path inside the scratch copy
        keep.append(line.replace("../tests/", "tests/"))
    return "\n".join("    " + line for line in keep[:limit])
