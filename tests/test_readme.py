"""The README and the docs: the set-up commands agree with CI, the pages stay short and readable, their
links resolve, and they point only inside the project. (Their examples run in tests/test_docs.py.)"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md",
         ROOT / "CHANGELOG.md"]


def prose_lines(text):
    """The lines of a page outside fenced blocks and tables."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and not line.startswith("|"):
            out.append(line)
    return out


def anchor(heading):
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_setup_commands_come_first_and_the_test_command_is_what_ci_runs():
    bash = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert bash[0].strip() == "pip install . && kdbound demo"
    # .ci/run adds `|| exit` so that a failure inside the && list ends the script (set -e ignores it there)
    ci = [ln.removesuffix(" || exit") for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.startswith("pip install")]
    assert [bash[1].strip()] == ci
    assert README.index(bash[1]) < README.index("\n## ")          # both before the first section


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_prose_lines_are_reasonable():
    for page in (p for p in PAGES if p.name not in ("architecture.md", "theory.md")):   # maps with long entries
        long = [ln for ln in prose_lines(page.read_text()) if len(ln) > 100]
        assert not long, (page.name, long)


def test_links_and_anchors_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, frag = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.exists(), (page.name, target)
            if frag:
                headings = re.findall(r"^#+ (.+)$", dest.read_text(), flags=re.M)
                assert frag in {anchor(h) for h in headings}, (page.name, target)


def test_docs_point_only_inside_the_project():
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in PAGES}
    texts.update({str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "kdbound").rglob("*.py")})
    for name, text in texts.items():
        assert "SPEC.md" not in text and "shared/" not in text, name


def test_every_theory_section_named_exists():
    headings = {h.strip() for h in re.findall(r"^#+ (.+)$", (ROOT / "docs" / "theory.md").read_text(), flags=re.M)}
    code = "\n".join(p.read_text() for p in [*(ROOT / "kdbound").rglob("*.py"), *PAGES])
    named = {m[1] for m in re.findall(r"theory\.md`{0,2},? (['\"])([^\n]+?)\1", code)}
    named |= set(re.findall(r"theory\.md, ([A-Z][A-Za-z* -]+?)\)", code))
    assert named, "no section references found"
    missing = sorted(n for n in named if n not in headings)
    assert not missing, missing
