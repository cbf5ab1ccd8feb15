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
    "linear_gaussian", "LinearGaussianResult", "simulate", "Simulation",
]


def __getattr__(name):
    # names loaded on first use (PEP 562): each serves one use, and importing it here would cost every
    # start-up of the console script, which imports this package.  solve serves --solve only; estimate reads
    # a table of runs (a file, a DataFrame or columns) with the report's words; linear_gaussian and simulate
    # serve their commands
    if name in ("solve", "Solution"):
        from .engine import solve as module
    elif name in ("estimate", "EstimateResult"):
        from . import api as module
    elif name in ("linear_gaussian", "LinearGaussianResult"):
        from .engine import lingauss as module
    elif name in ("simulate", "Simulation"):
        from .engine import simulate as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)
