"""The numpy reference executor: what every op means, in float and in integer arithmetic."""

from .executor import run, run_single

__all__ = ["run", "run_single"]
