"""Issue 2: a scalar `kdbound upper ... --format json`, as a whole process, against `python -c "import numpy"`.

Goal: median ratio of paired runs <= 1.5.   Run:  python benchmarks/bench_startup.py [--repeats 30]
"""

import argparse
import shutil
import sys
from pathlib import Path

from _timing import paired

parser = argparse.ArgumentParser()
parser.add_argument("--repeats", type=int, default=30)
args = parser.parse_args()

# the console script next to this interpreter (not a pyenv shim, which adds its own start-up)
exe = str(Path(sys.executable).with_name("kdbound"))
if not Path(exe).exists():
    exe = shutil.which("kdbound") or sys.exit("install kdbound first (pip install -e .)")
cand = [exe, "upper", "--gen-t", "0.05", "--kl", "0.2", "--sigma", "0.1", "--format", "json"]
base = [sys.executable, "-c", "import numpy"]
paired(cand, base, 3)  # warm the file cache
c, b, ratio = paired(cand, base, args.repeats)
print(f"kdbound upper --format json: {c * 1000:.0f} ms; python -c 'import numpy': {b * 1000:.0f} ms; "
      f"median paired ratio {ratio:.2f} (goal <= 1.5)")
