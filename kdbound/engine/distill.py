"""The distillation experiment's numbers: the stratified draw, the seeds, the labels and the bounded losses.

Theorem 1 compares two processes on the same training set ``D_n``: the teacher
fitted on ``D_n``, and the student fitted on ``D^_n``, the inputs of ``D_n``
labelled by the teacher.  On a finite pool of labelled examples
``(x_j, y_j), j = 1..N`` with classes ``0..C-1``, run ``i`` of the experiment is

* teacher row: ``h_T = L_H(f_T; y) - L_{D_n}(f_T; y)``;
* student row: ``h_S = L_H(f_S; y) - L_{D^_n}(f_S; teacher labels)``,

where ``H`` is the held-out rest of the pool (optionally a random subset of it).
Both rows share the run index as their dataset id: the paired design of
``kdbound estimate``.  The held-out loss with real labels estimates the
population loss, and with a loss in ``[a, b]`` each row's ``n_test = |H|`` gives
Hoeffding's test-set term, so ``sigma = b - a`` is a certified sub-Gaussian
proxy for the gap (Hoeffding's lemma).

This module is pure numpy: it fits no model.  It decides every number that
does not come out of a model's ``predict_proba``, exactly, so that an
independent loop can reproduce a run bit for bit:

* :func:`class_counts`: the per-class training counts (largest remainder, at
  least one per class);
* :func:`draw`: the stratified draw of ``D_n`` and ``H`` from a numpy Generator;
* :func:`run_seeds`: the draw's generator and the models' ``random_state`` of run ``i``;
* :func:`align`, :func:`hard_labels`, :func:`temper`: probabilities in the pool's
  class order, the hard and the soft (tempered) teacher labels;
* :func:`label_losses`, :func:`mean_loss`, :func:`weighted_loss`: the bounded
  losses (zero-one, Brier, clipped log) with real, hard or soft labels;
* :func:`standardize`: features scaled with the training set's statistics only;
* :class:`GapRow` and :func:`gap_row`: one row of the runs table.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, ParameterError

#: the bounded losses, by name
LOSSES = ("zero-one", "brier", "log")
#: the default clip of the log loss: -ln max(p, eps) lies in [0, ln(1/eps)] = [0, 9.21]
DEFAULT_LOG_CLIP = 1e-4
#: the teacher's labels
LABELS = ("hard", "soft")
#: the roles of a run's two rows, in the order they are written
ROLES = ("teacher", "student")


# --------------------------------------------------------------------------- the pool

@dataclass(frozen=True, eq=False)
class Pool:
    """The labelled examples every run draws from.

    ``x`` is an ``(N, d)`` float64 array, ``y`` the class codes ``0..C-1``
    (int64, class ``c`` being ``classes[c]``), ``features`` the column names.
    ``digest`` identifies the content (:func:`pool_digest`): runs drawn from
    one pool estimate the law of the gap conditional on it.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    features: tuple[str, ...]
    digest: str

    @property
    def size(self) -> int:
        return int(self.y.size)

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def pool_digest(x: np.ndarray, y: np.ndarray, classes) -> str:
    """``sha256:<hex>`` of the pool's shape, features (float64), class codes (int64) and class names."""
    h = hashlib.sha256(b"kdbound-pool-1\0")
    x = np.ascontiguousarray(x, dtype=np.float64)
    h.update(repr(x.shape).encode())
    h.update(x.tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    h.update("\0".join(map(str, classes)).encode())
    return "sha256:" + h.hexdigest()


def make_pool(x, y, classes, features) -> Pool:
    """A :class:`Pool` from features and class codes, checked: 2-D finite features, codes in ``0..C-1``."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.size:
        raise InputError(f"features of shape {x.shape} and targets of shape {y.shape} do not match", "data")
    if x.shape[1] == 0:
        raise InputError("there are no feature columns", "data")
    if not np.all(np.isfinite(x)):
        row, col = (int(v) for v in np.argwhere(~np.isfinite(x))[0])
        raise InputError(f"feature {features[col]!r}, row {row + 1}: must be finite (got {x[row, col]!r})", "data")
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise InputError("class codes must lie in 0..C-1", "data")
    return Pool(x, y, tuple(map(str, classes)), tuple(map(str, features)), pool_digest(x, y, classes))


# --------------------------------------------------------------------------- the draw

def class_counts(sizes, n: int) -> np.ndarray:
    """Training examples per class: the largest-remainder shares of ``n``, each at least 1.

    Class ``c`` has ``N_c = sizes[c]`` examples of ``N = sum(sizes)``, and quota
    ``q_c = n N_c / N``.  Every class gets one example; the other ``n - C`` go
    one at a time to the class furthest below its quota (largest ``q_c - n_c``,
    ties to the lowest class).  When every class's quota share is at least one
    this is exactly Hamilton's largest-remainder method (integer parts, then
    the largest fractional parts, ties to the lowest class); otherwise it is the
    integer vector nearest the quotas (least squares) with every ``n_c >= 1``.
    Computed in exact integer arithmetic (``N q_c - N n_c``).

    Raises
    ------
    ParameterError
        ``n`` below the number of classes, or not below ``N``.
    InputError
        A class with fewer than 2 examples (it could not be in both ``D_n`` and ``H``).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total, classes = int(sizes.sum()), sizes.size
    small = np.flatnonzero(sizes < 2)
    if small.size:
        raise InputError(f"class {int(small[0])} has {int(sizes[small[0]])} example(s); every class needs at "
                         "least 2 (one to train on, one held out)", "data")
    if n < classes:
        raise ParameterError("n", f"must be >= the number of classes ({classes}): each class needs a training example",
                             n)
    if n >= total:
        raise ParameterError("n", f"must be < the pool size ({total})", n)
    # candidate extra units: class c's k-th (k = 1 .. ceil(q_c) - 1) has priority N (q_c - k) = n N_c - k N > 0;
    # at least n - C of them exist (sum ceil(q_c) >= n), so the top n - C by (priority, lowest class) are the greedy's
    ceil_q = -(-n * sizes // total)
    extra = np.maximum(ceil_q - 1, 0)
    cls = np.repeat(np.arange(classes), extra)
    k = np.arange(cls.size) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    priority = n * sizes[cls] - k * total
    chosen = np.lexsort((cls, -priority))[: n - classes]
    return 1 + np.bincount(cls[chosen], minlength=classes)


@dataclass(frozen=True, eq=False)
class Draw:
    """One run's training indices ``train`` (``D_n``) and held-out indices ``test`` (``H``), each ascending."""

    train: np.ndarray
    test: np.ndarray


def draw(y: np.ndarray, counts: np.ndarray, rng: np.random.Generator, test_size: int | None = None) -> Draw:
    """The stratified draw of ``D_n`` (``counts[c]`` examples of class ``c``) and the held-out set ``H``.

    For each class ``c = 0, 1, ...`` in turn, ``rng.permutation`` of its pool
    indices (ascending) gives the first ``counts[c]`` to ``D_n`` and the rest
    to ``H``.  With ``test_size`` below ``|H|``, ``H`` is then replaced by
    ``rng.choice(H, test_size, replace=False)``.  Both index sets are returned
    sorted, so a model sees its examples in pool order.  Fixed class counts
    remove the count variance of a simple random draw: the gaps' spread (hence
    ``K_h`` and ``sigma_sd``) belongs to this stratified design.
    """
    train, rest = [], []
    for c, count in enumerate(counts):
        perm = rng.permutation(np.flatnonzero(y == c))
        train.append(perm[:count])
        rest.append(perm[count:])
    held = np.sort(np.concatenate(rest))
    if test_size is not None and test_size < held.size:
        held = np.sort(rng.choice(held, size=test_size, replace=False))
    return Draw(np.sort(np.concatenate(train)), held)


@dataclass(frozen=True)
class RunSeeds:
    """Run ``index``'s randomness: the draw's seed sequence and the two models' ``random_state``."""

    index: int
    draw: np.random.SeedSequence
    teacher: int
    student: int

    def rng(self) -> np.random.Generator:
        """A fresh generator for the draw (``numpy.random.default_rng`` of the draw's child)."""
        return np.random.default_rng(self.draw)


def random_state(child: np.random.SeedSequence) -> int:
    """A model's ``random_state`` from a seed sequence: its first 32-bit word."""
    return int(child.generate_state(1, np.uint32)[0])


def run_seeds(seed: int, index: int) -> RunSeeds:
    """``SeedSequence(seed, spawn_key=(index,))`` (equal to ``SeedSequence(seed).spawn(R)[index]``) spawns
    three children: the draw, the teacher and the student.  A run's numbers depend on ``seed`` and
    ``index`` alone, never on which process ran it or when; and more runs extend the same sequence."""
    parent = np.random.SeedSequence(seed, spawn_key=(index,))
    d, t, s = parent.spawn(3)
    return RunSeeds(index, d, random_state(t), random_state(s))


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled by the training set's mean and standard deviation (ddof 0; a constant feature by 1).

    The held-out set never informs the scaling: it stays an independent sample.
    """
    mean = train.mean(axis=0)
    sd = train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mean) / sd, (test - mean) / sd


# --------------------------------------------------------------------------- labels

def align(proba, model_classes, n_classes: int) -> np.ndarray:
    """A model's ``predict_proba`` as an ``(m, C)`` array in the pool's class order.

    Column ``j`` of ``proba`` is the probability of class code ``model_classes[j]``;
    a class the model never saw (a hard-label student sees only the classes its
    teacher predicts) gets probability 0.
    """
    proba = np.asarray(proba, dtype=np.float64)
    codes = np.asarray(model_classes)
    if proba.ndim != 2 or proba.shape[1] != codes.size:
        raise ValueError(f"predict_proba gave shape {proba.shape} for {codes.size} classes_")
    if codes.dtype.kind not in "iu" or (codes.size and (codes.min() < 0 or codes.max() >= n_classes)) \
            or np.unique(codes).size != codes.size:
        raise ValueError(f"classes_ {codes.tolist()[:10]} are not distinct class codes 0..{n_classes - 1}")
    if not np.all(np.isfinite(proba)):
        raise ValueError("predict_proba returned values that are not finite")
    if proba.size and (proba.min() < 0.0 or proba.max() > 1.0 + 1e-9):
        raise ValueError(f"predict_proba returned values outside [0, 1] (from {proba.min():.6g} to {proba.max():.6g})")
    sums = proba.sum(axis=1)
    if sums.size and np.abs(sums - 1.0).max() > 1e-6:
        worst = float(sums[np.argmax(np.abs(sums - 1.0))])
        raise ValueError(f"predict_proba returned rows that do not sum to 1 (one sums to {worst:.6g})")
    out = np.zeros((proba.shape[0], n_classes))
    out[:, codes] = np.minimum(proba, 1.0)
    return out


def hard_labels(p: np.ndarray) -> np.ndarray:
    """``argmax_c p(c | x)`` per row, ties to the lowest class (``predict`` is never called)."""
    return np.argmax(p, axis=1)


def temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Soft labels ``q = softmax(ln p / T)``: ``p^(1/T)`` renormalised, computed as ``ln p / T`` minus its row
    maximum; ``p = 0`` stays 0.  ``T = 1`` returns ``p`` renormalised; ``T > 1`` flattens, ``T < 1`` sharpens."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ParameterError("temperature", "must be > 0", temperature)
    positive = p > 0
    logs = np.full(p.shape, -np.inf)
    np.log(p, where=positive, out=logs)
    # the row maximum taken out before dividing by T: (ln p - max ln p) / T is 0 at the maximum and
    # -inf where a tiny T overflows it, never -inf - -inf (ln p / T itself overflows for T ~ 1e-309)
    with np.errstate(over="ignore"):
        z = (logs - logs.max(axis=1, keepdims=True)) / temperature
    e = np.where(positive, np.exp(z), 0.0)
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- losses

def loss_range(loss: str, log_clip: float = DEFAULT_LOG_CLIP) -> tuple[float, float]:
    """``(a, b)``: zero-one in [0, 1], Brier in [0, 2], clipped log in [0, ln(1/eps)]."""
    if loss == "zero-one":
        return 0.0, 1.0
    if loss == "brier":
        return 0.0, 2.0
    if loss == "log":
        return 0.0, -math.log(check_log_clip(log_clip))
    raise ParameterError("loss", f"must be one of {', '.join(LOSSES)}", loss)


def check_log_clip(eps) -> float:
    """The log loss's clip: a number in (0, 1)."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0.0 < float(eps) < 1.0):
        raise ParameterError("log_clip", "must lie in (0, 1)", eps)
    return float(eps)


def label_losses(p: np.ndarray, loss: str, log_clip: float = DEFAULT_LOG_CLIP) -> np.ndarray:
    """The ``(m, C)`` array of ``l(p(. | x_j), c)``: each example's loss were its label ``c``.

    * zero-one: ``1[argmax_k p(k | x) != c]`` (ties to the lowest class), in [0, 1];
    * Brier: ``sum_k (p(k | x) - 1[k = c])^2``, in [0, 2] (not halved in the binary case,
      unlike scikit-learn's ``brier_score_loss``);
    * log: ``-ln max(p(c | x), eps)``, in [0, ln(1/eps)].
    """
    m, classes = p.shape
    if loss == "zero-one":
        return (hard_labels(p)[:, None] != np.arange(classes)[None, :]).astype(np.float64)
    if loss == "brier":
        return np.square(p[:, None, :] - np.eye(classes)[None, :, :]).sum(axis=2)
    if loss == "log":
        return -np.log(np.maximum(p, check_log_clip(log_clip)))
    raise ParameterError("loss", f"must be one of {', '.join(LOSSES)}", loss)


def mean_loss(p: np.ndarray, labels: np.ndarray, loss: str, log_clip: float = DEFAULT_LOG_CLIP) -> float:
    """The mean loss over examples with labels ``labels`` (class codes): real labels or the teacher's hard ones."""
    table = label_losses(p, loss, log_clip)
    return float(table[np.arange(labels.size), labels].mean())


def weighted_loss(p: np.ndarray, q: np.ndarray, loss: str, log_clip: float = DEFAULT_LOG_CLIP) -> float:
    """The q-weighted mean loss ``mean_j sum_c q(c | x_j) l(p(. | x_j), c)``: the student's train loss on soft labels.

    It has an irreducible part (at least ``1 - max_c q(c | x)`` for zero-one), which
    pushes the student's gap down when the temperature flattens ``q``.
    """
    return float((q * label_losses(p, loss, log_clip)).sum(axis=1).mean())


def accuracy(p: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of examples whose ``argmax`` class (ties to the lowest) is the label."""
    return float(np.mean(hard_labels(p) == labels))


# --------------------------------------------------------------------------- rows

#: the columns of a runs file, in order (``kdbound estimate``'s runs format, then the experiment's)
ROW_COLUMNS = ("role", "train_loss", "test_loss", "gap", "dataset", "seed", "n_test", "loss_min", "loss_max",
               "test_accuracy", "converged", "teacher", "student")


@dataclass(frozen=True)
class GapRow:
    """One row of the runs table: a model's losses in run ``dataset`` of an experiment seeded ``seed``.

    ``gap = test_loss - train_loss``; ``train_loss`` is on the real labels for the
    teacher and on the teacher's labels (q-weighted when soft) for the student;
    ``test_loss`` and ``test_accuracy`` are on the held-out set's real labels
    (``n_test`` examples); ``[loss_min, loss_max]`` is the loss's range, so that
    ``sigma = loss_max - loss_min`` is certified; ``converged`` is false when the
    model's fit warned that it did not converge.  ``teacher`` and ``student`` are
    the two model specs of the experiment (the same in both rows of a run).
    """

    role: str
    train_loss: float
    test_loss: float
    gap: float
    dataset: int
    seed: int
    n_test: int
    loss_min: float
    loss_max: float
    test_accuracy: float
    converged: bool
    teacher: str
    student: str

    def values(self) -> tuple:
        """The row's cells in :data:`ROW_COLUMNS` order."""
        return tuple(getattr(self, name) for name in ROW_COLUMNS)


def gap_row(role: str, index: int, seed: int, train_loss: float, test_loss: float, n_test: int,
            bounds: tuple[float, float], test_accuracy: float, converged: bool, teacher: str, student: str) -> GapRow:
    """A :class:`GapRow` with ``gap = test_loss - train_loss``."""
    if role not in ROLES:
        raise ParameterError("role", "must be teacher or student", role)
    return GapRow(role, float(train_loss), float(test_loss), float(test_loss) - float(train_loss), int(index),
                  int(seed), int(n_test), float(bounds[0]), float(bounds[1]), float(test_accuracy), bool(converged),
                  teacher, student)
