"""Classifiers from short specs (``mlp:64``) or from factories (``mypkg.models:make_student``).

A spec names a scikit-learn estimator with scikit-learn's defaults, except the
parameters it names, plus ``random_state`` from the run's seed where the
estimator's ``get_params()`` has it:

=================================== ==================================================
``logistic[:C=1]``                  ``LogisticRegression``
``mlp:64[,64][:alpha=1e-4,...]``    ``MLPClassifier(hidden_layer_sizes=(64, 64))``
``tree:depth=4``                    ``DecisionTreeClassifier(max_depth=4)``
``forest:200[:depth=8]``            ``RandomForestClassifier(n_estimators=200)``
``knn:5``                           ``KNeighborsClassifier(n_neighbors=5)``
=================================== ==================================================

Named parameters are the estimator's own (``alpha=1e-4``, ``max_iter=300``,
``solver=sgd``), with the short aliases of the table (``depth``, ``k``).  Any
``module:function`` that returns a scikit-learn compatible classifier (``fit``,
``predict``, ``predict_proba``) is a factory, called as ``f(random_state=int)``
(the module is imported, nothing is unpickled).  Specs travel to workers as
text, and each worker builds its own models.

Soft labels are fitted through sample weights (:func:`fit_soft`): ``C`` copies of
each input, copy ``c`` labelled ``c`` with weight ``q(c | x)`` (copies of weight 0
dropped).  For any model fitted by weighted log-likelihood this is the
cross-entropy with soft targets.  A stochastic solver would then take up to ``C``
times the steps per epoch, so a ``batch_size`` parameter is multiplied by ``C``
(``auto`` counting as ``min(200, n)``); ``early_stopping`` is refused (copies of
one input would land on both sides of its validation split).  Forest bootstraps
and ``min_samples_*`` count rows, that is copies, not inputs.  For a
``Pipeline`` the last step is checked and the weights go to ``<step>__sample_weight``.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..formats import parse_number

#: what a spec can name, for messages and help
SPEC_CHOICES = ("logistic[:C=1]", "mlp:64[,64][:alpha=1e-4,max_iter=300]", "tree:depth=4", "forest:200", "knn:5",
                "module:function")


@dataclass(frozen=True)
class Kind:
    """A short spec's estimator: its class, the parameter a bare value sets, and short parameter names."""

    module: str
    cls: str
    positional: str | None
    aliases: tuple[tuple[str, str], ...] = ()


KINDS = {
    "logistic": Kind("sklearn.linear_model", "LogisticRegression", None),
    "mlp": Kind("sklearn.neural_network", "MLPClassifier", "hidden_layer_sizes"),
    "tree": Kind("sklearn.tree", "DecisionTreeClassifier", "max_depth", (("depth", "max_depth"),)),
    "forest": Kind("sklearn.ensemble", "RandomForestClassifier", "n_estimators",
                   (("depth", "max_depth"), ("trees", "n_estimators"))),
    "knn": Kind("sklearn.neighbors", "KNeighborsClassifier", "n_neighbors", (("k", "n_neighbors"),)),
}

_FACTORY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: ``text`` is its canonical spelling (what the runs file records); ``kind`` a key of
    :data:`KINDS` or ``factory``; ``params`` the estimator's parameters it names."""

    text: str
    kind: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def is_factory(self) -> bool:
        return self.kind == "factory"


def require_sklearn() -> None:
    """scikit-learn >= 1.7 (the first whose ``MLPClassifier.fit`` takes ``sample_weight``), or one line saying
    which extra to install."""
    try:
        import sklearn  # scikit-learn: only for distill (imported here, never at start-up)
    except ImportError:
        raise InputError("distill needs scikit-learn: pip install 'kdbound[distill]'") from None
    major_minor = tuple(int(x) for x in re.findall(r"\d+", sklearn.__version__)[:2])
    if major_minor < (1, 7):
        raise InputError(f"distill needs scikit-learn >= 1.7 (found {sklearn.__version__}): pip install "
                         "'kdbound[distill]'")


def _choices() -> str:
    return ", ".join(SPEC_CHOICES)


def _value(text: str):
    """A named parameter's value: true/false/none, an integer, a number, else the text itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    number = parse_number(text)
    return number if number is not None else text


def _show(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(map(_show, value))
    return repr(value) if isinstance(value, float) else str(value)


def _positional(kind_name: str, kind: Kind, part: str, role: str):
    try:
        values = tuple(int(v) for v in part.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1 or (len(values) > 1 and kind.positional != "hidden_layer_sizes"):
        what = ("layer sizes, e.g. mlp:64 or mlp:64,32" if kind_name == "mlp" else
                f"one whole number >= 1 ({kind.positional})")
        raise InputError(f"{kind_name}:{part}: expected {what}", role)
    return values if kind.positional == "hidden_layer_sizes" else values[0]


def _estimator_class(kind: Kind):
    require_sklearn()
    return getattr(importlib.import_module(kind.module), kind.cls)


def _named(kind_name: str, kind: Kind, part: str, role: str) -> list[tuple[str, object]]:
    valid = set(_estimator_class(kind)().get_params(deep=False))
    aliases = dict(kind.aliases)
    out = []
    for item in part.split(","):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise InputError(f"{kind_name}: expected name=value, got {item!r}", role)
        name = aliases.get(key, key)
        if name == "random_state":
            raise InputError(f"{kind_name}: random_state is set by kdbound from the seed of each run", role)
        if name not in valid:
            known = sorted(valid - {"random_state"}) + [a for a, _ in kind.aliases]
            raise InputError(f"{kind_name}: unknown parameter {key!r} of {kind.cls} (it has: {', '.join(known)})",
                             role)
        out.append((name, _value(value.strip())))
    return out


def parse_spec(text: str, role: str) -> ModelSpec:
    """A :class:`ModelSpec` from its text, or an InputError naming ``role`` that lists the choices."""
    text = (text or "").strip()
    head, _, rest = text.partition(":")
    kind = KINDS.get(head.lower())
    if kind is None:
        if _FACTORY.fullmatch(text):
            return ModelSpec(text, "factory")
        raise InputError(f"unknown model {text!r}; choose one of {_choices()}", role)
    head = head.lower()
    parts = rest.split(":") if rest else []
    if len(parts) > 2 or any(not p.strip() for p in parts):
        raise InputError(f"{text!r} is not a model spec; choose one of {_choices()}", role)
    params: list[tuple[str, object]] = []
    shown = [head]
    for number, part in enumerate(parts):
        part = part.strip()
        if "=" not in part and number == 0 and kind.positional is not None:
            value = _positional(head, kind, part, role)
            params.append((kind.positional, value))
            shown.append(_show(value))
        elif "=" in part and (number == len(parts) - 1):
            named = _named(head, kind, part, role)
            if any(name == kind.positional for name, _ in named) and any(n == kind.positional for n, _ in params):
                raise InputError(f"{text!r} gives {kind.positional} twice", role)
            params += named
            keys = [item.partition("=")[0].strip() for item in part.split(",")]
            shown.append(",".join(f"{k}={_show(v)}" for k, (_, v) in zip(keys, named)))
        else:
            raise InputError(f"{text!r} is not a model spec; choose one of {_choices()}", role)
    if len({name for name, _ in params}) != len(params):
        raise InputError(f"{text!r} names a parameter twice", role)
    return ModelSpec(":".join(shown), head, tuple(params))


# --------------------------------------------------------------------------- building

def _factory(spec: ModelSpec):
    module, _, name = spec.text.partition(":")
    mod = importlib.import_module(module)
    fn = getattr(mod, name, None)
    if fn is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    if not callable(fn):
        raise TypeError(f"{spec.text} is not callable")
    return fn


def build(spec: ModelSpec, random_state: int):
    """A fresh, unfitted model of ``spec`` with this ``random_state`` (workers call this; errors are plain)."""
    if spec.is_factory:
        return _factory(spec)(random_state=random_state)
    kind = KINDS[spec.kind]
    est = _estimator_class(kind)(**dict(spec.params))
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=random_state)
    return est


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (at most 300 characters)."""
    text = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def check_model(spec: ModelSpec, role: str, soft: bool = False):
    """Build ``spec`` once in the calling process and check it: a classifier (``fit``, ``predict``,
    ``predict_proba``) and, for soft labels, a student that accepts ``sample_weight`` without
    ``early_stopping``.  Every failure is an InputError naming ``role``."""
    require_sklearn()
    try:
        est = build(spec, 0)
    except ImportError as exc:
        raise InputError(f"cannot import the factory {spec.text!r} ({one_line(exc)}); or choose one of "
                         f"{_choices()}", role) from None
    except (AttributeError, TypeError) as exc:
        if spec.is_factory:
            raise InputError(f"the factory {spec.text!r} cannot be called as f(random_state=int) ({one_line(exc)})",
                             role) from None
        raise InputError(f"{spec.text}: {one_line(exc)}", role) from None
    except Exception as exc:
        raise InputError(f"{spec.text} could not be built ({one_line(exc)})", role) from None
    missing = [m for m in ("fit", "predict", "predict_proba") if not callable(getattr(est, m, None))]
    if missing:
        raise InputError(f"{spec.text!r} gave a {type(est).__name__}, which is not a classifier (no "
                         f"{', '.join(missing)})", role)
    if soft:
        check_soft(est, spec, role)
    return est


def _last_step(est):
    """(parameter prefix, estimator) of the step that is fitted last: a Pipeline's last step, or ``est``."""
    from sklearn.pipeline import Pipeline  # scikit-learn, only for distill

    if isinstance(est, Pipeline):
        name, last = est.steps[-1]
        return f"{name}__", last
    return "", est


def sample_weight_key(est) -> str | None:
    """The keyword that passes sample weights to ``est.fit`` (``<step>__sample_weight`` for a Pipeline), or None."""
    from sklearn.utils.validation import has_fit_parameter  # scikit-learn, only for distill

    prefix, last = _last_step(est)
    if last is None or last == "passthrough" or not has_fit_parameter(last, "sample_weight"):
        return None
    return prefix + "sample_weight"


def check_soft(est, spec: ModelSpec, role: str) -> None:
    """Soft labels need ``sample_weight`` and refuse ``early_stopping``."""
    if sample_weight_key(est) is None:
        raise InputError(f"soft labels are fitted through sample weights, and {spec.text} ({type(est).__name__}) "
                         "does not accept sample_weight; use hard labels or another student", role)
    prefix, _ = _last_step(est)
    params = est.get_params() if hasattr(est, "get_params") else {}
    if params.get(prefix + "early_stopping") is True:
        raise InputError(f"{spec.text}: early_stopping cannot be used with soft labels (copies of one input would "
                         "land on both sides of its validation split)", role)


def fit_soft(est, x: np.ndarray, q: np.ndarray):
    """Fit ``est`` on soft labels ``q`` (``(m, C)``): copy ``c`` of input ``j`` (inputs in order, classes in order
    within each) has label ``c`` and weight ``q[j, c]``; copies of weight 0 are dropped; ``batch_size`` times C."""
    m, classes = q.shape
    xr = np.repeat(x, classes, axis=0)
    yr = np.tile(np.arange(classes), m)
    w = q.ravel()
    keep = w > 0
    xr, yr, w = xr[keep], yr[keep], w[keep]
    prefix, _ = _last_step(est)
    params = est.get_params() if hasattr(est, "get_params") else {}
    batch = params.get(prefix + "batch_size")
    if batch is not None and not isinstance(batch, bool):
        base = min(200, m) if batch == "auto" else batch
        if isinstance(base, (int, np.integer)):
            est.set_params(**{prefix + "batch_size": int(min(base * classes, w.size))})
    est.fit(xr, yr, **{sample_weight_key(est): w})
    return est
