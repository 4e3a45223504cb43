"""Training throughput: full-batch Adam steps per second on a 1→d→1 ReLU net, float64.

Our step (:func:`approx.train.train`, fast engine, history and divergence checks
included) against PyTorch CPU eager (same net, dtype, data and thread count, in this
process) and scikit-learn's ``MLPRegressor`` (Adam, one epoch per step) if installed.

    python benchmarks/bench_train.py            # d = 16 … 4096
    python benchmarks/bench_train.py --quick    # fewer steps
    python benchmarks/bench_train.py --threads 2   # both libraries on 2 threads
    env -u OPENBLAS_CORETYPE python benchmarks/bench_train.py   # without the override

The thread count (default 1) is applied to both OpenBLAS (before numpy loads) and
PyTorch; one thread keeps the comparison stable on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings


def _threads_from_argv() -> int:
    # OpenBLAS reads its thread count once, when numpy is first imported
    if "--threads" in sys.argv:
        return int(sys.argv[sys.argv.index("--threads") + 1])
    return 1


os.environ["OPENBLAS_NUM_THREADS"] = str(_threads_from_argv())

import numpy as np  # noqa: E402

from approx.nn import MLP  # noqa: E402
from approx.train import train  # noqa: E402

N = 1024
WIDTHS = (16, 64, 256, 1024, 4096)


def steps_for(d: int, quick: bool) -> int:
    base = max(20, min(2000, 400_000 // d))
    return max(10, base // 5) if quick else base


def ours(x: np.ndarray, y: np.ndarray, d: int, steps: int, fast: bool = True) -> float:
    net = MLP([1, d, 1], rng=np.random.default_rng(0))
    train(net, x, y, "adam", steps=5, lr=1e-3, fast=fast)  # warm-up
    t0 = time.perf_counter()
    train(net, x, y, "adam", steps=steps, lr=1e-3, fast=fast)
    return steps / (time.perf_counter() - t0)


def pytorch(x: np.ndarray, y: np.ndarray, d: int, steps: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(1, d), torch.nn.ReLU(), torch.nn.Linear(d, 1)
    ).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, Y = torch.tensor(x[:, None]), torch.tensor(y[:, None])

    def step() -> None:
        opt.zero_grad()
        loss = 0.5 * ((model(X) - Y) ** 2).mean()
        loss.backward()
        opt.step()
        loss.item()  # like ours, read the loss every step

    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0)


def sklearn(x: np.ndarray, y: np.ndarray, d: int, steps: int) -> float | None:
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor
    except ImportError:
        return None
    steps = max(5, steps // 4)
    reg = MLPRegressor(
        hidden_layer_sizes=(d,),
        solver="adam",
        batch_size=N,
        max_iter=steps,
        tol=0.0,
        n_iter_no_change=steps + 1,
        learning_rate_init=1e-3,
        random_state=0,
        shuffle=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        reg.fit(x[:, None], y)
    return steps / (time.perf_counter() - t0)


def _fmt(v: float | None) -> str:
    return f"{v:9.0f}" if v is not None else f"{'-':>9}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps per width")
    parser.add_argument("--widths", type=int, nargs="*", default=list(WIDTHS))
    parser.add_argument("--threads", type=int, default=1, help="threads for both libraries")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
        threads = f"torch threads {torch.get_num_threads()}"
    except ImportError:
        threads = "torch not installed"
    print(
        f"N = {N}, float64, full batch; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"
        f"; OpenBLAS threads {os.environ['OPENBLAS_NUM_THREADS']}; {threads}; cpus {os.cpu_count()}"
    )
    x = np.linspace(-1.0, 1.0, N)
    y = np.sin(2 * np.pi * x)
    print(
        f"{'d':>6} {'ours/s':>9} {'general/s':>10} {'torch/s':>9} {'sklearn/s':>10} "
        f"{'ours/torch':>11} {'ours/sklearn':>13}"
    )
    for d in args.widths:
        steps = steps_for(d, args.quick)
        a = ours(x, y, d, steps)
        g = ours(x, y, d, max(5, steps // 4), fast=False)
        t = pytorch(x, y, d, steps)
        s = sklearn(x, y, d, steps)
        ratio_t = f"{a / t:10.2f}x" if t is not None else f"{'-':>11}"
        ratio_s = f"{a / s:12.2f}x" if s is not None else f"{'-':>13}"
        print(f"{d:>6} {_fmt(a)} {_fmt(g):>10} {_fmt(t)} {_fmt(s):>10} {ratio_t} {ratio_s}")


if __name__ == "__main__":
    main()
