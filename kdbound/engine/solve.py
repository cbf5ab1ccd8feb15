"""Solve a bound for one unknown parameter, in the style of statsmodels' ``solve_power``.

One generic mechanism serves every bound: the bound's closed form when it has
one for that unknown, otherwise a search of the whole domain of the unknown:

1. a scan of 129 points spread evenly over the ordered bit patterns of float64
   between the domain's ends (so over every magnitude and both signs),
2. where no scanned point meets the target, a ternary search (thirds of the
   bracket, on the bit patterns) towards the best value around the best scanned
   point (a narrow dip is not missed),
3. an exact bisection of the chosen crossing on the bit patterns (at most 64
   vectorised steps, ending on adjacent floats).

A crossing is a change between "meets the target" and "a valid value that does
not": the edge of the domain (say ``loss_min`` reaching ``loss_max``) is not a
crossing.  Of several crossings, ``n`` takes the smallest sample size that meets
the target and every other unknown the largest value.  The answer is checked by
re-evaluating the bound; integer unknowns are rounded on the meeting side.
Rows with no solution break the rule "no value meets the target" through the
same validation mechanism as any other input (so batches can skip or null them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, NoSolutionError
from ..formats import html_table, json_ready
from ._checks import broadcastable, collect_violations, finite, require, scalar_or_array
from .numerics import quiet_fp
from .specs import BoundSpec, Evaluation

BIG = 1e300
TINY = float(np.nextafter(0.0, 1.0))
# search interval of each unknown; anything else ranges over [0, BIG]
DOMAINS = {
    "gen_t": (-BIG, BIG),
    "loss_min": (-BIG, BIG),
    "loss_max": (-BIG, BIG),
    "sharpness": (-BIG, BIG),
    "c": (TINY, 1.0),
    "eta": (TINY, BIG),
    "rho": (TINY, BIG),
    "n": (1.0, BIG),
    "dim": (1.0, BIG),
}
#: unknowns whose answer is the smallest value that meets the target (the others: the largest)
SMALLEST = ("n", "dim")
SCAN = 129
ROWS_PER_SCAN = 2048  # rows scanned at once (memory: rows x SCAN evaluations)


@dataclass(frozen=True, eq=False)
class Solution:
    """The unknown's value, the bound's results re-evaluated there, how it was found, and a note
    for a scalar answer that needs one (every value meets the target, or the unknown is unbounded)."""

    param: str
    value: np.ndarray
    results: dict
    method: str  # "closed form", "bisection" (after the scan of the domain) or, per row, "closed form and bisection"
    note: str | None = None
    #: per row: 0 a crossing, 1 every value meets (the end of them is reported), 3 the unknown does not affect
    #: the bound, 4 the smallest allowed value already meets (n), 5 the meeting values end at a rule's edge
    status: np.ndarray | int = 0

    def as_results(self) -> dict:
        """The solved value under its name, then the bound's results there (where the answer is unbounded,
        those that depend on the unknown are null: see :func:`_results_at`)."""
        return {self.param: self.value, **{k: v for k, v in self.results.items() if k != self.param}}

    def to_dict(self) -> dict:
        """:meth:`as_results`, JSON-ready (the command line's ``results`` with ``--solve``; arrays as lists)."""
        return {k: json_ready(v) for k, v in self.as_results().items()}

    def _repr_html_(self) -> str:
        """A table for Jupyter (escaped), with the note when there is one."""
        import html

        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return html_table(self.as_results(), f"Solution for {self.param} ({self.method})") + note


_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_SIGN = np.int64(-(2**63))


def _key(x: np.ndarray) -> np.ndarray:
    """float64 -> int64 preserving order: negative floats map to ~magnitude (no overflow)."""
    bits = np.asarray(x, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, ~(bits & _MAG), bits)  # -0.0 -> -1, 0.0 -> 0


def _unkey(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64)
    return np.where(k < 0, (~k) | _SIGN, k).view(np.float64)


def _mid(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo // 2 + hi // 2 + (lo % 2 + hi % 2) // 2  # no int64 overflow across zero


def _bound(model: BoundSpec, values: dict, unknown: str, x: np.ndarray):
    """(bound, valid) at ``unknown = x``: valid where no rule is broken and the bound is finite.

    A whole-number unknown (n) is evaluated at ceil(x), which keeps the order of x.
    """
    if model.param(unknown).integer:
        x = np.ceil(x)
    with collect_violations() as found:
        bound = np.asarray(model.evaluate({**values, unknown: x})[model.solve_on.get(unknown, "bound")], dtype=float)
    shape = np.broadcast(bound, x).shape
    bound = np.broadcast_to(bound, shape)
    valid = np.isfinite(bound)
    for v in found:
        valid = valid & ~np.broadcast_to(v.mask, shape)
    return bound, valid


def _meets(model: BoundSpec, values: dict, unknown: str, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Whether the bound at ``unknown = x`` meets the target; invalid points do not."""
    bound, valid = _bound(model, values, unknown, x)
    ok = bound <= target if model.target_sense == "at_most" else bound >= target
    return ok & valid


def _valid(model, values, unknown, x, target):
    """Whether ``unknown = x`` breaks no rule and gives a finite bound (``target`` unused: a predicate
    of the same signature as :func:`_meets`)."""
    return _bound(model, values, unknown, x)[1]


def _bisect_keys(model, values, unknown, target, lo, hi, pred=_meets):
    """Adjacent floats across the change of ``pred`` (default: meets the target) between keys lo and hi
    (each row's own bracket); the float on the side where ``pred`` holds."""
    m_lo = pred(model, values, unknown, _unkey(lo), target)
    for _ in range(70):
        live = lo + 1 < hi
        if not live.any():
            break
        mid = _mid(lo, hi)
        m_mid = pred(model, values, unknown, _unkey(mid), target)
        go_hi = live & (m_mid == m_lo)
        lo = np.where(go_hi, mid, lo)
        hi = np.where(live & ~go_hi, mid, hi)
    return np.where(m_lo, _unkey(lo), _unkey(hi))  # the float on the side where pred holds


def _columns(values: dict, shape, rows: slice | None = None) -> dict:
    """Each value broadcast to ``shape``, flattened, as a column (rows, 1) for the scan."""
    out = {}
    for k, v in values.items():
        if v is None:
            out[k] = None
        else:
            flat = np.broadcast_to(np.asarray(v), shape).reshape(-1)
            out[k] = (flat if rows is None else flat[rows])[:, None]
    return out


class _Search:
    """The scan, refinement and bisection for a block of rows (flattened)."""

    def __init__(self, model, values, unknown, target):
        self.model, self.unknown = model, unknown
        self.values, self.target = values, target  # columns (rows, 1)
        lo, hi = DOMAINS.get(unknown, (0.0, BIG))
        self.klo, self.khi = int(_key(np.float64(lo))), int(_key(np.float64(hi)))
        self.smallest = unknown in SMALLEST

    def grid(self) -> np.ndarray:
        keys = np.round(np.linspace(float(self.klo), float(self.khi), SCAN)).astype(np.int64)
        keys[0], keys[-1] = self.klo, self.khi
        keys = np.maximum.accumulate(np.clip(keys, self.klo, self.khi))
        width = self._range_width()
        if width is not None:  # gen_t within [-(b - a), b - a]: evenly too, or a valid island between two
            # scanned points (Remark 2's gen_t > eta sigma^2 / 2 up to b - a) is never seen
            extra = _key(np.linspace(-width, width, 65)).astype(np.int64)
            keys = np.unique(np.concatenate([keys, np.clip(extra, self.klo, self.khi)]))
        self.size = keys.size
        return keys

    def _range_width(self) -> float | None:
        """The widest finite loss range b - a of the rows, when the unknown is gen_t and a range is given."""
        a, b = self.values.get("loss_min"), self.values.get("loss_max")
        if self.unknown != "gen_t" or a is None or b is None:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            width = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
        width = width[np.isfinite(width) & (width > 0)]
        return float(width.max()) if width.size else None

    def run(self):
        """(x, status) per row: status 0 found, 1 every valid value meets, 2 none meets, 3 no effect,
        4 the smallest valid value meets (``n`` only; larger ones may not), 5 the meeting values end at
        an edge of the valid domain (a rule, not a crossing)."""
        keys = self.grid()
        bound, valid = _bound(self.model, self.values, self.unknown, _unkey(keys)[None, :])
        shape = (self.target.shape[0], self.size)  # one row per target even when no other value varies
        bound, valid = np.broadcast_to(bound, shape), np.broadcast_to(valid, shape)
        sense_ok = bound <= self.target if self.model.target_sense == "at_most" else bound >= self.target
        meets = sense_ok & valid
        rows = bound.shape[0]
        x = np.full(rows, np.nan)
        status = np.zeros(rows, dtype=int)
        both = valid[:, :-1] & valid[:, 1:]
        enter = both & ~meets[:, :-1] & meets[:, 1:]   # not meeting -> meeting
        leave = both & meets[:, :-1] & ~meets[:, 1:]   # meeting -> not meeting
        edges = self._edges(keys, valid, meets)
        lo = np.zeros(rows, dtype=np.int64)
        hi = np.zeros(rows, dtype=np.int64)
        has = np.zeros(rows, dtype=bool)
        edge = np.zeros(rows, dtype=bool)
        for r in range(rows):
            vals = bound[r][valid[r]]
            flat = vals.size > 1 and bool(np.all(vals == vals[0]))
            first = np.flatnonzero(valid[r])[:1]
            # n: the smallest valid value already meets, so it is the answer whatever happens further up
            starts = self.smallest and first.size > 0 and bool(meets[r][first[0]])
            pick = None if flat or starts else self._bracket(keys, enter[r], leave[r], edges.get(r, []))
            if pick is not None:
                lo[r], hi[r], has[r] = pick[0], pick[1], True
            elif meets[r].any():
                # every valid value meets (or, for n, the smallest one does): the end of the meeting values
                every = bool(meets[r][valid[r]].all())
                status[r] = 3 if flat else (1 if every else (4 if self.smallest else 5))
                ends = np.flatnonzero(meets[r])
                end = ends[0] if self.smallest else ends[-1]
                x[r] = _unkey(keys[end])
                if self.smallest and end > 0:
                    lo[r], hi[r], has[r], edge[r] = keys[end - 1], keys[end], True, True
                elif not self.smallest and end < self.size - 1:
                    lo[r], hi[r], has[r], edge[r] = keys[end], keys[end + 1], True, True
                elif not self.smallest and self.khi == int(_key(np.float64(BIG))):
                    x[r] = np.inf  # meets up to the end of the domain: unbounded
            else:
                status[r] = 3 if flat else 2
        if has.any():
            idx = np.flatnonzero(has)
            sub = {k: (None if v is None else v[idx]) for k, v in self.values.items()}
            x[idx] = _bisect_keys(self.model, sub, self.unknown, self.target[idx], lo[idx][:, None],
                                  hi[idx][:, None])[:, 0]
        none = np.flatnonzero((status == 2) & ~edge)
        if none.size:
            self._refine(none, keys, bound, valid, x, status)
        return x, status

    def _edges(self, keys, valid, meets) -> dict:
        """Crossings hidden at an edge of the valid domain, per row: {row: [(lo key, hi key, enters)]}.

        Between a valid scanned point and a neighbour that breaks a rule (gen_t beyond b - a, an eta
        outside Remark 2's interval) lie valid values the scan did not see: the edge of the valid values
        is found by bisection, and where the edge and the scanned point differ on meeting the target, a
        crossing lies between them (a meeting region the scan missed, or a non-meeting one).
        """
        left_r, left_j = np.nonzero(valid[:, 1:] & ~valid[:, :-1])    # a valid point whose left neighbour breaks
        right_r, right_j = np.nonzero(valid[:, :-1] & ~valid[:, 1:])  # a rule, or whose right one does
        if not (left_r.size or right_r.size):
            return {}
        rows_a = np.concatenate([left_r, right_r])
        idx_a = np.concatenate([left_j + 1, right_j])
        side_a = np.concatenate([np.full(left_r.size, -1), np.full(right_r.size, 1)])
        sub = {k: (None if v is None else v[rows_a]) for k, v in self.values.items()}
        target = self.target[rows_a]
        inside, outside = keys[idx_a], keys[idx_a + side_a]
        lo = np.minimum(inside, outside)[:, None]
        hi = np.maximum(inside, outside)[:, None]
        at_edge = _bisect_keys(self.model, sub, self.unknown, target, lo, hi, pred=_valid)
        ok = _valid(self.model, sub, self.unknown, at_edge, target)[:, 0]
        edge_meets = _meets(self.model, sub, self.unknown, at_edge, target)[:, 0]
        hidden = ok & (edge_meets != meets[rows_a, idx_a])
        out: dict = {}
        for i in np.flatnonzero(hidden):
            e = int(_key(at_edge[i, 0]))
            pair = (e, int(inside[i])) if side_a[i] < 0 else (int(inside[i]), e)
            upper_meets = bool(edge_meets[i]) if side_a[i] > 0 else bool(meets[rows_a[i], idx_a[i]])
            out.setdefault(int(rows_a[i]), []).append((*pair, upper_meets))  # enters: the larger end meets
        return out

    def _bracket(self, keys, enter, leave, edges):
        """(lo key, hi key) of the chosen crossing, or None when there is none.

        One crossing is the answer whichever way it goes; of several (a bound that
        is not monotone in the unknown), the smallest value that starts meeting the
        target for ``n``, and the largest value that still meets it otherwise.
        """
        found = [(int(keys[j]), int(keys[j + 1]), bool(enter[j])) for j in np.flatnonzero(enter | leave)]
        found = sorted(found + list(edges))
        if not found:
            return None
        if len(found) == 1:
            return found[0][:2]
        if self.smallest:
            hits = [c for c in found if c[2]]
            return (hits[0] if hits else found[0])[:2]
        hits = [c for c in found if not c[2]]
        return (hits[-1] if hits else found[-1])[:2]

    def _refine(self, rows, keys, bound, valid, x, status):
        """Ternary search towards the best bound around the best scanned point, then bisect."""
        at_most = self.model.target_sense == "at_most"
        for r in rows:
            score = np.where(valid[r], bound[r] if at_most else -bound[r], np.inf)
            j = int(np.argmin(score))
            if not np.isfinite(score[j]):
                continue
            a, b = int(keys[max(j - 1, 0)]), int(keys[min(j + 1, self.size - 1)])
            sub = {k: (None if v is None else v[r:r + 1, :]) for k, v in self.values.items()}
            target = self.target[r:r + 1, :]
            best = None
            for _ in range(100):
                if b - a < 3:
                    break
                third = (b - a) // 3
                c, d = a + third, b - third
                fc, fd = (self._score(sub, k, at_most) for k in (c, d))
                if fc <= fd:
                    b = d
                else:
                    a = c
            for k in range(a, b + 1) if b - a < 3 else (a, b):
                if self._meets_key(sub, k, target):
                    best = k
                    break
            if best is None:
                continue
            # a meeting point inside: bisect towards a side whose end is valid and does not meet (a crossing);
            # an end that breaks a rule is the edge of the domain, not a crossing (gen_t against |gen_t| <= b - a)
            left, right = int(keys[max(j - 1, 0)]), int(keys[min(j + 1, self.size - 1)])
            crossing = [bool(valid[r][i]) and not bool(self._meets_key(sub, k, target))
                        for i, k in ((max(j - 1, 0), left), (min(j + 1, self.size - 1), right))]
            if crossing[0] and crossing[1]:
                go_left = self.smallest
            elif crossing[0] or crossing[1]:
                go_left = crossing[0]
            else:  # the meeting values end at the domain's edges on both sides
                go_left = self.smallest
                status[r] = 1
            lo, hi = (np.array([[left]]), np.array([[best]])) if go_left else (np.array([[best]]), np.array([[right]]))
            x[r] = _bisect_keys(self.model, sub, self.unknown, target, lo, hi)[0, 0]
            if crossing[0] or crossing[1]:
                status[r] = 0

    def _meets_key(self, sub, k, target) -> bool:
        return bool(_meets(self.model, sub, self.unknown, _unkey(np.array([[k]])), target)[0, 0])

    def _score(self, sub, k, at_most):
        bound, valid = _bound(self.model, sub, self.unknown, _unkey(np.array([[k]])))
        value = float(bound[0, 0]) if at_most else -float(bound[0, 0])
        return value if bool(valid[0, 0]) else np.inf


def _bisect(model: BoundSpec, values: dict, unknown: str, target: np.ndarray, shape) -> np.ndarray:
    """The unknown at which the bound crosses the target, by scan and bisection (NaN where none)."""
    return _search(model, values, unknown, target, shape)[0]


def _search(model, values, unknown, target, shape):
    size = int(np.prod(shape)) if shape else 1
    target_col = np.broadcast_to(np.asarray(target, dtype=float), shape).reshape(-1)
    x = np.empty(size)
    status = np.empty(size, dtype=int)
    for start in range(0, size, ROWS_PER_SCAN):
        rows = slice(start, min(start + ROWS_PER_SCAN, size))
        search = _Search(model, _columns(values, shape, rows), unknown, target_col[rows][:, None])
        x[rows], status[rows] = search.run()
    return x.reshape(shape), status.reshape(shape)


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
    return np.where(np.isfinite(x) & ok, out, np.where(np.isinf(x), x, np.nan))


def _polish(model, values, unknown, x, target):
    """The float nearest the closed form that meets the target, where rounding left the closed form outside.

    Steps of 1, 2, 4, ... ulps away from ``x`` on each side find a meeting float (rounding in the bound can
    need a few dozen ulps: 0.1 - 0.1 sqrt(2 K) at K = 8 is -0.30000000000000004); an exact bisection between
    the last step that did not meet and the first that did returns the meeting float closest to the boundary.
    """
    x = np.asarray(x, dtype=float)
    ok = ~np.isfinite(x) | _meets(model, values, unknown, x, target)
    if ok.all():
        return x
    k0 = _key(np.where(np.isfinite(x), x, 0.0))
    lo_dom, hi_dom = (int(_key(np.float64(v))) for v in DOMAINS.get(unknown, (0.0, BIG)))
    best = np.full(x.shape, np.nan)
    best_gap = np.full(x.shape, np.inf)
    for sign in (-1, 1):
        done = ok.copy()
        prev = k0
        for e in range(41):  # up to 2^40 ulps
            if done.all():
                break
            k = np.clip(k0 + sign * (np.int64(1) << np.int64(e)), lo_dom, hi_dom)
            hit = ~done & _meets(model, values, unknown, _unkey(k), target)
            if hit.any():
                lo, hi = (k, prev) if sign < 0 else (prev, k)
                found = _bisect_keys(model, values, unknown, target, np.where(hit, lo, k0), np.where(hit, hi, k0 + 1))
                gap = np.abs(_key(found) - k0).astype(float)
                closer = hit & (gap < best_gap)
                best, best_gap = np.where(closer, found, best), np.where(closer, gap, best_gap)
                done |= hit
            prev = k
    return np.where(ok, x, np.where(np.isfinite(best), best, x))


@quiet_fp
def solve(model: BoundSpec | str, values: dict | None = None, unknown: str | None = None, target=None,
          **params) -> Solution:
    """The value of ``unknown`` at which a bound meets ``target``.

    One mechanism for every bound, in the style of statsmodels' ``solve_power``:
    the bound's closed form when it has one for this unknown, otherwise a search
    of the unknown's whole domain (scan, refinement, exact bisection).

    Parameters
    ----------
    model : BoundSpec or {"upper", "lower", "sharpness"}
        The bound, e.g. ``BOUND_SPECS["upper"]`` or its name.
    values : mapping, optional
        The other parameters (scalars or broadcastable arrays); missing ones are None.
    unknown : str
        The parameter to solve for (an engine name such as ``"kl"``).
    target : array_like
        The value the bound must meet.
    **params
        The other parameters as keywords, instead of (or besides) ``values``.

    Examples
    --------
    >>> from kdbound import solve
    >>> round(float(solve("upper", target=0.1, unknown="kl", gen_t=0.05, sigma=0.1).value), 6)
    0.125

    Returns
    -------
    Solution
        ``value`` of the unknown and the bound's ``results`` re-evaluated there:
        where the bound crosses the target (for the upper bounds, the largest K,
        sigma or gen_t keeping it at or below the target; for the lower bound the
        largest K keeping it at or above; for ``n``, the smallest sample size that
        meets it).  When every value meets the target, the end of the meeting
        values (+inf when unbounded) and a ``note`` that says so.

    Raises
    ------
    NoSolutionError
        When no value of the unknown meets the target (the message says whether
        the unknown affects the bound at all).
    """
    model, values = _model_and_values(model, values, params)
    if unknown is None:
        raise InputError(f"required: the parameter to solve for (one of {', '.join(model.numeric_names)})", "unknown")
    if unknown not in model.numeric_names:
        raise InputError(f"must be one of {', '.join(model.numeric_names)} for {model.name} (got {unknown!r})",
                         "unknown")
    values = model.values(values)
    if values.get(unknown) is not None:
        raise InputError(f"{{unknown}} {unknown}: conflicts with {{{unknown}}}; leave the unknown out",
                         refs=("unknown", unknown))
    shape = broadcastable(target=target, **values)
    target = finite("target", target)
    x, status, method = _answer(model, values, unknown, target, shape)
    _require_found(model, unknown, target, x, status)
    note = _note(model, unknown, x, status) if not shape else None
    results = _results_at(model, values, unknown, x)
    return Solution(unknown, scalar_or_array(x), results, method, note, scalar_or_array(status))


def _results_at(model: BoundSpec, values: dict, unknown: str, x):
    """The bound's results at the answer.  Where the answer is unbounded (+-inf, which no rule admits)
    they are evaluated at two finite stand-ins: a result equal at both does not depend on the unknown
    there and is kept; any other is null (NaN, or None for a flag), so that no stand-in value reaches
    the output."""
    x = np.asarray(x, dtype=float)
    top = DOMAINS.get(unknown, (0.0, BIG))[1]
    endless = np.isinf(x)
    first = model.evaluate({**values, unknown: _whole(model, unknown, np.where(np.isfinite(x), x, top))})
    if not endless.any():
        return first
    second = model.evaluate({**values, unknown: _whole(model, unknown, np.where(np.isfinite(x), x, top / 2))})
    out = {}
    for key, value in first.items():
        arr, other = np.asarray(value), np.asarray(second[key])
        flags = arr.dtype.kind in "bO"  # booleans, or None where they are unknown
        same = np.asarray(arr == other, dtype=bool) if flags else (arr == other) | (np.isnan(arr) & np.isnan(other))
        moved = endless & ~same
        if not np.any(moved):
            out[key] = value
        elif flags:
            flags = np.array(np.broadcast_to(arr, np.shape(moved)), dtype=object)
            flags[np.broadcast_to(moved, flags.shape)] = None
            out[key] = scalar_or_array(flags)
        else:
            out[key] = scalar_or_array(np.where(moved, np.nan, arr))
    return Evaluation(out, first.route)


def _whole(model: BoundSpec, unknown: str, x):
    """A whole-number unknown evaluated at ceil(x); others as they are."""
    return np.ceil(x) if model.param(unknown).integer else x


def _model_and_values(model, values, params) -> tuple[BoundSpec, dict]:
    """The spec (given, or by name) and the parameters from ``values`` and keywords together."""
    if isinstance(model, str):
        from .specs import BOUND_SPECS

        if model not in BOUND_SPECS:
            raise InputError(f"must be one of {', '.join(BOUND_SPECS)} (got {model!r})", "model")
        model = BOUND_SPECS[model]
    both = sorted(set(values or {}) & set(params))
    if both:
        raise InputError("given both in values and as a keyword", both[0])
    return model, {**(values or {}), **params}


def _answer(model: BoundSpec, values: dict, unknown: str, target, shape):
    """(x, status, method): the closed form where it has one and its answer is valid, else the search;
    integers rounded on the meeting side, closed forms polished onto it."""
    closed = model.closed_forms.get(unknown)
    x = closed(values, target) if closed is not None else None
    method = "closed form"
    status = np.zeros(shape, dtype=int)
    if x is None:
        x, status = _search(model, values, unknown, target, shape)
        method = "bisection"
    else:
        # a closed form knows the formula, not the rules: where its answer breaks one (gen_t beyond the loss
        # range's width), the search of the valid domain answers instead
        x = np.broadcast_to(np.asarray(x, dtype=float), shape)
        outside = np.isfinite(x) & ~_bound(model, values, unknown, np.where(np.isfinite(x), x, 0.0))[1]
        if np.any(outside):
            xs, ss = _search(model, values, unknown, target, shape)
            x, status = np.where(outside, xs, x), np.where(outside, ss, status)
            method = "closed form and bisection" if not np.all(outside) else "bisection"
    x = np.broadcast_to(np.asarray(x, dtype=float), shape).copy()
    if model.param(unknown).integer:
        x = _round_integer(model, values, unknown, x, target)
    elif closed is not None:  # rows the search answered already meet the target and are left as they are
        x = _polish(model, values, unknown, np.where(np.isfinite(x) | (x == np.inf), x, np.nan), target)
    if unknown in SMALLEST:  # a closed form that lands on the domain's start: the smallest allowed n meets
        status = np.where((status == 0) & (x == DOMAINS[unknown][0]), 4, status)
    return x, status, method


def _require_found(model: BoundSpec, unknown: str, target, x, status) -> None:
    """A NoSolutionError for a scalar without an answer; for arrays, the rows without one break a rule."""
    sense = "at or below" if model.target_sense == "at_most" else "at or above"
    found = ~np.isnan(x)
    if not np.shape(x) and not bool(found):
        why = (f"{unknown} does not affect the {model.name} bound here, which stays on the wrong side of the target"
               if int(status) == 3 else f"no finite {unknown} puts the {model.name} bound {sense} this target")
        raise NoSolutionError("target", why, float(target))
    require("target", target, ~found, f"no finite {unknown} puts the {model.name} bound {sense} this target",
            error=NoSolutionError)


def _note(model: BoundSpec, unknown: str, x, status) -> str | None:
    """The note of a scalar answer that needs one: the smallest n already meets, or every value meets."""
    if int(status) == 4:
        return (f"the smallest {unknown} the bound allows here already meets the target: the answer reported is "
                f"{unknown} = {float(x):.6g} (larger values need not meet it).")
    if int(status) == 5:
        return (f"the values of {unknown} that meet the target end at {float(x):.6g}, an edge of the values the "
                f"bound allows (a rule, not a crossing): the answer reported is {unknown} = {float(x):.6g}.")
    if int(status) in (1, 3) or np.isinf(x):
        end = "arbitrarily large" if np.isinf(x) else f"{float(x):.6g}, the end of the values that meet it"
        unbounded = (f"; the results that depend on {unknown} have no value there and are null"
                     if np.isinf(x) else "")
        return (f"every {unknown} meets the target" + (f" ({unknown} does not affect the {model.name} bound here)"
                                                       if int(status) == 3 else "")
                + f": the answer reported is {unknown} = {end}{unbounded}.")
    return None
