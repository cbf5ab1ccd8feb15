"""Issue 3: `kdbound linear-gaussian` on d = 512, n = 200,000, k = 10, rank 4, 256 samples, X from .npy.

Goals: wall time <= 2x a process that loads the same X and computes X.T @ X
(median of paired runs), and peak memory (max RSS) <= 3x the size of X.
Run:  python benchmarks/bench_lingauss.py [--repeats 3]
"""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from _timing import paired

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=200_000)
parser.add_argument("--d", type=int, default=512)
parser.add_argument("--k", type=int, default=10)
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()

data = Path(__file__).with_name("data")
data.mkdir(exist_ok=True)
xf, yf, wf = (data / f"lg_{name}_{args.n}x{args.d}.npy" for name in ("x", "y", "w"))
if not xf.exists():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.d))
    w = rng.standard_normal((args.k, args.d)) / np.sqrt(args.d)
    np.save(xf, x)
    np.save(wf, w)
    np.save(yf, x @ w.T + 0.5 * rng.standard_normal((args.n, args.k)))
    del x

exe = Path(sys.executable).with_name("kdbound")
cand = [str(exe), "linear-gaussian", "--x", str(xf), "--y", str(yf), "--w-star", str(wf), "--rank", "4",
        "--samples", "256", "--noise", "0.5", "--format", "json"]
base = [sys.executable, "-c", f"import numpy as np; x = np.load({str(xf)!r}); g = x.T @ x"]
c, b, ratio = paired(cand, base, args.repeats)


def max_rss_mb(cmd):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, check=True)
    return int(p.stderr.strip().splitlines()[-1]) / 1024


x_mb = xf.stat().st_size / 2 ** 20
rss = max_rss_mb(cand)
print(f"linear-gaussian n={args.n:,} d={args.d} k={args.k}: {c:.2f} s; load + X.T @ X {b:.2f} s; "
      f"median paired ratio {ratio:.2f} (goal <= 2)")
print(f"peak RSS {rss:.0f} MiB = {rss / x_mb:.2f}x the size of X ({x_mb:.0f} MiB) (goal <= 3); "
      f"baseline {max_rss_mb(base) / x_mb:.2f}x")
