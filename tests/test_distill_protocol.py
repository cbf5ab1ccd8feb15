"""The distillation protocol, reproduced by an independent plain loop written without kdbound's code.

The loop below follows the written protocol step by step (its own largest-remainder counts in exact
fractions, its own stratified draw, seeds, scikit-learn estimators built by hand, soft-label copies built
in Python, losses from their formulas) and must give exactly the rows kdbound writes, for the same seed.
"""

import warnings
from fractions import Fraction

import numpy as np
import pytest
from sklearn import datasets
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from kdbound.experiment.runner import DistillSettings, run_distill

COLUMNS = ("role", "train_loss", "test_loss", "gap", "dataset", "seed", "n_test", "loss_min", "loss_max",
           "test_accuracy", "converged", "teacher", "student")

LOADERS = {"iris": datasets.load_iris, "digits": datasets.load_digits, "wine": datasets.load_wine,
           "breast-cancer": datasets.load_breast_cancer}


def make(spec, rs):
    """The estimators of the specs used below, built by hand with scikit-learn's defaults."""
    return {
        "tree:depth=1": lambda: DecisionTreeClassifier(max_depth=1, random_state=rs),
        "tree:depth=2": lambda: DecisionTreeClassifier(max_depth=2, random_state=rs),
        "logistic": lambda: LogisticRegression(random_state=rs),
        "logistic:C=0.05": lambda: LogisticRegression(C=0.05, random_state=rs),
        "mlp:8:max_iter=40": lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=rs),
        "mlp:16:max_iter=60": lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=rs),
        "forest:5:depth=3": lambda: RandomForestClassifier(n_estimators=5, max_depth=3, random_state=rs),
        "knn:3": lambda: KNeighborsClassifier(n_neighbors=3),
    }[spec]()


def counts_loop(sizes, n):
    """One example per class, then one at a time to the class furthest below its quota n N_c / N (lowest first)."""
    total = sum(sizes)
    quota = [Fraction(n * s, total) for s in sizes]
    out = [1] * len(sizes)
    for _ in range(n - len(sizes)):
        c = max(range(len(sizes)), key=lambda c: (quota[c] - out[c], -c))
        out[c] += 1
    return out


def draw_loop(y, counts, rng, test_size):
    train, rest = [], []
    for c, k in enumerate(counts):
        members = np.array([j for j in range(len(y)) if y[j] == c])
        perm = rng.permutation(members)
        train += perm[:k].tolist()
        rest += perm[k:].tolist()
    rest = sorted(rest)
    if test_size is not None and test_size < len(rest):
        rest = sorted(rng.choice(np.array(rest), size=test_size, replace=False).tolist())
    return np.array(sorted(train)), np.array(rest)


def proba(model, x, classes):
    out = np.zeros((len(x), classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def losses(p, kind, eps):
    """(m, C): each example's loss had its label been c."""
    classes = p.shape[1]
    if kind == "zero-one":
        return np.array([[float(np.argmax(row) != c) for c in range(classes)] for row in p])
    if kind == "brier":
        return np.stack([np.sum((p - np.eye(classes)[c]) ** 2, axis=1) for c in range(classes)], axis=1)
    return -np.log(np.maximum(p, eps))


def fitted(spec, rs, fit, x_train, x_test, classes):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make(spec, rs)
        with threadpool_limits(1):
            fit(model)
            p_train, p_test = proba(model, x_train, classes), proba(model, x_test, classes)
    return p_train, p_test, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def soft_fit(model, x, q):
    rows, labels, weights = [], [], []
    for j in range(q.shape[0]):
        for c in range(q.shape[1]):
            if q[j, c] > 0:
                rows.append(x[j])
                labels.append(c)
                weights.append(q[j, c])
    if "batch_size" in model.get_params():
        model.set_params(batch_size=min(min(200, q.shape[0]) * q.shape[1], len(rows)))
    model.fit(np.array(rows), np.array(labels), sample_weight=np.array(weights))


def loop(data, teacher, student, n, runs, seed, labels="hard", temperature=1.0, loss="zero-one", eps=1e-4,
         test_size=None, scale=False):
    if isinstance(data, tuple):
        x, y = data
    else:
        bunch = LOADERS[data]()
        x = bunch.data.astype(float)
        y = np.unique(bunch.target, return_inverse=True)[1]
    classes = int(y.max()) + 1
    counts = counts_loop(np.bincount(y).tolist(), n)
    top = {"zero-one": 1.0, "brier": 2.0, "log": -np.log(eps)}[loss]
    out = []
    for i in range(runs):
        child = np.random.SeedSequence(seed).spawn(runs)[i]
        c_draw, c_teacher, c_student = child.spawn(3)
        rs_t, rs_s = (int(c.generate_state(1, np.uint32)[0]) for c in (c_teacher, c_student))
        train, test = draw_loop(y, counts, np.random.default_rng(c_draw), test_size)
        xtr, xte, ytr, yte = x[train], x[test], y[train], y[test]
        if scale:
            mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
            sd[sd == 0] = 1.0
            xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
        tp, tq, tconv = fitted(teacher, rs_t, lambda m, xtr=xtr, ytr=ytr: m.fit(xtr, ytr), xtr, xte, classes)
        if labels == "hard":
            hard = np.argmax(tp, axis=1)
            sp, sq, sconv = fitted(student, rs_s, lambda m, xtr=xtr, hard=hard: m.fit(xtr, hard), xtr, xte, classes)
            s_train = losses(sp, loss, eps)[np.arange(len(hard)), hard].mean()
        else:
            z = np.where(tp > 0, np.log(np.where(tp > 0, tp, 1.0)) / temperature, -np.inf)
            e = np.where(tp > 0, np.exp(z - z.max(axis=1, keepdims=True)), 0.0)
            q = e / e.sum(axis=1, keepdims=True)
            sp, sq, sconv = fitted(student, rs_s, lambda m, xtr=xtr, q=q: soft_fit(m, xtr, q), xtr, xte, classes)
            s_train = (q * losses(sp, loss, eps)).sum(axis=1).mean()
        t_train = losses(tp, loss, eps)[np.arange(len(ytr)), ytr].mean()
        t_test = losses(tq, loss, eps)[np.arange(len(yte)), yte].mean()
        s_test = losses(sq, loss, eps)[np.arange(len(yte)), yte].mean()
        for role, a, b, p, conv in (("teacher", t_train, t_test, tq, tconv), ("student", s_train, s_test, sq, sconv)):
            out.append((role, float(a), float(b), float(b) - float(a), i, seed, len(test), 0.0, float(top),
                        float(np.mean(np.argmax(p, axis=1) == yte)), conv, teacher, student))
    return out


CASES = [
    # a depth-1 tree predicts two of iris's three classes: the student never sees the third
    dict(data="iris", teacher="tree:depth=1", student="logistic", n=30, runs=3, seed=4, test_size=100, scale=True),
    # soft labels with exact zeros (dropped copies) at T = 0.5
    dict(data="iris", teacher="tree:depth=2", student="logistic", n=30, runs=2, seed=1, labels="soft",
         temperature=0.5, scale=True),
    # an MLP student on tempered soft labels: batch_size times C
    dict(data="digits", teacher="logistic:C=0.05", student="mlp:8:max_iter=40", n=150, runs=2, seed=11,
         labels="soft", temperature=2.0, scale=True),
    # binary, no scaling, a forest teacher and a student without random_state
    dict(data="breast-cancer", teacher="forest:5:depth=3", student="knn:3", n=80, runs=2, seed=2),
    dict(data="wine", teacher="mlp:16:max_iter=60", student="logistic", n=40, runs=2, seed=3, labels="soft",
         scale=True),
]
LOSS_CASES = [(case, loss) for case in CASES for loss in (("zero-one", "brier", "log") if case["data"] == "iris"
                                                          else ("brier",) if case["data"] == "breast-cancer"
                                                          else ("log", "zero-one"))]


@pytest.mark.parametrize("case, loss", LOSS_CASES, ids=[f"{c['data']}-{c['teacher']}-{c['student']}-{loss}"
                                                         for c, loss in LOSS_CASES])
def test_an_independent_loop_reproduces_the_rows_exactly(case, loss):
    eps = 1e-3 if loss == "log" else 1e-4
    settings = DistillSettings(data=case["data"], teacher=case["teacher"], students=(case["student"],), n=case["n"],
                               runs=case["runs"], seed=case["seed"], labels=case.get("labels", "hard"),
                               temperature=case.get("temperature", 1.0), loss=loss, log_clip=eps,
                               test_size=case.get("test_size"), min_test=10,
                               scale="standard" if case.get("scale") else "none")
    got = [r.values() for r in run_distill(settings, jobs=1).rows]
    kw = {k: case[k] for k in ("labels", "temperature", "test_size", "scale") if k in case}
    expected = loop(case["data"], case["teacher"], case["student"], case["n"], case["runs"], case["seed"],
                    loss=loss, eps=eps, **kw)
    assert got == [tuple(e) for e in expected]


def test_the_student_that_never_saw_a_class_gives_it_probability_zero():
    """The depth-1 tree teacher of iris predicts two classes: the student's third-class probability is 0,
    so its clipped log loss on those held-out points is the top of the range."""
    settings = DistillSettings(data="iris", teacher="tree:depth=1", students=("logistic",), n=30, runs=2,
                               loss="log", log_clip=0.01, min_test=10)
    rows = run_distill(settings, jobs=1).rows
    student = [r for r in rows if r.role == "student"]
    # about a third of the held-out points belong to the unseen class, each at ln(100) = 4.6
    assert all(r.test_loss > 4.6 / 4 for r in student)
    assert all(r.test_accuracy < 0.7 for r in student)


def test_a_class_missing_in_the_middle_is_mapped_through_classes(tmp_path):
    """Iris relabelled so that the depth-1 tree teacher predicts classes 0 and 2: the student's classes_ are
    [0, 2], and its probabilities must land in columns 0 and 2 of the pool's classes, not 0 and 1."""
    bunch = datasets.load_iris()
    names = np.array(["c", "a", "b"])[bunch.target]  # setosa -> c (code 2), versicolor -> a (0), virginica -> b (1)
    path = tmp_path / "iris.csv"
    path.write_text("f0,f1,f2,f3,label\n" + "".join(",".join(repr(float(v)) for v in row) + f",{lab}\n"
                                                    for row, lab in zip(bunch.data, names)))
    y = np.searchsorted(["a", "b", "c"], names)
    settings = DistillSettings(data=str(path), target="label", teacher="tree:depth=1", students=("logistic",), n=30,
                               runs=2, seed=4, loss="log", log_clip=1e-3, min_test=10)
    got = [r.values() for r in run_distill(settings, jobs=1).rows]
    expected = loop((bunch.data.astype(float), y), "tree:depth=1", "logistic", 30, 2, 4, loss="log", eps=1e-3)
    assert got == [tuple(e) for e in expected]
    model = make("tree:depth=1", 0).fit(bunch.data, y)
    assert model.predict(bunch.data).tolist().count(1) == 0  # the premise: class 1 is never predicted
