"""How fast is digitcourse's training loop? Prints a markdown table of ratios measured in this run.

    python benchmarks/run.py                 # full MNIST, CPU (a few minutes on 2 cores)
    python benchmarks/run.py --quick         # a tenth of MNIST, one repetition: a smoke test
    python benchmarks/run.py --device cuda   # the same on the GPU, plus a CNN's time to 99% accuracy

Every contender trains the same network from the same initial weights on the same images; each
figure is the median over the repetitions, taken in turn (A, B, C, A, B, C, ...) so that a busy machine
slows all of them alike. The machine's peak (a 4096 x 4096 float32 matrix product on all of torch's
threads) takes its turn with them, and each row's arithmetic rate is shown as a share of it, with the
FLOPs counted as the training step dispatches them. See benchmarks/README.md for what each row measures.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import digitcourse as dc  # noqa: E402
from digitcourse.checks import check_device  # noqa: E402


class TutorialMNIST(torch.utils.data.Dataset):
    """Per-sample access as torchvision's MNIST with ToTensor() and Normalize((0.1307,), (0.3081,)).

    images: [N, 28, 28] uint8, labels: [N] int64; item i -> (x [1, 28, 28] float32, label int).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.array(image, dtype=np.uint8)).float().div(255).unsqueeze(0)
        return (x - 0.1307) / 0.3081, int(self.labels[i])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def tutorial_epoch(model: torch.nn.Module, data: dc.data.DigitData, device: torch.device) -> float:
    """One epoch as in pytorch/examples' mnist: Dataset -> shuffling DataLoader(64) -> Adam step."""
    images = (data.train.x[:, 0] * 255).round().to(torch.uint8).cpu().numpy()
    loader_options = dict(num_workers=1, pin_memory=True) if device.type == "cuda" else {}
    loader = torch.utils.data.DataLoader(TutorialMNIST(images, data.train.y.cpu().numpy()), batch_size=64,
                                         shuffle=True, **loader_options)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    model.train()
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - started


def bare_epoch(model: torch.nn.Module, data: dc.data.DigitData, device: torch.device) -> float:
    """One epoch over the in-memory tensors: index a batch, forward, loss, backward, step; nothing else."""
    x_all, y_all = data.train.x, data.train.y
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    model.train()
    order = torch.randperm(len(y_all)).to(device)
    for start in range(0, len(y_all), 64):
        index = order[start:start + 64]
        loss = F.cross_entropy(model(x_all[index]), y_all[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - started


def fit_epoch(model: torch.nn.Module, data: dc.data.DigitData, device: torch.device,
              precision: str = "float32") -> float:
    started = time.perf_counter()
    dc.fit(model, data, epochs=1, batch_size=64, lr=1e-3, precision=precision, progress=False)
    synchronize(device)
    return time.perf_counter() - started


def fit_bfloat16_epoch(model: torch.nn.Module, data: dc.data.DigitData, device: torch.device) -> float:
    """`fit_epoch` with precision="bfloat16": each step's forward and backward under bfloat16 autocast."""
    return fit_epoch(model, data, device, precision="bfloat16")


def trials_seconds(data: dc.data.DigitData, vectorize: bool) -> float:
    """Training seconds for 10 seeds of an MLP 784-128-10, one epoch at batch 128 (evaluation excluded)."""
    trials = dc.run_trials(lambda: dc.models.mlp(784, (128,), 10), data, seeds=10, epochs=1,
                           batch_size=128, vectorize=vectorize, progress=False)
    return float(trials.final["seconds"].iloc[0]) * 10


PEAK_SIZE = 4096  # the matrix product that measures the peak: size x size


def peak_seconds(device: torch.device, repeats: int = 2, dtype: torch.dtype = torch.float32) -> float:
    """Seconds of one PEAK_SIZE x PEAK_SIZE matrix product in `dtype` on all of torch's threads (the best
    of `repeats`): the most arithmetic per second this machine gives a training step in that dtype."""
    a, b = (torch.randn(PEAK_SIZE, PEAK_SIZE, device=device, dtype=dtype) for _ in range(2))
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


def flops_per_image(make_model: Callable[[], torch.nn.Module], batch: int = 64) -> float:
    """FLOPs one training image costs: forward, loss and backward of a step, as the step dispatches
    them (torch's FlopCounterMode counts every matrix product and convolution). The images need no
    gradient, so the first layer costs its forward and weight gradient only (4 FLOPs a weight and
    image), the others also their input's gradient (6); the optimizer's elementwise work is left out."""
    model = make_model()
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch


def medians(contenders: dict[str, Callable[[int], float]], repeats: int) -> dict[str, float]:
    """Median seconds of each contender, called in turn with the repetition number."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repetition in range(repeats):
        for name, run in contenders.items():
            times[name].append(run(repetition))
            print(f"  {name}: {times[name][-1]:.2f} s", file=sys.stderr, flush=True)
    return {name: statistics.median(t) for name, t in times.items()}


def on_fresh_mlp(epoch: Callable, data: dc.data.DigitData, device: torch.device) -> Callable[[int], float]:
    """A contender that trains a new MLP 784-256-256-10 (seeded by the repetition) for one epoch."""
    def run(repetition: int) -> float:
        torch.manual_seed(repetition)
        return epoch(dc.models.mlp(784, (256, 256), 10).to(device), data, device)
    return run


def on_fresh_cnn(epoch: Callable, data: dc.data.DigitData, device: torch.device) -> Callable[[int], float]:
    """A contender that trains a new simple CNN (dc.models.cnn(), seeded by the repetition) for one epoch."""
    def run(repetition: int) -> float:
        torch.manual_seed(repetition)
        return epoch(dc.models.cnn().to(device), data, device)
    return run


def time_to_accuracy(data: dc.data.DigitData, target: float = 0.99, epochs: int = 15) -> tuple[float, int]:
    """Seconds and epochs for the simple CNN (Adam, batch 128) to first reach `target` test accuracy.

    The test split stands in as the monitored split, so each epoch's val_accuracy is the test accuracy.
    """
    watched = dc.data.DigitData(data.name, data.train, data.test, data.test, data.classes)
    torch.manual_seed(0)
    history = dc.fit(dc.models.cnn(), watched, epochs=epochs, batch_size=128, progress=False)
    reached = history.epochs[history.epochs["val_accuracy"] >= target]
    if reached.empty:
        return float("nan"), epochs
    epoch = int(reached["epoch"].iloc[0])
    return float(history.epochs["seconds"].iloc[:epoch].sum()), epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of MNIST, one repetition")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per row (default 5)")
    args = parser.parse_args()
    device = check_device(args.device)
    repeats = args.repeats or (1 if args.quick else 5)
    data = dc.data.load("mnist", val_fraction=0.0, subset=0.1 if args.quick else None, device=device)
    load = os.getloadavg()[0]
    print(f"MNIST: {len(data.train):,} training images; device {device}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; median of {repeats}; load average {load:.1f} on "
          f"{os.cpu_count()} cores at the start.\n")
    if load > 0.5 * os.cpu_count():
        print("Warning: other processes are using the CPU; torch's threads then wait for one another "
              "and the timings may be many times too slow. Run on an idle machine, or with "
              "OMP_WAIT_POLICY=PASSIVE to keep the slowdown in proportion.\n")

    small = dc.data.DigitData(data.name, data.train.take(torch.arange(2000)), data.val, data.test,
                              data.classes)
    for warm_up in (tutorial_epoch, bare_epoch, fit_epoch):
        on_fresh_mlp(warm_up, small, device)(0)
    trials_seconds(small, True)
    peak_seconds(device)
    for warm_up in (bare_epoch, fit_epoch, fit_bfloat16_epoch):
        on_fresh_cnn(warm_up, small, device)(0)

    peak_in_turn = {"peak": lambda _: peak_seconds(device)}  # measured with each group, under its load
    one_epoch = medians({**{name: on_fresh_mlp(epoch, data, device) for name, epoch in
                            (("tutorial", tutorial_epoch), ("bare", bare_epoch), ("fit", fit_epoch))},
                         **peak_in_turn}, repeats)
    seeds = medians({"vmap": lambda _: trials_seconds(data, True),
                     "sequential": lambda _: trials_seconds(data, False), **peak_in_turn}, repeats)
    cnn = medians({**{name: on_fresh_cnn(epoch, data, device) for name, epoch in
                      (("cnn bare", bare_epoch), ("cnn fit", fit_epoch), ("cnn fit bf16", fit_bfloat16_epoch))},
                   **peak_in_turn, "peak bf16": lambda _: peak_seconds(device, dtype=torch.bfloat16)}, repeats)
    peak = 2 * PEAK_SIZE ** 3 / statistics.median([one_epoch["peak"], seeds["peak"], cnn["peak"]]) / 1e9
    peak_bf16 = 2 * PEAK_SIZE ** 3 / cnn["peak bf16"] / 1e9

    tutorial, bare, fit = one_epoch["tutorial"], one_epoch["bare"], one_epoch["fit"]
    vmap, sequential = seeds["vmap"], seeds["sequential"]
    images = len(data.train)
    epoch_gflop = {"mlp": flops_per_image(lambda: dc.models.mlp(784, (256, 256), 10)) * images / 1e9,
                   "trials": 10 * flops_per_image(lambda: dc.models.mlp(784, (128,), 10)) * images / 1e9,
                   "cnn": flops_per_image(dc.models.cnn) * images / 1e9}
    both = (peak, peak)  # each row ends with the peaks its two shares are taken of, in their dtypes
    rows = [
        ("`fit` vs the tutorial Dataset + DataLoader loop (MLP 784-256-256-10, batch 64)", "mlp", fit,
         tutorial, f"{tutorial / fit:.2f}x faster", ">= 2.5x", tutorial / fit >= 2.5, both),
        ("`fit` vs a bare loop over the same tensors (plain `torch.optim.Adam`)", "mlp", fit, bare,
         f"{fit / bare:.2f}x the time", "<= 0.85x", fit / bare <= 0.85, both),
        ("`run_trials`, 10 seeds at once vs one after another (MLP 784-128-10, batch 128)", "trials",
         vmap, sequential, f"{sequential / vmap:.2f}x faster", ">= 2.5x", sequential / vmap >= 2.5, both),
        ("`run_trials`, 10 seeds at once: share of the peak", "trials", vmap, sequential,
         f"{epoch_gflop['trials'] / vmap / peak:.0%} of peak", ">= 60%",
         epoch_gflop["trials"] / vmap >= 0.6 * peak, both),
        ("`fit` vs a bare loop over the same tensors (the simple CNN of `dc.models.cnn()`, batch 64)", "cnn",
         cnn["cnn fit"], cnn["cnn bare"], f"{cnn['cnn fit'] / cnn['cnn bare']:.2f}x the time", "<= 1.0x",
         cnn["cnn fit"] <= cnn["cnn bare"], both),
        ("`fit(precision=\"bfloat16\")` vs `fit` in float32 (the simple CNN, batch 64; share of the bfloat16 "
         "peak)", "cnn", cnn["cnn fit bf16"], cnn["cnn fit"], f"{cnn['cnn fit'] / cnn['cnn fit bf16']:.2f}x faster",
         "faster", cnn["cnn fit bf16"] < cnn["cnn fit"], (peak_bf16, peak)),
    ]
    print(f"One epoch: {epoch_gflop['mlp']:.0f} GFLOP (MLP 784-256-256-10), {epoch_gflop['trials']:.0f} GFLOP "
          f"(10 MLPs 784-128-10), {epoch_gflop['cnn']:.0f} GFLOP (simple CNN); peak {peak:.0f} GFLOP/s in "
          f"float32, {peak_bf16:.0f} GFLOP/s in bfloat16.\n")
    print("| benchmark (one epoch) | digitcourse (s) | baseline (s) | ratio | goal | met "
          "| digitcourse, % of peak | baseline, % of peak |")
    print("|---|---:|---:|---:|---|---|---:|---:|")
    for name, network, ours, baseline, ratio, goal, met, peaks in rows:
        shares = [f"{epoch_gflop[network] / seconds / top:.0%}" for seconds, top in zip((ours, baseline), peaks)]
        print(f"| {name} | {ours:.2f} | {baseline:.2f} | {ratio} | {goal} | {'yes' if met else 'NO'} "
              f"| {shares[0]} | {shares[1]} |")
    if device.type == "cuda":
        seconds, epochs = time_to_accuracy(data)
        reached = not math.isnan(seconds)
        print(f"| simple CNN (batch 128, Adam) to 99.0% test accuracy | {seconds:.1f} | - | "
              f"{epochs} epochs | reach it | {'yes' if reached else 'NO'} |")
    else:
        print("\nThe CNN time-to-99% row runs only with --device cuda.")


if __name__ == "__main__":
    main()
