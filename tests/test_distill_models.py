"""Model specs, factories and soft-label fits (kdbound/experiment/models.py)."""

import textwrap

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from kdbound.errors import InputError
from kdbound.experiment import models as M


@pytest.mark.parametrize("text, canonical, cls, params", [
    ("logistic", "logistic", "LogisticRegression", {}),
    ("logistic:C=1", "logistic:C=1", "LogisticRegression", {"C": 1}),
    ("mlp:64", "mlp:64", "MLPClassifier", {"hidden_layer_sizes": (64,)}),
    (" mlp:64,64:alpha=1e-4,max_iter=300 ", "mlp:64,64:alpha=0.0001,max_iter=300", "MLPClassifier",
     {"hidden_layer_sizes": (64, 64), "alpha": 1e-4, "max_iter": 300}),
    ("mlp:8:solver=sgd,early_stopping=true", "mlp:8:solver=sgd,early_stopping=true", "MLPClassifier",
     {"hidden_layer_sizes": (8,), "solver": "sgd", "early_stopping": True}),
    ("tree:depth=4", "tree:depth=4", "DecisionTreeClassifier", {"max_depth": 4}),
    ("tree:3", "tree:3", "DecisionTreeClassifier", {"max_depth": 3}),
    ("forest:200", "forest:200", "RandomForestClassifier", {"n_estimators": 200}),
    ("forest:20:depth=none", "forest:20:depth=none", "RandomForestClassifier", {"n_estimators": 20, "max_depth": None}),
    ("knn:5", "knn:5", "KNeighborsClassifier", {"n_neighbors": 5}),
    ("KNN:k=7", "knn:k=7", "KNeighborsClassifier", {"n_neighbors": 7}),
])
def test_specs_map_to_scikit_learn_defaults_plus_their_parameters(text, canonical, cls, params):
    spec = M.parse_spec(text, "teacher")
    assert spec.text == canonical
    est = M.build(spec, 1234)
    assert type(est).__name__ == cls
    defaults = type(est)().get_params()
    got = est.get_params()
    for key, value in defaults.items():
        if key == "random_state":
            assert got[key] == 1234
        else:
            assert got[key] == params.get(key, value), key


def test_knn_has_no_random_state_and_builds():
    est = M.build(M.parse_spec("knn:5", "student"), 7)
    assert "random_state" not in est.get_params()


def test_an_unknown_spec_lists_the_choices():
    for text in ("resnet", "mlpp:64", "", "logistic:C=1:x", "mlp:0", "mlp:a", "tree:depth", "logistic:5"):
        with pytest.raises(InputError) as err:
            M.parse_spec(text, "student")
        msg = err.value.describe()
        assert msg.startswith("student: ")
        if text in ("resnet", "mlpp:64", "", "logistic:C=1:x", "logistic:5"):
            for choice in ("logistic[:C=1]", "mlp:64[,64]", "tree:depth=4", "forest:200", "knn:5", "module:function"):
                assert choice in msg, (text, msg)


def test_unknown_parameters_and_random_state_are_refused():
    with pytest.raises(InputError, match=r"unknown parameter 'alph' of MLPClassifier \(it has: .*alpha.*\)"):
        M.parse_spec("mlp:8:alph=1", "teacher")
    with pytest.raises(InputError, match="random_state is set by kdbound"):
        M.parse_spec("logistic:random_state=3", "teacher")
    with pytest.raises(InputError, match="twice"):
        M.parse_spec("forest:20:n_estimators=5", "teacher")


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """A module of factories on the import path (a fresh name per test)."""
    name = f"kdb_factories_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        def seeded(random_state):
            return MLPClassifier((4,), max_iter=20, random_state=random_state)

        def pipeline(random_state):
            return make_pipeline(StandardScaler(), LogisticRegression(random_state=random_state))

        def knn_pipeline(random_state):
            return make_pipeline(StandardScaler(), KNeighborsClassifier(3))

        def regressor(random_state):
            from sklearn.linear_model import LinearRegression
            return LinearRegression()

        def broken(random_state):
            raise RuntimeError("no GPU here")

        NOT_CALLABLE = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_factories_are_called_with_random_state(factories):
    spec = M.parse_spec(f"{factories}:seeded", "teacher")
    assert spec.is_factory and spec.text == f"{factories}:seeded"
    assert M.build(spec, 99).get_params()["random_state"] == 99
    assert type(M.check_model(spec, "teacher")).__name__ == "MLPClassifier"


def test_a_factory_that_returns_no_classifier_is_refused(factories):
    with pytest.raises(InputError, match=r"teacher: .*LinearRegression, which is not a classifier \(no predict_proba\)"):
        M.check_model(M.parse_spec(f"{factories}:regressor", "teacher"), "teacher")
    with pytest.raises(InputError, match="RuntimeError: no GPU here"):
        M.check_model(M.parse_spec(f"{factories}:broken", "teacher"), "teacher")
    with pytest.raises(InputError, match="cannot be called"):
        M.check_model(M.parse_spec(f"{factories}:NOT_CALLABLE", "teacher"), "teacher")
    with pytest.raises(InputError, match="cannot import the factory 'kdb_no_such_module:f'.*ModuleNotFoundError"):
        M.check_model(M.parse_spec("kdb_no_such_module:f", "student"), "student")


def test_soft_labels_need_sample_weight_and_refuse_early_stopping(factories):
    with pytest.raises(InputError, match="student: soft labels .* knn:5 .* does not accept sample_weight"):
        M.check_model(M.parse_spec("knn:5", "student"), "student", soft=True)
    with pytest.raises(InputError, match="early_stopping cannot be used with soft labels"):
        M.check_model(M.parse_spec("mlp:8:early_stopping=true", "student"), "student", soft=True)
    with pytest.raises(InputError, match="does not accept sample_weight"):
        M.check_model(M.parse_spec(f"{factories}:knn_pipeline", "student"), "student", soft=True)
    est = M.check_model(M.parse_spec(f"{factories}:pipeline", "student"), "student", soft=True)
    assert M.sample_weight_key(est) == "logisticregression__sample_weight"
    assert M.sample_weight_key(MLPClassifier()) == "sample_weight"
    # a Pipeline is fitted with <step>__sample_weight
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    q = softmax(rng.normal(size=(30, 3)), axis=1)
    M.fit_soft(est, x, q)
    assert est.predict_proba(x).shape == (30, 3)


def test_soft_labels_scale_the_mlp_batch_by_the_classes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4))
    q = softmax(rng.normal(size=(50, 3)), axis=1)
    est = MLPClassifier((3,), max_iter=5)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        M.fit_soft(est, x, q)
        assert est.batch_size == min(200, 50) * 3  # auto = min(200, n) inputs, times C
        est2 = MLPClassifier((3,), max_iter=5, batch_size=8)
        M.fit_soft(est2, x, q)
        assert est2.batch_size == 24
        q0 = q.copy()
        q0[:, 2] = 0
        q0 /= q0.sum(axis=1, keepdims=True)
        est3 = MLPClassifier((3,), max_iter=5)
        M.fit_soft(est3, x, q0)  # 100 rows left after dropping weight-0 copies: capped there
        assert est3.batch_size == 100


def test_soft_label_weighted_fit_is_cross_entropy_with_soft_targets():
    """Logistic regression on weighted copies equals the direct minimiser of
    C sum_j sum_c q_jc (-ln softmax(W x_j + b)_c) + |W|^2 / 2 (the intercept unpenalised)."""
    rng = np.random.default_rng(3)
    m, d, k, C = 60, 3, 3, 0.7
    x = rng.normal(size=(m, d))
    q = softmax(x @ rng.normal(size=(d, k)) + rng.normal(size=(m, k)), axis=1)
    est = LogisticRegression(C=C, tol=1e-12, max_iter=10000)
    M.fit_soft(est, x, q)

    def objective(theta):
        w, b = theta[: k * d].reshape(k, d), theta[k * d:]
        logits = x @ w.T + b
        ls = log_softmax(logits, axis=1)
        value = -C * np.sum(q * ls) + 0.5 * np.sum(w * w)
        g = C * (softmax(logits, axis=1) - q)  # d/dlogits of the data term
        return value, np.concatenate([(g.T @ x + w).ravel(), g.sum(axis=0)])

    res = minimize(objective, np.zeros(k * d + k), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10000})
    w = res.x[: k * d].reshape(k, d)
    direct = softmax(x @ w.T + res.x[k * d:], axis=1)
    assert np.max(np.abs(est.coef_ - w)) < 1e-5
    assert np.max(np.abs(est.predict_proba(x) - direct)) < 1e-6
    # and hard one-hot targets give an ordinary fit: the weighting is the only difference
    plain = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(x, q.argmax(axis=1))
    assert np.max(np.abs(plain.coef_ - w)) > 1e-2
