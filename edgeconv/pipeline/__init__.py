"""The work behind each command, called by ``edgeconv.api`` once the arguments are checked.

``compress(request, graph, dataset, val_dataset, staging) -> Report`` ·
``build(request, staging) -> dict`` · ``verify(request) -> dict`` · ``profile(request, path) -> dict``.
"""

from .build import build
from .compress import compress
from .profile import profile
from .verify import verify

__all__ = ["build", "compress", "profile", "verify"]
