"""The pool of labelled examples: a data set bundled with scikit-learn, or a file with a target column."""

from __future__ import annotations

import os

import numpy as np

from ..engine.distill import Pool, make_pool
from ..errors import InputError
from ..io.pool import POOL_FORMATS, read_pool
from .models import require_sklearn

#: the data sets scikit-learn ships (no download), by the name ``data`` takes
BUNDLED = {"digits": "load_digits", "breast-cancer": "load_breast_cancer", "wine": "load_wine", "iris": "load_iris"}


def load_pool(data: str, target: str | None = None) -> Pool:
    """The pool named by ``data``: a bundled data set (:data:`BUNDLED`), or a CSV, TSV, Parquet or ``.npz`` file
    whose ``target`` column holds the class labels (every other column is a feature)."""
    name = (data or "").strip()
    if name.lower() in BUNDLED:
        if target is not None:
            raise InputError(f"only with a data file (the bundled data set {name!r} has its own labels)", "target")
        return _bundled(name.lower())
    if target is None:
        if not os.path.exists(name):
            raise InputError(f"{data!r} is neither a bundled data set ({', '.join(BUNDLED)}) nor a file "
                             f"({POOL_FORMATS})", "data")
        raise InputError("required with a data file: the column that holds the class labels", "target")
    x, y, classes, features = read_pool(name, target)
    return make_pool(x, y, classes, features)


def _bundled(name: str) -> Pool:
    require_sklearn()
    from sklearn import datasets  # scikit-learn (~0.5 s), only for distill
    bunch = getattr(datasets, BUNDLED[name])()
    y = np.asarray(bunch.target, dtype=np.int64)
    codes = np.unique(y)
    names = [str(n) for n in getattr(bunch, "target_names", codes)]
    classes = tuple(names[c] if c < len(names) else str(c) for c in codes)
    features = tuple(map(str, getattr(bunch, "feature_names", [f"x{j}" for j in range(bunch.data.shape[1])])))
    return make_pool(bunch.data, np.searchsorted(codes, y), classes, features)
