"""Issue 4: `kdbound upper --input rows.csv --format csv > out.csv` on 1,000,000 rows
(columns gen_t, sigma, kl), against a process that only reads the file with
`numpy.loadtxt(..., delimiter=',', skiprows=1)`.

Goal: median ratio of paired runs <= 1.5.   Run:  python benchmarks/bench_batch.py [--repeats 5]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from _timing import paired

parser = argparse.ArgumentParser()
parser.add_argument("--rows", type=int, default=1_000_000)
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

data = Path(__file__).with_name("data")
data.mkdir(exist_ok=True)
rows = data / f"rows_{args.rows}.csv"
if not rows.exists():
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.normal(0.05, 0.02, args.rows), rng.uniform(0.01, 1, args.rows),
                         rng.uniform(0, 2, args.rows)])
    with open(rows, "w") as f:
        f.write("gen_t,sigma,kl\n")
        np.savetxt(f, a, delimiter=",", fmt="%.17g")

exe = Path(sys.executable).with_name("kdbound")
out = data / "out.csv"
cand = ["sh", "-c", f"'{exe}' upper --input '{rows}' --format csv > '{out}'"]
base = [sys.executable, "-c", f"import numpy; numpy.loadtxt('{rows}', delimiter=',', skiprows=1)"]
c, b, ratio = paired(cand, base, args.repeats)
lines = sum(1 for _ in open(out))
assert lines == args.rows + 1, lines
print(f"{args.rows:,} rows: kdbound upper --input --format csv {c:.2f} s; numpy.loadtxt read {b:.2f} s; "
      f"median paired ratio {ratio:.2f} (goal <= 1.5)")
