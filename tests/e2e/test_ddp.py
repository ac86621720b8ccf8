"""The same fine-tuning call, run by ``torchrun`` with 2 processes (DistributedDataParallel, gloo on
loopback), reaches the accuracy of one process within 1 point."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import json, sys
    import torch
    from edgeconv.frontend.torch_export import convert_module
    from edgeconv.passes.pipeline import prepare
    from edgeconv.quant.finetune import accuracy, finetune
    from edgeconv.zoo import models
    from edgeconv.zoo.training import digits_dataset, trained

    torch.set_num_threads(1)
    x_train, y_train, x_val, y_val = digits_dataset()
    graph = prepare(convert_module(trained("tinycnn").eval(), models.INPUT_SHAPE, "tinycnn", "tinycnn"))
    quantized = finetune(graph, "w2a2", x_train[:2048], y_train[:2048], epochs=1, batch_size=64, lr=2e-3, seed=0)
    rank = int(__import__("os").environ.get("RANK", "0"))
    world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    with open(f"{sys.argv[1]}.{rank}", "w") as f:
        json.dump({"world": world, "accuracy": accuracy(quantized, x_val, y_val)}, f)
""")


@pytest.mark.slow
def test_two_process_finetuning_matches_one_process(tmp_path):
    script = tmp_path / "qat.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    single, double = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, str(script), str(single)], check=True, env=env, timeout=900)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(script), str(double)], check=True, env=env, timeout=900)
    one = json.loads((tmp_path / "one.0").read_text())
    ranks = [json.loads((tmp_path / f"two.{r}").read_text()) for r in (0, 1)]
    assert one["world"] == 1 and [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["accuracy"] == ranks[1]["accuracy"]  # every process holds the same model
    assert abs(ranks[0]["accuracy"] - one["accuracy"]) <= 0.01
