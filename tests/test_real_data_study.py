"""The real-data study (docs/real-data.md) keeps working: its script, reduced to a few fast runs, fills every
generated section of a copy of the doc and draws the figure; and the committed doc comes from a full run."""

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "real-data.md"
SECTIONS = ("findings", "gaps", "bounds", "jitter")


def section(text, name):
    m = re.search(rf"<!-- study:{name} -->\n(.*?)<!-- /study:{name} -->", text, flags=re.S)
    assert m, name
    return m.group(1)


def load_script():
    spec = importlib.util.spec_from_file_location("real_data_study", ROOT / "docs" / "real_data_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_the_reduced_study_fills_the_doc_and_draws_the_figure(tmp_path):
    doc = tmp_path / "real-data.md"
    shutil.copy(DOC, doc)
    for name in SECTIONS:  # start from empty sections, so that each must be written
        text = doc.read_text()
        doc.write_text(text.replace(section(text, name), ""))
    load_script().main(["--runs", "50", "--data", "iris", "--teacher", "logistic", "--students",
                        "logistic:C=0.5,tree:depth=2", "--n", "30", "--min-test", "50", "--jobs", "1",
                        "--out", str(tmp_path / "runs"), "--doc", str(doc), "--figure", str(tmp_path / "fig.png")])
    text = doc.read_text()
    for name in ("gaps", "bounds", "jitter"):
        rows = [ln for ln in section(text, name).splitlines() if ln.startswith("| ")]
        assert len(rows) == 1 + 4, (name, rows)  # a header and 2 students x 2 label modes
    findings = " ".join(section(text, "findings").split())
    assert "50 runs per label mode" in findings and "data iris, teacher logistic, n = 30" in findings
    assert (tmp_path / "fig.png").stat().st_size > 10_000 and (tmp_path / "fig.pdf").exists()
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.csv")) == [
        "runs-hard.logistic-C=0.5.csv", "runs-hard.tree-depth=2.csv", "runs-soft.logistic-C=0.5.csv",
        "runs-soft.tree-depth=2.csv"]


def test_the_committed_doc_comes_from_the_full_study():
    text = DOC.read_text()
    findings = " ".join(section(text, "findings").split())
    assert re.search(r"\b(\d+) runs per label mode \(6 student rows\)", findings)
    assert int(re.search(r"\b(\d+) runs per label mode", findings).group(1)) >= 200
    assert "data digits, teacher mlp:64, n = 300" in findings
    for name in ("gaps", "bounds", "jitter"):
        rows = [ln for ln in section(text, name).splitlines() if ln.startswith("| ")]
        assert len(rows) == 1 + 6, name
        for student in ("logistic", "mlp:8", "mlp:32"):
            assert sum(f"| {student} | hard |" in r or f"| {student} | soft |" in r for r in rows) == 2
    assert (ROOT / "docs" / "real-data.png").exists()
