"""Regenerate the README's gallery: the figures and tables under ``gallery/``.

Each gallery folder is cut from a fresh run of a shipped config (or, for
``bench_memory``, of ``benchmarks/bench_memory.py``) in a temporary folder: only the
files the README shows are copied into ``gallery/<name>/``, so the stores, models and
other figures of those runs never enter the checkout. Every line printed says whether a
file came out byte for byte as committed.

    python tools/gallery.py                        # all of it (2.5 min of CPU time)
    python tools/gallery.py quickstart sawtooth    # some folders
    python tools/gallery.py --check                # compare only: exit 1 if a table differs

The sweeps' tables are deterministic on one machine (with the compiled engine, as the
default install has it): ``--check`` compares them byte for byte, except the columns
that hold times or say who computed a run (``fit_seconds``, ``eval_seconds``,
``finished_at``, ``invocation``, ``host``, and the optimum's ``info_seconds_fit`` and
``info_seconds_lower`` of ``sawtooth/runs.csv``; ``bench_memory``'s
times), and ``bench_memory``'s figure, which
draws its times.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "gallery"

# folder name → the files the README shows, relative to the sweep's results folder
FILES: dict[str, tuple[str, ...]] = {
    "quickstart": ("summary.csv", "plots/convergence.png", "plots/gap.png"),
    "linear_regions": ("summary.csv", "plots/regions_blobs-5.png"),
    "features": ("summary.csv", "plots/accuracy.png", "plots/regions_spirals.png"),
    "sawtooth": ("summary.csv", "runs.csv", "plots/params.png"),
    "depth": ("summary.csv", "plots/params.png"),
    "bench_memory": ("memory_time.csv", "memory_time.png"),
}
# columns that describe this run (times, and the invocation and host that computed it),
# not results: left out of comparisons
MEASURED = {
    "sawtooth/runs.csv": ("fit_seconds", "eval_seconds", "finished_at", "invocation", "host",
                          "info_seconds_fit", "info_seconds_lower"),
    "bench_memory/memory_time.csv": ("ms_per_step", "time_ratio", "ratio_min", "ratio_max"),
}
BENCHMARKS = ("bench_memory",)  # their figures draw times: rewritten on every run


def command(name: str, out: Path, jobs: int | None) -> list[str]:
    """The command that writes the folder ``name`` into ``out``."""
    if name == "bench_memory":
        return [sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--out", str(out)]
    config = ROOT / "experiments" / f"{name}.toml"
    jobs_option = [] if jobs is None else ["--jobs", str(jobs)]
    return [sys.executable, "-m", "approx", str(config), "--out", str(out), "--quiet",
            *jobs_option]


def agree(key: str, new: bytes, old: bytes | None) -> bool:
    """Whether a regenerated file equals the committed one, its measured columns aside.

    Every other cell is compared as text, so a number agrees only to its last digit.
    """
    if old is None:
        return False
    if new == old or key not in MEASURED:
        return new == old
    import pandas as pd

    def cells(data: bytes) -> pd.DataFrame:
        table = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
        return table.drop(columns=[c for c in MEASURED[key] if c in table.columns])

    return cells(new).equals(cells(old))


def regenerate(name: str, jobs: int | None, check: bool) -> bool:
    """Run one gallery entry in a temporary folder; copy its changed files unless ``check``.

    A file that agrees with the committed one but for measured times is left as it is
    (so regenerating an unchanged gallery leaves the checkout clean), except a
    benchmark's, which is all measurement.
    """
    with tempfile.TemporaryDirectory(prefix=f"gallery-{name}-") as tmp:
        out = Path(tmp) / name
        done = subprocess.run(command(name, out, jobs), cwd=ROOT, check=False)
        if done.returncode != 0:
            print(f"{name}: the command failed (exit {done.returncode}); gallery/{name} unchanged")
            return False
        ok = True
        for relative in FILES[name]:
            key, target = f"{name}/{relative}", GALLERY / name / relative
            new = (out / relative).read_bytes()
            old = target.read_bytes() if target.exists() else None
            same = agree(key, new, old)
            timing = name in BENCHMARKS and relative.endswith(".png")
            ok &= same or timing
            if new == old:
                word = "as committed, byte for byte"
            elif same:
                word = "as committed but for the times measured"
            else:
                word = "differs (times measured)" if timing else "DIFFERS"
            print(f"gallery/{key}: {word}", flush=True)
            if not check and (not same or name in BENCHMARKS) and new != old:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / relative, target)
        return ok


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or with ``--check`` compare) the named folders; 0 when all agree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"gallery folders to regenerate (default: all of {', '.join(FILES)})")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes per sweep")
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files, write nothing")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in FILES]
    if unknown:
        parser.error(f"no gallery folder {unknown[0]!r}; choose from {', '.join(FILES)}")
    results = [regenerate(name, args.jobs, args.check) for name in args.names or FILES]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
