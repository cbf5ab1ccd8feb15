"""Every example in README.md and docs/*.md runs as written, and prints what the page shows.

How the pages write examples (and how this file reads them):

* A ```bash block is a list of commands, one per line (a trailing backslash continues a line,
  `  # ...` comments are dropped). The block runs in order, in a fresh folder holding a copy of
  examples/, and every command must exit 0. Set-up lines (`pip install`, `pytest`) are left to
  .ci/run, which runs the README's test command as written.
* A ```console block is a terminal session: each `$ command` line is followed by what the
  command prints on stdout. The command must exit 0; to show a failure the page writes
  `2>&1; echo "exit $?"` after it, so that the message and the status are part of what it prints.
  A line `...` stands for any number of lines. Lines compare field by field (runs of spaces and
  tabs are one separator, so the pages show TSV output with its tabs as aligned spaces); numbers
  compare to a relative 1e-9, everything else exactly.
* ```python blocks run in order in one namespace per page.
"""

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.subprocess
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
SETUP = ("pip install", "python -m pytest", "ruff check")


def blocks(kind):
    """(page, line number, text) of every fenced block of this kind, in every page that exists."""
    out = []
    for page in PAGES:
        if not page.exists():
            continue
        text = page.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) == kind:
                out.append((page, text.count("\n", 0, m.start()) + 1, m.group(2)))
    return out


def bash_commands(text):
    """The command lines of a bash block: continuations joined, comments dropped, set-up lines left out."""
    out = []
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line and not line.startswith("#") and not any(s in line for s in SETUP):
            out.append(line)
    return out


def console_session(text):
    """[(command, expected stdout lines)] of a console block."""
    session, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        assert line.startswith("$ "), f"console block: output before any command: {line!r}"
        command = line[2:]
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + " " + lines[i].strip().removeprefix("> ")
        i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        session.append((command, expected))
    return session


def same_line(expected, actual):
    e, a = expected.split(), actual.split()
    if len(e) != len(a):
        return False
    for x, y in zip(e, a):
        if x == y:
            continue
        if NUMBER.fullmatch(x) and NUMBER.fullmatch(y) and math.isclose(float(x), float(y), rel_tol=1e-9):
            continue
        return False
    return True


def matches(expected, actual):
    """Whether the actual lines are the expected ones, `...` standing for any run of lines."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and same_line(expected[0], actual[0]) and matches(expected[1:], actual[1:])


def run(command, folder):
    env = dict(os.environ, COLUMNS="80", NO_COLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("KDBOUND_DEBUG", None)
    return subprocess.run(command, shell=True, executable="/bin/bash", cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)


def fresh_folder(tmp_path, text):
    if re.search(r"--plot|\.png|\.svg", text):
        pytest.importorskip("matplotlib")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def ident(block):
    return f"{block[0].relative_to(ROOT)}:{block[1]}"


def test_the_pages_have_examples():
    assert len(blocks("bash")) >= 5 and len(blocks("console")) >= 5 and blocks("python")
    assert not [ident(b) for b in blocks("sh") + blocks("shell")], "write shell examples as bash or console"
    indented = [p.name for p in PAGES if re.search(r"^[ \t]+```", p.read_text(), flags=re.M)]
    assert not indented, f"fences start at the margin, or this file does not see them: {indented}"


@pytest.mark.parametrize("block", blocks("bash"), ids=ident)
def test_bash_block_runs_as_written(block, tmp_path):
    folder = fresh_folder(tmp_path, block[2])
    for command in bash_commands(block[2]):
        p = run(command, folder)
        assert p.returncode == 0, (ident(block), command, p.stderr)
        assert "Traceback" not in p.stderr, (ident(block), command, p.stderr)


@pytest.mark.parametrize("block", blocks("console"), ids=ident)
def test_console_block_prints_what_the_page_shows(block, tmp_path):
    folder = fresh_folder(tmp_path, block[2])
    for command, expected in console_session(block[2]):
        p = run(command, folder)
        assert p.returncode == 0, (ident(block), command, p.stderr)
        assert "Traceback" not in p.stderr + p.stdout, (ident(block), command)
        actual = p.stdout.splitlines()
        assert matches(expected, actual), (f"{ident(block)}: $ {command}\n--- the page shows:\n" + "\n".join(expected)
                                           + "\n--- it prints:\n" + p.stdout)


@pytest.mark.parametrize("page", sorted({b[0] for b in blocks("python")}), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(fresh_folder(tmp_path, ""))
    namespace = {}
    for _, line, code in (b for b in blocks("python") if b[0] == page):
        exec(compile("\n" * line + code, str(page), "exec"), namespace)


# ----------------------------------------------------------------------------- the checker itself

def test_matching_can_fail():
    assert matches(["a\t1.0", "...", "z"], ["a 1.0000000000001", "b", "c", "z"])
    assert matches(["...", "x"], ["x"])
    assert not matches(["a\t1.0"], ["a\t1.001"])
    assert not matches(["a", "b"], ["a"])
    assert not matches(["a"], ["a", "extra"])
    assert not matches(["note: one"], ["note: two"])


def test_session_parsing():
    session = console_session('$ kdbound upper \\\n    --sigma 0.1\nbound\t1\n$ echo "exit $?"\nexit 0\n')
    assert session == [("kdbound upper  --sigma 0.1", ["bound\t1"]), ('echo "exit $?"', ["exit 0"])]
    assert bash_commands("kdbound demo   # a comment\n# a line of comment\npip install .\n") == ["kdbound demo"]
