"""Solve a bound for one unknown parameter, in the style of statsmodels' ``solve_power``.

One generic mechanism serves every command: a model's closed form when it has
one for that unknown, otherwise an exact bisection on the ordered bit patterns
of float64 (at most 64 vectorised steps, ending on adjacent floats).  Either
way the answer is checked by re-evaluating the bound, integer unknowns (n) are
rounded to the nearest integer on the side that meets the target, and rows
with no solution break the rule "no value meets the target" through the same
validation mechanism as any other input (so batches can skip or null them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, NoSolutionError
from ._checks import collect_violations, finite, quiet_fp, require, scalar_or_array
from .specs import BoundSpec

BIG = 1e300
# search interval of each unknown; anything else ranges over [0, BIG]
DOMAINS = {
    "gen_t": (-BIG, BIG),
    "c": (np.nextafter(0.0, 1.0), 1.0),
    "eta": (np.nextafter(0.0, 1.0), BIG),
    "rho": (np.nextafter(0.0, 1.0), BIG),
    "n": (1.0, BIG),
    "dim": (1.0, BIG),
    "sharpness": (-BIG, BIG),
}


@dataclass(frozen=True, eq=False)
class Solution:
    """The unknown's value and the model's results re-evaluated there."""

    param: str
    value: np.ndarray
    results: dict
    method: str  # "closed form" or "bisection"


_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_SIGN = np.int64(-(2**63))


def _key(x: np.ndarray) -> np.ndarray:
    """float64 -> int64 preserving order: negative floats map to ~magnitude (no overflow)."""
    bits = np.asarray(x, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, ~(bits & _MAG), bits)  # -0.0 -> -1, 0.0 -> 0


def _unkey(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64)
    return np.where(k < 0, (~k) | _SIGN, k).view(np.float64)


def _meets(model: BoundSpec, values: dict, unknown: str, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Whether the bound at ``unknown = x`` meets the target; invalid points do not."""
    with collect_violations() as found:
        bound = np.asarray(model.evaluate({**values, unknown: x})["bound"], dtype=float)
    ok = bound <= target if model.target_sense == "at_most" else bound >= target
    ok = ok & np.isfinite(bound)
    for v in found:
        ok = ok & ~np.broadcast_to(v.mask, ok.shape)
    return ok


def _bisect(model: BoundSpec, values: dict, unknown: str, target: np.ndarray, shape) -> np.ndarray:
    lo_x, hi_x = DOMAINS.get(unknown, (0.0, BIG))
    lo = np.broadcast_to(_key(np.float64(lo_x)), shape).copy()
    hi = np.broadcast_to(_key(np.float64(hi_x)), shape).copy()
    m_lo = _meets(model, values, unknown, _unkey(lo), target)
    m_hi = _meets(model, values, unknown, _unkey(hi), target)
    found = m_lo != m_hi
    for _ in range(70):
        live = found & (lo + 1 < hi)
        if not live.any():
            break
        mid = lo // 2 + hi // 2 + (lo % 2 + hi % 2) // 2  # no int64 overflow across zero
        m_mid = _meets(model, values, unknown, _unkey(mid), target)
        go_hi = live & (m_mid == m_lo)   # boundary lies above mid
        go_lo = live & ~go_hi
        lo = np.where(go_hi, mid, lo)
        hi = np.where(go_lo, mid, hi)
    # the float on the meeting side of the boundary
    x = np.where(m_lo, _unkey(lo), _unkey(hi))
    return np.where(found, x, np.nan)


def _round_integer(model, values, unknown, x, target):
    """Nearest integer on the meeting side: smallest meeting n if meeting lies above, else largest."""
    base = np.ceil(np.where(np.isfinite(x), x, 1.0))
    cands = [np.maximum(base + d, 1.0) for d in (-1.0, 0.0, 1.0)]
    meets = [_meets(model, values, unknown, c, target) for c in cands]
    above = meets[2]  # meeting side is above the boundary when the largest candidate meets
    smallest = np.where(meets[0], cands[0], np.where(meets[1], cands[1], cands[2]))
    largest = np.where(meets[2], cands[2], np.where(meets[1], cands[1], cands[0]))
    out = np.where(above, smallest, largest)
    ok = meets[0] | meets[1] | meets[2]
    return np.where(np.isfinite(x) & ok, out, np.nan)


def _polish(model, values, unknown, x, target):
    """The nearest float (within 4 ulps) that meets the target, where rounding left a closed form outside."""
    ok = ~np.isfinite(x) | _meets(model, values, unknown, x, target)
    down, up = x.copy(), x.copy()
    for _ in range(4):
        if ok.all():
            break
        down, up = np.nextafter(down, -np.inf), np.nextafter(up, np.inf)
        for cand in (down, up):
            better = ~ok & _meets(model, values, unknown, cand, target)
            x = np.where(better, cand, x)
            ok = ok | better
    return x


@quiet_fp
def solve(model: BoundSpec, values: dict, unknown: str, target) -> Solution:
    """The value of ``unknown`` at which a bound meets ``target``.

    One mechanism for every bound, in the style of statsmodels' ``solve_power``:
    the bound's closed form when it has one for this unknown, otherwise an
    exact bisection on the ordered bit patterns of float64.

    Parameters
    ----------
    model : BoundSpec
        The bound, e.g. ``BOUND_SPECS["upper"]``.
    values : mapping
        The other parameters (scalars or broadcastable arrays); missing ones are None.
    unknown : str
        The parameter to solve for (an engine name such as ``"kl"``).
    target : array_like
        The value the bound must meet.

    Returns
    -------
    Solution
        ``value`` of the unknown and the bound's ``results`` re-evaluated there.
        For the upper bounds that is the largest K (or sigma, gen_t) keeping the
        bound at or below the target, for the lower bound the largest K keeping
        it at or above; for ``n``, the smallest sample size that meets it.

    Raises
    ------
    NoSolutionError
        When no value of the unknown meets the target.
    """
    if unknown not in model.numeric_names:
        raise InputError(f"must be one of {', '.join(model.numeric_names)} for {model.name} (got {unknown!r})",
                         "unknown")
    values = model.values(values)
    if values.get(unknown) is not None:
        raise InputError(f"{{unknown}} {unknown}: conflicts with {{{unknown}}}; leave the unknown out",
                         refs=("unknown", unknown))
    target = finite("target", target)
    closed = model.closed_forms.get(unknown)
    x = closed(values, target) if closed is not None else None
    method = "closed form"
    shape = np.broadcast(target, *[np.asarray(v) for v in values.values() if v is not None]).shape
    if x is None:
        x = _bisect(model, values, unknown, target, shape)
        method = "bisection"
    x = np.broadcast_to(np.asarray(x, dtype=float), shape).copy()
    if model.param(unknown).integer:
        x = _round_integer(model, values, unknown, x, target)
    elif method == "closed form":
        x = _polish(model, values, unknown, np.where(np.isfinite(x), x, np.nan), target)
    sense = "at or below" if model.target_sense == "at_most" else "at or above"
    require("target", target, ~np.isfinite(x),
            f"no finite {unknown} puts the {model.name} bound {sense} this target", error=NoSolutionError)
    results = model.evaluate({**values, unknown: np.where(np.isfinite(x), x, 0.0 if unknown != "n" else 1.0)})
    return Solution(unknown, scalar_or_array(x), results, method)
