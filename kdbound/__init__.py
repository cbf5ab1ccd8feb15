"""kdbound: the generalization bounds of knowledge distillation (Li and He, ISIT 2026).

The engine is pure numpy; every function broadcasts like a ufunc and returns a
frozen dataclass::

    >>> from kdbound import upper_bound
    >>> round(float(upper_bound(gen_t=0.05, kl=0.2, sigma=0.1).bound), 6)
    0.113246
"""

from ._version import __version__

from .engine.bounds import (
    BestLowerBound,
    LowerBound,
    SharpnessBound,
    SigmaEstimate,
    UpperBound,
    lower_bound,
    lower_bound_best,
    lower_bound_subgaussian,
    sharpness_bound,
    sigma_parameter_stability,
    sigma_stability,
    tightness_radius,
    upper_bound,
)
from .engine.specs import BOUND_SPECS, BoundSpec
from .errors import InputError, KdboundError, NoSolutionError, ParameterError

#: the former name of :data:`BOUND_SPECS` (kept for compatibility)
MODELS = BOUND_SPECS

__all__ = [
    "__version__", "upper_bound", "lower_bound", "lower_bound_best", "lower_bound_subgaussian", "sharpness_bound",
    "sigma_stability", "sigma_parameter_stability", "tightness_radius", "solve", "Solution", "BOUND_SPECS",
    "BoundSpec", "MODELS", "UpperBound", "LowerBound", "BestLowerBound", "SharpnessBound", "SigmaEstimate",
    "KdboundError", "ParameterError", "InputError", "NoSolutionError", "estimate", "EstimateResult",
]


def __getattr__(name):
    # the solver loads on first use (PEP 562): it serves --solve only, and importing it here would cost
    # every start-up of the console script, which imports this package
    if name in ("solve", "Solution"):
        from .engine import solve as _solve

        return getattr(_solve, name)
    if name in ("estimate", "EstimateResult"):
        # bounds from a table of runs (a file, a DataFrame or columns): the table readers and the report's words
        from . import api as _api

        return getattr(_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
