"""Errors that map to the command line's exit codes (DESIGN §3)."""


class UserError(Exception):
    """The user's input cannot be served: exit code 2, one clear sentence, no traceback."""

    exit_code = 2


class VerificationFailed(Exception):
    """`verify` found an artifact that disagrees with the reference executor: exit code 3."""

    exit_code = 3
