"""The numpy reference executor: what every op means, in float and in integer arithmetic."""

from .executor import INT_KERNELS, run, run_single
from . import int_kernels  # noqa: F401  (registers the integer kernels)

__all__ = ["run", "run_single", "INT_KERNELS"]
