"""Step time of memopt.nets against the identical model in PyTorch (CPU), in one process.

    python benchmarks/nets_vs_torch.py [--threads 2] [--rounds 7] [--steps 10]

A step is forward, loss, backward and one AdamW update. Both frameworks run the same
architecture with the same weights (copied from ours, checked to give the same loss and
gradients) on the same batch:

* transformer: Power et al.'s decoder (2 layers, width 128, 4 heads), p = 97, a batch of 512
  sequences [a, +, b, =], cross-entropy on the answer token, AdamW(1e-3, (0.9, 0.98), wd 1);
* MLP: Gromov's f = W2 (W1 [e_a; e_b])^2, p = 97, 512 hidden units, the full batch of 4704
  equations (half the table), mean squared error, AdamW(1e-2, (0.9, 0.98), wd 5).

Our transformer computes only the last position in its last block (the loss reads nothing
else); the PyTorch model is timed both the usual way (every position, as reference
implementations do) and with the same saving. Our MLP looks up the two rows of W1 instead of
multiplying by one-hot vectors; PyTorch is timed with the dense one-hot product (as the
reference implementations do) and with the same lookup. Rounds of ``steps`` steps alternate
between the implementations, so a change in the machine's load hits all of them alike; the
median step time over the rounds is reported. PyTorch is needed only here (it is not a
dependency of the book): ``pip install torch==2.13.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "nets.json"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both (default: all cores)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="steps per round and implementation")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


ARGS = parse_args()
# BLAS reads its thread count when it is loaded, so it is set before NumPy is imported.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from memopt.nets import DecoderTransformer, QuadraticMLP  # noqa: E402
from memopt.optim.adaptive import AdamW  # noqa: E402
from memopt.problems.modular import modular_task  # noqa: E402

torch.set_num_threads(ARGS.threads)


# -- the PyTorch twins ----------------------------------------------------------------------------
class TorchTransformer(torch.nn.Module):
    """The same network as memopt.nets.DecoderTransformer, weights copied from it."""

    def __init__(self, ours: DecoderTransformer, last_only: bool):
        super().__init__()
        self.last_only, self.heads = last_only, ours.blocks[0].attention.heads
        p = ours.params

        def param(name, transpose=False):
            value = np.array(p[name])
            return torch.nn.Parameter(torch.from_numpy(value.T.copy() if transpose else value.copy()))

        self.embedding = param("embedding.table")
        self.register_buffer("positions", torch.from_numpy(np.array(ours.positions)))
        self.blocks = torch.nn.ModuleList()
        for i in range(len(ours.blocks)):
            block = torch.nn.ParameterDict({
                "qkv": param(f"block{i}.attention.qkv", True), "out": param(f"block{i}.attention.out", True),
                "ln1_w": param(f"block{i}.attention_norm.gain"), "ln1_b": param(f"block{i}.attention_norm.shift"),
                "up": param(f"block{i}.feed_forward.up.weight", True),
                "down": param(f"block{i}.feed_forward.down.weight", True),
                "ln2_w": param(f"block{i}.feed_forward_norm.gain"), "ln2_b": param(f"block{i}.feed_forward_norm.shift"),
            })
            self.blocks.append(block)
        self.unembedding = param("unembedding.weight", True)

    def forward(self, tokens):
        h = F.embedding(tokens, self.embedding) + self.positions
        width = h.shape[-1]
        for i, b in enumerate(self.blocks):
            batch, length, _ = h.shape
            last = self.last_only and i == len(self.blocks) - 1
            w_q, w_kv = b["qkv"][:width], b["qkv"][width:]
            x_q = h[:, -1:] if last else h
            q = F.linear(x_q, w_q).view(batch, x_q.shape[1], self.heads, -1).transpose(1, 2)
            k, v = F.linear(h, w_kv).view(batch, length, 2, self.heads, -1).permute(2, 0, 3, 1, 4)
            att = F.scaled_dot_product_attention(q, k, v, is_causal=not last)
            att = F.linear(att.transpose(1, 2).reshape(batch, x_q.shape[1], width), b["out"])
            a = F.layer_norm(x_q + att, (width,), b["ln1_w"], b["ln1_b"])
            h = F.layer_norm(a + F.linear(F.relu(F.linear(a, b["up"])), b["down"]), (width,), b["ln2_w"], b["ln2_b"])
        return F.linear(h[:, -1], self.unembedding)


class TorchMLP(torch.nn.Module):
    """Gromov's network with the weights of memopt.nets.QuadraticMLP: the first layer as a
    dense (2p -> width) product on one-hot inputs, or as two row lookups."""

    def __init__(self, ours: QuadraticMLP, lookup: bool):
        super().__init__()
        self.lookup, self.modulus = lookup, ours.modulus
        first = np.concatenate([np.array(ours.params["left"]), np.array(ours.params["right"])]).T
        self.first = torch.nn.Parameter(torch.from_numpy(first.copy()))  # (width, 2p), nn.Linear layout
        self.readout = torch.nn.Parameter(torch.from_numpy(np.array(ours.params["readout"]).T.copy()))

    def forward(self, inputs):
        if self.lookup:
            rows = self.first.T
            pre = F.embedding(inputs[:, 0], rows) + F.embedding(inputs[:, 1] + self.modulus, rows)
        else:
            pre = F.linear(inputs, self.first)
        return F.linear(pre * pre, self.readout)


# -- timing ---------------------------------------------------------------------------------------
def our_stepper(network, optimizer, inputs, labels):
    state = optimizer.init(network.params.vector)

    def step():
        network.loss_and_gradient(inputs, labels)
        optimizer.step(network.params.vector, network.params.grad, state)
    return step


def torch_stepper(model, loss_fn, inputs, target, lr, weight_decay):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-8,
                                  weight_decay=weight_decay)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(inputs), target).backward()
        optimizer.step()
    return step


def time_steppers(steppers: dict, rounds: int, steps: int) -> dict:
    for step in steppers.values():  # warm up: allocations, BLAS buffers, autograd graphs
        for _ in range(3):
            step()
    per_round = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, step in steppers.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            per_round[name].append((time.perf_counter() - start) / steps)
    return {name: {"median_ms": 1e3 * float(np.median(t)), "min_ms": 1e3 * float(np.min(t)),
                   "max_ms": 1e3 * float(np.max(t))} for name, t in per_round.items()}


def agree(ours_grad, torch_grad, what):
    ours_grad, torch_grad = np.asarray(ours_grad, dtype=np.float64), torch_grad.detach().double().numpy()
    error = np.abs(ours_grad - torch_grad).max() / np.abs(torch_grad).max()
    if error > 1e-3:
        raise AssertionError(f"{what}: gradients differ from PyTorch's (relative {error:.2e})")
    return float(error)


def transformer_case(task, rng):
    ours = DecoderTransformer(task.vocabulary_size, task.classes, width=128, heads=4, layers=2, seed=0)
    rows = rng.choice(task.size, 512, replace=False)
    tokens, labels = task.sequences(rows), task.c[rows]
    t_tokens, t_labels = torch.from_numpy(tokens), torch.from_numpy(labels)
    models = {name: TorchTransformer(ours, last_only) for name, last_only in
              (("pytorch_all_positions", False), ("pytorch_last_position", True))}
    ours.loss_and_gradient(tokens, labels)
    checks = {}
    for name, model in models.items():
        F.cross_entropy(model(t_tokens), t_labels).backward()
        checks[name] = agree(ours.params.gradient("block0.attention.qkv"), model.blocks[0]["qkv"].grad.T, name)
        model.zero_grad(set_to_none=True)
    steppers = {"ours": our_stepper(ours, AdamW(1e-3, (0.9, 0.98), 1e-8, 1.0, 10), tokens, labels)}
    steppers.update({name: torch_stepper(m, F.cross_entropy, t_tokens, t_labels, 1e-3, 1.0)
                     for name, m in models.items()})
    return steppers, checks


def mlp_case(task, rng):
    ours = QuadraticMLP(task.modulus, 512, seed=0)
    rows = rng.choice(task.size, task.size // 2, replace=False)
    pairs, labels = task.pairs(rows), task.c[rows]
    one_hot = np.concatenate([np.eye(task.modulus, dtype=np.float32)[pairs[:, 0]],
                              np.eye(task.modulus, dtype=np.float32)[pairs[:, 1]]], axis=1)
    target = torch.from_numpy(np.eye(task.modulus, dtype=np.float32)[labels])
    models = {"pytorch_one_hot": (TorchMLP(ours, lookup=False), torch.from_numpy(one_hot)),
              "pytorch_lookup": (TorchMLP(ours, lookup=True), torch.from_numpy(pairs))}
    ours.loss_and_gradient(pairs, labels)
    checks = {}
    for name, (model, inputs) in models.items():
        F.mse_loss(model(inputs), target).backward()
        checks[name] = agree(ours.params.gradient("readout"), model.readout.grad.T, name)
        model.zero_grad(set_to_none=True)
    steppers = {"ours": our_stepper(ours, AdamW(1e-2, (0.9, 0.98), 1e-8, 5.0), pairs, labels)}
    steppers.update({name: torch_stepper(m, F.mse_loss, inputs, target, 1e-2, 5.0)
                     for name, (m, inputs) in models.items()})
    return steppers, checks


def main() -> int:
    task = modular_task(97, "x+y")
    record = {
        "machine": {"cpus": os.cpu_count(), "threads": ARGS.threads, "processor": platform.processor(),
                    "python": sys.version.split()[0], "numpy": np.__version__, "torch": torch.__version__,
                    "loadavg_before": list(os.getloadavg())},
        "rounds": ARGS.rounds, "steps_per_round": ARGS.steps,
    }
    for name, case in (("transformer", transformer_case), ("mlp", mlp_case)):
        steppers, checks = case(task, np.random.default_rng(0))
        timings = time_steppers(steppers, ARGS.rounds, ARGS.steps)
        ours = timings["ours"]["median_ms"]
        record[name] = {
            "step_ms": timings,
            "ratio_ours_over": {k: ours / v["median_ms"] for k, v in timings.items() if k != "ours"},
            "gradient_agreement_relative": checks,
        }
        print(f"{name}: " + ", ".join(f"{k} {v['median_ms']:.1f} ms" for k, v in timings.items()), file=sys.stderr)
    record["machine"]["loadavg_after"] = list(os.getloadavg())
    record["goal"] = "ours within 1.5x of PyTorch's step time"
    ARGS.out.parent.mkdir(parents=True, exist_ok=True)
    ARGS.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {ARGS.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
