"""kdbound: the generalization bounds of knowledge distillation (Li and He, ISIT 2026).

The engine is pure numpy; every function broadcasts like a ufunc and returns a
frozen dataclass::

    >>> from kdbound import upper_bound
    >>> round(float(upper_bound(gen_t=0.05, kl=0.2, sigma=0.1).bound), 6)
    0.113246
"""

__version__ = "0.1.0"

from .engine.bounds import (  # noqa: E402
    LowerBound,
    SharpnessBound,
    SigmaEstimate,
    UpperBound,
    lower_bound,
    lower_bound_subgaussian,
    sharpness_bound,
    sigma_parameter_stability,
    sigma_stability,
    tightness_radius,
    upper_bound,
)
from .engine.models import MODELS  # noqa: E402
from .errors import InputError, KdboundError, NoSolutionError, ParameterError  # noqa: E402

__all__ = [
    "__version__", "upper_bound", "lower_bound", "lower_bound_subgaussian", "sharpness_bound",
    "sigma_stability", "sigma_parameter_stability", "tightness_radius", "solve", "Solution", "MODELS",
    "UpperBound", "LowerBound", "SharpnessBound", "SigmaEstimate",
    "KdboundError", "ParameterError", "InputError", "NoSolutionError",
]


def __getattr__(name):  # the solver loads on first use, off the start-up path
    if name in ("solve", "Solution"):
        from .engine import solve as _solve

        return getattr(_solve, name)
    raise AttributeError(f"module 'kdbound' has no attribute {name!r}")
