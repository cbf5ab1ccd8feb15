"""Write the example runs tables shipped with kdbound: 200 distillation experiments, each a teacher
run and a student run on its own training set (a paired design: both share the dataset id).

    python examples/runs/make_runs.py      # rewrites runs.csv and runs.parquet beside this file

* runs.csv: the 0-1 error, in [0, 1], measured on a test set of 10,000 examples (n_test), so the
  test losses are multiples of 1e-4 and the training errors of 1/50,000. For
  `kdbound estimate examples/runs/runs.csv --loss-min 0 --loss-max 1`.
* runs.parquet: the cross-entropy of the same runs (unbounded, continuous values). For
  `kdbound estimate examples/runs/runs.parquet --kl-method knn`.

A synthetic illustration (made-up numbers with the shape of real ones), not measurements.  The same
seed always writes the same files.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
rng = np.random.default_rng(2026)
runs, n_train, n_test = 200, 50_000, 10_000
# per training set: how hard it is (shared by its teacher and student run)
hard = rng.normal(0.0, 1.0, runs)
# population error rates and training error rates
p_teacher = 0.080 + 0.006 * hard + 0.004 * rng.standard_normal(runs)
q_teacher = 0.020 + 0.003 * hard + 0.002 * rng.standard_normal(runs)
p_student = 0.086 + 0.007 * hard + 0.005 * rng.standard_normal(runs)
q_student = 0.030 + 0.004 * hard + 0.003 * rng.standard_normal(runs)
rows = {"role": [], "train_loss": [], "test_loss": [], "n_test": [], "dataset": [], "seed": []}
ce = {"role": [], "train_loss": [], "test_loss": [], "dataset": [], "seed": []}
for i in range(runs):
    for role, p, q in (("teacher", p_teacher[i], q_teacher[i]), ("student", p_student[i], q_student[i])):
        rows["role"].append(role)
        rows["train_loss"].append(rng.binomial(n_train, q) / n_train)
        rows["test_loss"].append(rng.binomial(n_test, p) / n_test)
        rows["n_test"].append(n_test)
        rows["dataset"].append(i)
        rows["seed"].append(1000 + i)
        ce["role"].append(role)
        ce["train_loss"].append(float(-np.log1p(-q) * 3.0 + 0.01 * rng.standard_normal()))
        ce["test_loss"].append(float(-np.log1p(-p) * 3.5 + 0.01 * rng.standard_normal()))
        ce["dataset"].append(i)
        ce["seed"].append(1000 + i)
with open(HERE / "runs.csv", "w") as fh:
    fh.write(",".join(rows) + "\n")
    fh.writelines(",".join(str(rows[c][i]) for c in rows) + "\n" for i in range(2 * runs))
pq.write_table(pa.table(ce), HERE / "runs.parquet")
print(f"wrote runs.csv and runs.parquet ({2 * runs} runs each) to {HERE}")
