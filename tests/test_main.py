"""cli/main.py, the entry point: the installed console script and `python -m kdbound`, what a scalar run
imports, and the process's end (no abort from Arrow's teardown)."""

import json
import math
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import UP

pytestmark = pytest.mark.subprocess


def test_installed_console_script(exe):
    p = subprocess.run([exe, *UP, "--format", "json"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and json.loads(p.stdout)["results"]["slack"] == pytest.approx(0.1 * math.sqrt(0.4))
    p = subprocess.run([exe, "upper", "--gen-t", "0", "--kl", "-1", "--sigma", "1"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1
    p = subprocess.run([sys.executable, "-m", "kdbound", *UP], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("bound\t")


def test_scalar_path_does_not_import_heavy_modules():
    code = ("import sys; from kdbound.cli.main import main\n"
            "try:\n    main(['upper','--gen-t','0.05','--kl','0.2','--sigma','0.1','--format','json'])\n"
            "except SystemExit: pass\n"
            "print('HEAVY:' + ' '.join(m for m in ('scipy','matplotlib','pyarrow','rich','pandas') "
            "if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.splitlines()[-1] == "HEAVY:", p.stdout


def test_error_exits_after_pyarrow_never_abort(exe, tmp_path):
    """Arrow's C++ teardown could abort an early exit (status 134, ~10% of runs when several ran at once)."""
    from concurrent.futures import ThreadPoolExecutor
    path = tmp_path / "nullgap.parquet"
    pq.write_table(pa.table({"role": ["teacher", "student"] * 60, "gap": [0.1] * 119 + [None]}), path)

    def one(_):
        return subprocess.run([exe, "estimate", str(path)], capture_output=True, text=True, timeout=60)

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(one, range(40)))
    assert {r.returncode for r in runs} == {2}
    assert all(r.stderr == "kdbound: error: row 120, column gap: must be a number (the cell is empty)\n" for r in runs)
