"""``edgeconv verify``: run each artifact on its runtimes and compare with the reference executor."""

from .compare import BIT_EXACT, TOP1, RuntimeRow
from .runners import RUNNERS, RunnerSpec
from .table import verify_table
from .verify_dir import VERIFY_FILE, VerifyResult, compare_artifacts, verify_dir, write_verify_json

__all__ = [
    "verify_dir", "compare_artifacts", "write_verify_json", "VerifyResult", "RuntimeRow", "VERIFY_FILE",
    "RUNNERS", "RunnerSpec", "BIT_EXACT", "TOP1", "verify_table",
]
