"""``--device``: auto resolves to CUDA only where torch sees it; a device torch cannot serve is a
one-sentence UserError (exit code 2 on the command line)."""

import pytest
import torch

from edgeconv import arguments
from edgeconv.errors import UserError


def test_cpu_and_auto():
    assert arguments.device("cpu") == "cpu"
    assert arguments.device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cuda_only_where_torch_sees_it():
    if torch.cuda.is_available():
        assert arguments.device("cuda") == "cuda"
    else:
        with pytest.raises(UserError, match="--device cuda: torch sees no CUDA device"):
            arguments.device("cuda")


def test_unknown_device_is_refused_by_name():
    with pytest.raises(UserError, match="--device 'tpu': choose among auto, cpu, cuda"):
        arguments.device("tpu")
