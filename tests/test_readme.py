"""The README runs as written, its Python runs as a doctest, and the docs point only inside the project."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def shell_commands():
    """Every command line of the README's bash blocks (continuations joined, comments dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and "pip install" not in line and "pytest" not in line:
                out.append(line)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with the README's example files, and the installed kdbound first on PATH."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


@pytest.mark.parametrize("line", shell_commands())
def test_readme_command_runs_as_written(line, workdir):
    if re.search(r"--plot|\.png|\.svg", line):
        pytest.importorskip("matplotlib")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    p = subprocess.run(line, shell=True, executable="/bin/bash", cwd=workdir, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, (line, p.stderr)
    assert "Traceback" not in p.stderr


def test_readme_python_runs():
    for code in re.findall(r"```python\n(.*?)```", README, flags=re.S):
        exec(compile(code, "README.md", "exec"), {})


def test_docs_point_only_inside_the_project():
    texts = {"README.md": README, **{str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "docs").glob("*.md")}}
    texts.update({str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "kdbound").rglob("*.py")})
    for name, text in texts.items():
        assert "SPEC.md" not in text and "shared/" not in text, name


def test_every_theory_section_named_exists():
    headings = {h.strip() for h in re.findall(r"^#+ (.+)$", (ROOT / "docs" / "theory.md").read_text(), flags=re.M)}
    code = "\n".join(p.read_text() for p in (ROOT / "kdbound").rglob("*.py")) + README
    named = set(re.findall(r"theory\.md`{0,2},? ['\"]([^'\"\n]+)['\"]", code))
    named |= set(re.findall(r"theory\.md, ([A-Z][A-Za-z* -]+?)\)", code))
    assert named, "no section references found"
    missing = sorted(n for n in named if n not in headings)
    assert not missing, missing
