"""Write the small linear-Gaussian example shipped with kdbound (n = 200 samples, d = 12 features, k = 8 outputs).

    python examples/linear_gaussian/make_data.py      # rewrites X.npy, Y.npy, W.npy beside this file

Rows are samples: X is n x d, Y = X W*^T + 0.5 E is n x k, W* is k x d (scikit-learn's coef_).
The same seed always writes the same files.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
rng = np.random.default_rng(2026)
n, d, k, noise = 200, 12, 8, 0.5
x = rng.standard_normal((n, d))
w_star = rng.standard_normal((k, d)) / np.sqrt(d)
y = x @ w_star.T + noise * rng.standard_normal((n, k))
np.save(HERE / "X.npy", x)
np.save(HERE / "Y.npy", y)
np.save(HERE / "W.npy", w_star)
print(f"wrote X.npy {x.shape}, Y.npy {y.shape}, W.npy {w_star.shape} to {HERE}")
