"""The work behind each command, called by ``edgeconv.api`` once the arguments are checked.

``compress(request, graph, dataset, val_dataset, staging) -> Report`` ·
``build(request, staging) -> dict`` · ``verify(request) -> dict`` · ``profile(request, path) -> dict``.
"""

from .compress import compress

__all__ = ["compress"]
