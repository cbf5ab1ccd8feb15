"""Floating-point safety for the engine: the helpers every formula is written with.

**The guarantee.** For finite inputs whose true result is a finite float64, each helper
returns a finite value equal to the true one to a small relative error: a finite true value
comes out finite and correct.  No intermediate product, quotient, square or sum overflows or
underflows on the way when the result itself does not, and no difference cancels beyond the
stated accuracy (about 1e-12 relative at worst, for products evaluated through logarithms;
most helpers are within a few units in the last place).  A true result beyond float64 comes
back as inf (or 0 below its range), never as a warning (under :func:`quiet_fp`); an
undefined one as NaN.  The engine's formulas then read like the paper's:
``plus_product(gen_t, [sigma, root_2k(kl)])`` is ``gen_T + sigma sqrt(2K)``.

* products and quotients: :func:`prod_ratio`, with :func:`root_2k` (sqrt(2K)) and
  :func:`half_factors` ((b - a) / 2 as two factors) to feed it;
* sums whose terms may exceed float64 on their own: :func:`rescaled`, :func:`plus_product`;
* the kernels ``x - ln(1 + x)`` and ``r - 1 - ln r`` of Gaussian KL divergences:
  :func:`xm_log1p`, :func:`xm_log`;
* statistics of values anywhere in float64's range: :func:`pow2_scale`, :func:`scaled_sd`,
  :func:`linear_se`;
* :func:`quiet_fp`, the decorator under which the rest returns inf/NaN silently.

Pure numpy; no scipy (the scalar bound commands import this module at start-up).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["quiet_fp", "SQRT2", "root_2k", "prod_ratio", "rescaled", "plus_product", "half_range",
           "half_factors", "xm_log1p", "xm_log", "pow2_scale", "scaled_sd", "linear_se"]


def quiet_fp(func):
    """Decorator: inside ``func`` overflow and undefined operations give inf/NaN, not numpy warnings.

    Engine functions report such values (the CLI prints null with a note), so
    the warning would only be noise.  A fresh ``np.errstate`` per call keeps
    nested and concurrent calls independent.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return func(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- products

SQRT2 = float(np.sqrt(2.0))
_TINY = np.finfo(np.float64).tiny  # the smallest normal float64


def root_2k(kl):
    """sqrt(2K), the factor of Theorem 1's slack sigma sqrt(2K).

    One rounding where 2K is a float (sqrt(2 * 0.5) is 1 exactly; sqrt(2) sqrt(0.5) is not),
    sqrt(2) sqrt(K) where 2K overflows.

    Parameters
    ----------
    kl : array_like
        K >= 0.

    Returns
    -------
    ndarray
    """
    kl = np.asarray(kl, dtype=np.float64)
    with np.errstate(over="ignore"):
        two = 2.0 * kl
    return np.where(np.isfinite(two), np.sqrt(np.where(np.isfinite(two), two, 0.0)), SQRT2 * np.sqrt(kl))


def _log(x):
    return np.log(np.abs(x))


def prod_ratio(num, den=()):
    """``prod(num) / prod(den)`` for non-negative factors, without intermediate overflow or underflow.

    The direct product is used where it is finite and not spuriously zero;
    elsewhere the value comes from the sum of logarithms.  A result that is
    itself beyond float64 is inf (or 0), as it should be.

    Parameters
    ----------
    num, den : sequence of array_like
        Factors of the numerator and the denominator (>= 0; broadcast together).

    Returns
    -------
    ndarray
    """
    direct = np.ones(())
    dipped = np.zeros((), dtype=bool)  # a partial product in the subnormal range has lost digits
    for x in num:
        direct = direct * x
        dipped = dipped | ((np.abs(direct) < _TINY) & (direct != 0))
    for x in den:
        direct = direct / x
        dipped = dipped | ((np.abs(direct) < _TINY) & (direct != 0))
    logs = sum((_log(x) for x in num), np.zeros(())) - sum((_log(x) for x in den), np.zeros(()))
    nonzero = np.ones((), dtype=bool)
    for x in num:
        nonzero = nonzero & (np.asarray(x) != 0)
    spoiled = ~np.isfinite(direct) | ((direct == 0) & nonzero) | dipped
    value = np.where(spoiled & nonzero & np.isfinite(logs), np.exp(logs), direct)
    # a zero factor among finite ones makes the product 0, even where the others overflowed first (inf * 0)
    finite = np.ones((), dtype=bool)
    for x in (*num, *den):
        finite = finite & np.isfinite(x)
    return np.where(~nonzero & finite, 0.0, value)


def half_range(a, b):
    """(b - a) / 2 without overflow for a range as wide as float64 allows."""
    return 0.5 * b - 0.5 * a


def half_factors(a, b):
    """Two factors whose product is (b - a) / 2, for :func:`prod_ratio`: ``0.5`` and ``b - a`` where the width
    is finite (halving a subnormal width first would lose it), else ``1`` and the halves' difference."""
    width = b - a
    ok = np.isfinite(width)
    return np.where(ok, 0.5, 1.0), np.where(ok, width, half_range(a, b))


# --------------------------------------------------------------------------- sums

_SCALES = (2.0 ** -8, 2.0 ** -128)


def rescaled(total):
    """``total(1)``, or ``total(c) / c`` for the first of c = 2^-8, 2^-128 that is finite.

    ``total(c)`` is a sum of terms each multiplied by c (inside their products): a term
    alone may exceed float64 while the sum does not (``-1e308 + 2e308``); scaling by a
    power of two is exact, so the scaled form loses nothing.

    Parameters
    ----------
    total : callable
        ``total(c)``: the sum with every term scaled by c.

    Returns
    -------
    ndarray
    """
    value = total(1.0)
    for c in _SCALES:
        if np.all(np.isfinite(value)):
            break
        value = np.where(np.isfinite(value), value, total(c) / c)
    return value


def plus_product(a, num, den=(), sign=1.0):
    """``a + sign prod(num) / prod(den)``, finite whenever the true value is (see :func:`rescaled`).

    Parameters
    ----------
    a : array_like
        The term added to.
    num, den : sequence of array_like
        Factors of the product (>= 0), as for :func:`prod_ratio`.
    sign : float
        +1 or -1.

    Returns
    -------
    ndarray
    """
    return rescaled(lambda c: c * a + sign * prod_ratio([c, *num], den))


# --------------------------------------------------------------------------- logarithmic kernels

def xm_log1p(x, log1p_x=None):
    """``x - ln(1 + x)`` for x > -1, accurate also for small |x| (no cancellation); >= 0.

    For |x| < 1e-3 a series; elsewhere ``x - log1p(x)``, or ``x - log1p_x`` when the caller
    has ``ln(1 + x)`` in a better form (a difference of logarithms, say, where 1 + x underflows).
    Just above the series range the difference still cancels by a factor of about ``2 / |x|``:
    the relative error peaks near 1e-13 at |x| = 1e-3 and falls as |x| grows.

    Parameters
    ----------
    x : array_like
        x > -1.
    log1p_x : array_like, optional
        ``ln(1 + x)``, where the caller has it.

    Returns
    -------
    ndarray
    """
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < 1e-3
    xs = np.where(small, x, 0.0)
    # x^2/2 - x^3/3 + x^4/4 - x^5/5 + x^6/6: relative error < 1e-15 for |x| < 1e-3
    series = xs * xs * (0.5 - xs * (1 / 3 - xs * (0.25 - xs * (0.2 - xs / 6))))
    if log1p_x is not None:
        return np.where(small, series, x - log1p_x)
    xl = np.where(small, 1.0, x)
    return np.where(small, series, xl - np.log1p(xl))


def xm_log(r, log_r=None):
    """``r - 1 - ln r`` for a ratio r > 0 (the KL kernel of a variance ratio), >= 0.

    Near r = 1 through :func:`xm_log1p`; elsewhere with ``ln r`` taken directly, so a tiny r, where
    ``r - 1`` rounds to -1 and ``log1p(r - 1)`` would be -inf, keeps its finite value.  Where r
    itself has left the normal range (underflowed to a subnormal or 0, or overflowed), ``log_r``,
    e.g. a difference of logarithms, stands in for ``ln r``.

    Parameters
    ----------
    r : array_like
        r > 0.
    log_r : array_like, optional
        ``ln r``, used where r is not a normal float.

    Returns
    -------
    ndarray
    """
    r = np.asarray(r, dtype=np.float64)
    normal = np.isfinite(r) & (r >= np.finfo(np.float64).tiny)
    ln_r = np.log(np.where(normal, r, 1.0))
    if log_r is not None:
        ln_r = np.where(normal, ln_r, log_r)
    near = np.abs(r - 1.0) < 1e-3
    return np.where(near, xm_log1p(np.where(near, r - 1.0, 0.0)), (r - 1.0) - ln_r)


# --------------------------------------------------------------------------- statistics

def pow2_scale(*arrays: np.ndarray, axis=None) -> np.ndarray:
    """A power of two near the largest magnitude (1 for all zeros): dividing by it is exact and keeps
    squares and differences of the values from overflowing (or underflowing, for subnormal values).

    Parameters
    ----------
    *arrays : ndarray
        The values (their largest magnitude, together).
    axis : int, optional
        One scale per slice along the other axes.

    Returns
    -------
    ndarray
    """
    top = np.max([np.max(np.abs(a), axis=axis) for a in arrays], axis=0)
    top = np.where((top > 0) & np.isfinite(top), top, 1.0)
    return np.ldexp(1.0, np.frexp(top)[1] - 1)


def scaled_sd(arr: np.ndarray) -> float:
    """Sample standard deviation (ddof 1); exactly 0 when every value is the same (not a rounding residue).

    Computed on the values divided by their largest magnitude, so that the squares neither overflow
    (values near 1e300) nor underflow (subnormal values); the true value is finite whenever the values are.

    Parameters
    ----------
    arr : ndarray, 1-D
        At least two finite values.

    Returns
    -------
    float
    """
    if arr.min() == arr.max():
        return 0.0
    scale = float(np.max(np.abs(arr)))
    return scale * float((arr / scale).std(ddof=1))


def linear_se(c: np.ndarray, cov: np.ndarray, count: int) -> float:
    """``sqrt(c' cov c / count)``, the standard error of the combination ``c`` of ``count``-sample means with
    covariance ``cov``; ``c`` is divided by its largest entry first (a huge ``c`` cannot overflow it), inf when
    an entry of ``c`` is.

    Parameters
    ----------
    c : ndarray, 1-D
        Coefficients (not all 0).
    cov : ndarray, 2-D
        Covariance of one sample.
    count : int
        Samples per mean.

    Returns
    -------
    float
    """
    top = float(np.max(np.abs(c)))
    if not math.isfinite(top):
        return math.inf
    u = c / top
    return top * math.sqrt(max(float(u @ cov @ u), 0.0) / count)
