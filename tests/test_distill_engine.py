"""engine/distill.py against values computed another way: brute force, exact fractions, by hand."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from kdbound.engine import distill as D
from kdbound.errors import InputError, ParameterError

# --------------------------------------------------------------------------- class counts


def brute_counts(sizes, n):
    """Every integer vector with 1 <= n_c <= N_c summing to n; the one nearest the quotas in squares,
    ties to the vector that gives more to lower classes (lexicographically largest)."""
    total = sum(sizes)
    quota = [Fraction(n * s, total) for s in sizes]
    best = None
    for v in itertools.product(*[range(1, s + 1) for s in sizes]):
        if sum(v) != n:
            continue
        key = (sum((x - q) ** 2 for x, q in zip(v, quota)), tuple(-x for x in v))
        if best is None or key < best[0]:
            best = (key, v)
    return list(best[1])


def hamilton(sizes, n):
    """The textbook largest-remainder method: integer parts, then the largest fractional parts (ties lowest)."""
    total = sum(sizes)
    quota = [Fraction(n * s, total) for s in sizes]
    out = [math.floor(q) for q in quota]
    order = sorted(range(len(sizes)), key=lambda c: (-(quota[c] - out[c]), c))
    for c in order[: n - sum(out)]:
        out[c] += 1
    return out


@pytest.mark.parametrize("sizes", [(2, 2), (2, 3, 4), (5, 5, 5), (2, 2, 9), (3, 7, 2, 4), (2, 2, 2, 11), (6, 3, 3)])
def test_class_counts_match_brute_force(sizes):
    for n in range(len(sizes), sum(sizes)):
        got = D.class_counts(sizes, n).tolist()
        assert got == brute_counts(sizes, n), (sizes, n)
        assert sum(got) == n and all(1 <= g <= s for g, s in zip(got, sizes))


def test_class_counts_are_hamilton_when_every_share_is_at_least_one():
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(400):
        sizes = rng.integers(2, 400, size=rng.integers(2, 12)).tolist()
        n = int(rng.integers(len(sizes), sum(sizes)))
        ham = hamilton(sizes, n)
        if min(ham) >= 1:
            checked += 1
            assert D.class_counts(sizes, n).tolist() == ham, (sizes, n)
    assert checked > 300
    # digits' class sizes at n = 300
    assert D.class_counts([178, 182, 177, 183, 181, 182, 181, 179, 174, 180], 300).tolist() == \
        hamilton([178, 182, 177, 183, 181, 182, 181, 179, 174, 180], 300)


def test_class_counts_refusals():
    with pytest.raises(InputError, match="class 1 has 1 example"):
        D.class_counts([5, 1, 4], 4)
    with pytest.raises(ParameterError, match="number of classes"):
        D.class_counts([5, 5, 5], 2)
    with pytest.raises(ParameterError, match="pool size"):
        D.class_counts([5, 5], 10)


# --------------------------------------------------------------------------- the draw and the seeds


def test_draw_is_stratified_disjoint_and_reproduced_by_a_plain_loop():
    y = np.repeat([0, 1, 2], [20, 30, 50])[np.random.default_rng(1).permutation(100)]
    counts = D.class_counts(np.bincount(y), 17)
    for cap in (None, 40, 1000):
        d = D.draw(y, counts, np.random.default_rng(7), cap)
        rng = np.random.default_rng(7)
        train, rest = [], []
        for c in range(3):
            members = [j for j in range(100) if y[j] == c]
            perm = rng.permutation(np.array(members))
            train += list(perm[: counts[c]])
            rest += list(perm[counts[c]:])
        rest = sorted(rest)
        if cap is not None and cap < len(rest):
            rest = sorted(rng.choice(np.array(rest), size=cap, replace=False))
        assert d.train.tolist() == sorted(train) and d.test.tolist() == rest
        assert np.bincount(y[d.train]).tolist() == counts.tolist()
        assert not set(d.train) & set(d.test)
        assert d.test.size == (83 if cap in (None, 1000) else 40)


def test_run_seeds_are_the_spawned_children():
    for seed, i in [(0, 0), (0, 7), (12345, 3)]:
        child = np.random.SeedSequence(seed).spawn(10)[i]
        d, t, s = child.spawn(3)
        got = D.run_seeds(seed, i)
        assert got.teacher == int(t.generate_state(1, np.uint32)[0])
        assert got.student == int(s.generate_state(1, np.uint32)[0])
        assert got.rng().integers(0, 2 ** 31, 5).tolist() == np.random.default_rng(d).integers(0, 2 ** 31, 5).tolist()
    assert D.run_seeds(0, 1).teacher != D.run_seeds(0, 2).teacher != D.run_seeds(1, 2).teacher


def test_standardize_uses_the_training_statistics_only():
    train = np.array([[1.0, 5.0], [3.0, 5.0]])
    test = np.array([[2.0, 7.0], [100.0, 5.0]])
    a, b = D.standardize(train, test)
    assert a.tolist() == [[-1.0, 0.0], [1.0, 0.0]]
    assert b.tolist() == [[0.0, 2.0], [98.0, 0.0]]  # constant feature: divided by 1


# --------------------------------------------------------------------------- labels and losses


def test_align_maps_classes_and_zero_fills_unseen_ones():
    p = D.align([[0.25, 0.75], [1.0, 0.0]], np.array([1, 3]), 4)
    assert p.tolist() == [[0, 0.25, 0, 0.75], [0, 1.0, 0, 0]]
    with pytest.raises(ValueError, match="class codes"):
        D.align([[0.5, 0.5]], np.array([0, 4]), 4)
    with pytest.raises(ValueError, match="not finite"):
        D.align([[np.nan, 1.0]], np.array([0, 1]), 2)


def test_hard_labels_break_ties_to_the_lowest_class():
    assert D.hard_labels(np.array([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45], [0, 0, 1]])).tolist() == [0, 1, 2]


def test_temper_by_hand():
    p = np.array([[0.64, 0.36, 0.0], [0.5, 0.25, 0.25]])
    q = D.temper(p, 2.0)  # sqrt: 0.8, 0.6 -> 0.8/1.4; 0.7071, 0.5, 0.5
    assert q[0] == pytest.approx([0.8 / 1.4, 0.6 / 1.4, 0.0], abs=1e-15)
    r = math.sqrt(0.5)
    assert q[1] == pytest.approx([r / (r + 1), 0.5 / (r + 1), 0.5 / (r + 1)], abs=1e-15)
    assert q[0, 2] == 0.0  # p = 0 stays 0
    assert D.temper(p, 1.0) == pytest.approx(p, abs=1e-15)
    assert D.temper(p, 0.5)[0] == pytest.approx([0.64 ** 2 / (0.64 ** 2 + 0.36 ** 2), 0.36 ** 2 / (0.64 ** 2 + 0.36 ** 2), 0])
    for bad in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ParameterError, match="temperature"):
            D.temper(p, bad)


P = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]])
Y = np.array([0, 1, 1])


def test_zero_one_by_hand():
    # argmax: 0, 2, 0 (tie to the lowest) -> wrong on rows 2 and 3
    assert D.mean_loss(P, Y, "zero-one") == pytest.approx(2 / 3)
    assert D.label_losses(P, "zero-one").tolist() == [[0, 1, 1], [1, 1, 0], [0, 1, 1]]


def test_brier_by_hand_and_not_halved():
    rows = [(0.3 ** 2 + 0.2 ** 2 + 0.1 ** 2), (0.3 ** 2 + 0.7 ** 2 + 0.4 ** 2), (0.5 ** 2 + 0.5 ** 2 + 0)]
    assert D.mean_loss(P, Y, "brier") == pytest.approx(sum(rows) / 3, abs=1e-15)
    # binary: sum over both classes = 2 (p - y)^2, twice scikit-learn's brier_score_loss
    p1 = np.array([0.9, 0.2, 0.6])
    y = np.array([1, 0, 0])
    two = np.column_stack([1 - p1, p1])
    expected = np.mean(2 * (p1 - y) ** 2)
    assert D.mean_loss(two, y, "brier") == pytest.approx(expected, abs=1e-15)
    from sklearn.metrics import brier_score_loss

    assert D.mean_loss(two, y, "brier") == pytest.approx(2 * brier_score_loss(y, p1), abs=1e-15)
    assert D.loss_range("brier") == (0.0, 2.0)
    worst = np.array([[0.0, 1.0]])
    assert D.mean_loss(worst, np.array([0]), "brier") == 2.0


def test_clipped_log_by_hand():
    eps = 1e-4
    expected = (-math.log(0.7) - math.log(0.3) - math.log(0.5)) / 3
    assert D.mean_loss(P, Y, "log", eps) == pytest.approx(expected, abs=1e-15)
    # p = 0 is clipped at eps: the loss is ln(1/eps), the top of its range
    assert D.mean_loss(P[2:], np.array([2]), "log", eps) == pytest.approx(math.log(1e4), abs=1e-12)
    assert D.loss_range("log", eps) == (0.0, pytest.approx(9.210340371976182))
    assert D.loss_range("log", 0.01)[1] == pytest.approx(math.log(100))
    with pytest.raises(ParameterError, match="log_clip"):
        D.loss_range("log", 0.0)


def test_weighted_loss_by_hand():
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.25, 0.25, 0.5]])
    # zero-one: argmax 0, 2, 0: row losses 0.5*0 + 0.5*1, 0, 0.25*0 + 0.25*1 + 0.5*1
    assert D.weighted_loss(P, q, "zero-one") == pytest.approx((0.5 + 0 + 0.75) / 3)
    # irreducible part: at least 1 - max q
    assert D.weighted_loss(P, q, "zero-one") >= np.mean(1 - q.max(axis=1))
    b = D.label_losses(P, "brier")
    assert b[0, 1] == pytest.approx(0.7 ** 2 + 0.8 ** 2 + 0.1 ** 2)
    assert D.weighted_loss(P, q, "brier") == pytest.approx(np.mean((q * b).sum(axis=1)))
    # one-hot q is the hard-label loss
    onehot = np.eye(3)[Y]
    for loss in D.LOSSES:
        assert D.weighted_loss(P, onehot, loss) == pytest.approx(D.mean_loss(P, Y, loss), abs=1e-15)


def test_gap_row_and_pool_digest():
    row = D.gap_row("student", 4, 9, 0.125, 0.5, 1000, (0.0, 1.0), 0.5, True, "mlp:64", "logistic")
    assert row.gap == 0.375 and row.values()[0] == "student" and len(row.values()) == len(D.ROW_COLUMNS)
    x, y = np.arange(6.0).reshape(3, 2), np.array([0, 1, 1])
    a = D.make_pool(x, y, ("a", "b"), ("f", "g"))
    assert a.digest == D.make_pool(x.copy(), y.copy(), ("a", "b"), ("f", "g")).digest
    x2 = x.copy()
    x2[2, 1] = np.nextafter(x2[2, 1], 9)
    assert a.digest != D.make_pool(x2, y, ("a", "b"), ("f", "g")).digest
    assert a.digest != D.make_pool(x, y, ("a", "c"), ("f", "g")).digest
    with pytest.raises(InputError, match="feature 'g', row 2: must be finite"):
        D.make_pool(np.array([[0, 1], [0, np.inf]]), np.array([0, 1]), ("a", "b"), ("f", "g"))


@pytest.mark.parametrize("t", [1e-300, 3e-309, 5e-324])
def test_temper_at_a_tiny_temperature_is_the_argmax(t):
    """ln p / T overflowed to -inf for every class (nan rows, then a runs file kdbound refused)."""
    p = np.array([[0.64, 0.36, 0.0], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    with np.errstate(invalid="raise", divide="raise"):  # no nan, no division by zero
        q = D.temper(p, t)
    assert q.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]]


@pytest.mark.parametrize("proba, words", [
    ([[1.5, -0.5, 0.0]], "outside [0, 1]"),
    ([[0.5, 0.4, 0.0]], "do not sum to 1"),
])
def test_align_refuses_probabilities_that_are_not(proba, words):
    """A factory's predict_proba with columns 1.5, -0.5 wrote a Brier loss of 2.87 in a file of range [0, 2]."""
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        D.align(np.array(proba), np.array([0, 1, 2]), 3)
