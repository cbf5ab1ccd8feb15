"""What a batch would cost without pyarrow: `kdbound upper --input rows.csv --format csv > out.csv`
on 1,000,000 rows (the file of bench_batch.py), against a pure-Python batch around the same engine
call, and numpy.loadtxt of the file, in paired runs.

The pure-Python batch is a sketch, and an optimistic one: the csv module reads the whole file,
numpy converts each column (no cell-by-cell strict check, no row-level messages, no blocks: memory
grows with the file), the engine evaluates every row at once, and the rows are written back with
``repr`` floats, as kdbound writes them.  It is what a fallback without pyarrow could at best do.

Run:  python benchmarks/bench_batch_pure.py [--rows 1000000] [--repeats 5]
"""

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np

from _timing import rounds

PURE = r'''
import csv, math, sys
import numpy as np
from kdbound.engine.specs import UPPER

src, dst = sys.argv[1], sys.argv[2]
with open(src, newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    columns = list(zip(*reader))
values = {name: np.asarray(col, dtype=np.float64) for name, col in zip(header, columns)}
results = {k: v for k, v in UPPER.evaluate(values).items() if k not in values and v is not None}
out = [[*columns[i]] for i in range(len(header))]
for key, vals in results.items():
    vals = np.broadcast_to(np.asarray(vals, dtype=np.float64), (len(columns[0]),)) + 0.0
    out.append([repr(v) if math.isfinite(v) else "" for v in vals.tolist()])
with open(dst, "w", newline="") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow([*header, *results])
    writer.writerows(zip(*out))
'''


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = Path(__file__).with_name("data")
    data.mkdir(exist_ok=True)
    rows = data / f"rows_{args.rows}.csv"
    if not rows.exists():  # the same file as bench_batch.py
        rng = np.random.default_rng(0)
        a = np.column_stack([rng.normal(0.05, 0.02, args.rows), rng.uniform(0.01, 1, args.rows),
                             rng.uniform(0, 2, args.rows)])
        with open(rows, "w") as f:
            f.write("gen_t,sigma,kl\n")
            np.savetxt(f, a, delimiter=",", fmt="%.17g")
    exe = Path(sys.executable).with_name("kdbound")
    out, pure_out = data / "out.csv", data / "out_pure.csv"
    commands = {
        "numpy.loadtxt of the file": [sys.executable, "-c",
                                      f"import numpy; numpy.loadtxt('{rows}', delimiter=',', skiprows=1)"],
        "kdbound upper --input (pyarrow)": ["sh", "-c", f"'{exe}' upper --input '{rows}' --format csv > '{out}'"],
        "pure-Python batch (sketch)": [sys.executable, "-c", PURE, str(rows), str(pure_out)],
    }
    times = rounds(commands, args.repeats)
    # the sketch computes the same table (pyarrow writes 0.0000417..., repr 4.17...e-05: compared as numbers)
    with open(out) as a, open(pure_out) as b:
        assert a.readline() == b.readline(), "the two headers differ"
    same = np.array_equal(np.loadtxt(out, delimiter=",", skiprows=1), np.loadtxt(pure_out, delimiter=",", skiprows=1))
    assert same, "the two outputs differ"
    base = [t[0] for t in times["numpy.loadtxt of the file"]]
    print(f"{args.rows:,} rows, {args.repeats} rounds: median wall time, and ratio to numpy.loadtxt")
    for name, t in times.items():
        wall = [x[0] for x in t]
        ratio = statistics.median(w / b for w, b in zip(wall, base))
        print(f"  {name:34s} {statistics.median(wall):6.2f} s   {ratio:5.2f}x")


if __name__ == "__main__":
    main()
