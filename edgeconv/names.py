"""Names that become parts of file paths: board names, model stems, C prefixes, layer names.

A name from a model file, a board TOML or the command line may end up as one component of a path
edgeconv writes (``edgeconv-out/<model>-<target>/``, ``<prefix>model.c``, a layer's file). It is
accepted only if it is a plain file name: letters, digits, ``_``, ``.`` and ``-``, not empty, not
``.`` or ``..``, no path separator, and short enough that a staging name built from it still fits
the file system's 255-byte limit. Anything else is refused with a sentence naming what it is.
"""

from __future__ import annotations

import re

from .errors import UserError

# Room left under the 255-byte file-name limit for the staging prefix and suffix
# (".<name>.<random>.partial", see outdir.py).
MAX_NAME_LENGTH = 200

_PLAIN = re.compile(r"[A-Za-z0-9_.\-]+")


def is_path_component(value: str) -> bool:
    """True when ``value`` can be used as one path component as it is."""
    return (isinstance(value, str) and 0 < len(value) <= MAX_NAME_LENGTH and _PLAIN.fullmatch(value) is not None
            and value not in (".", "..") and ".." not in value)


def check_path_component(value: str, what: str) -> str:
    """``value`` unchanged, or a UserError naming ``what`` (e.g. "board name in boards/x.toml")."""
    if not is_path_component(value):
        raise UserError(f"{what} {value!r} cannot be used in a file name: use 1 to {MAX_NAME_LENGTH} letters, "
                        "digits, '_', '.' or '-', with no '..'")
    return value


def path_component_from(value: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """A plain path component derived from free text (a model's file stem): unsafe characters
    become ``_``, ``..`` runs collapse, the result is cut to ``max_length`` (at least 1) and is
    never empty."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", value)
    limit = max(1, max_length)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip(".")[:limit].rstrip(".")
    return cleaned or "model"[:limit]
