"""Issue 12: `kdbound estimate runs.csv` on 10^6 runs per role (2,000,000 rows of role, train_loss,
test_loss), with --kl-method gauss and knn, against a process that only reads the same file
with `numpy.loadtxt` (the numbers, without the role column).

Goal: under 10 s per run on this machine.   Run:  python benchmarks/bench_estimate.py [--repeats 3]
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from _timing import paired

parser = argparse.ArgumentParser()
parser.add_argument("--runs", type=int, default=1_000_000, help="runs per role")
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()

data = Path(__file__).with_name("data")
data.mkdir(exist_ok=True)
path = data / f"runs_{args.runs}.csv"
if not path.exists():
    rng = np.random.default_rng(0)
    n = args.runs
    train = rng.uniform(0.1, 0.3, 2 * n)
    gap = np.concatenate([rng.normal(0.05, 0.02, n), rng.normal(0.06, 0.025, n)])
    with open(path, "w") as f:
        f.write("role,train_loss,test_loss\n")
        for role, sl in (("teacher", slice(0, n)), ("student", slice(n, 2 * n))):
            block = np.column_stack([train[sl], train[sl] + gap[sl]])
            lines = np.char.add(f"{role},", np.char.add(np.char.add(block[:, 0].astype("U25"), ","),
                                                      block[:, 1].astype("U25")))
            f.write("\n".join(lines.tolist()) + "\n")

exe = Path(sys.executable).with_name("kdbound")
base = [sys.executable, "-c", f"import numpy; numpy.loadtxt('{path}', delimiter=',', skiprows=1, usecols=(1, 2))"]
for method in ("gauss", "knn"):
    cand = [str(exe), "estimate", str(path), "--loss-min", "0", "--loss-max", "1", "--kl-method", method,
            "--format", "json"]
    out = json.loads(subprocess.run(cand, check=True, capture_output=True, text=True).stdout)
    assert out["teacher_runs"] == out["student_runs"] == args.runs
    c, b, ratio = paired(cand, base, args.repeats)
    print(f"{args.runs:,} runs per role, --kl-method {method}: kdbound estimate {c:.2f} s (goal < 10 s); "
          f"numpy.loadtxt of the numbers {b:.2f} s; median paired ratio {ratio:.2f}; "
          f"kl_gap {out['results']['kl_gap']:.4g}")
