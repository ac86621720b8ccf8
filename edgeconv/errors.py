"""Errors that map to the command line's exit codes (DESIGN §3)."""

from __future__ import annotations


class UserError(Exception):
    """The user's input cannot be served: exit code 2, one clear sentence, no traceback."""

    exit_code = 2


class VerificationFailed(Exception):
    """`verify` found an artifact that disagrees with the reference executor: exit code 3.

    ``result`` is what verify.json holds (every runtime's row), so the caller can show it."""

    exit_code = 3

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result
