"""Workers start light: a spawned pool worker of a sweep started by the console script
(which every worker imports again as its main module) loads neither pandas, matplotlib
nor what only other method kinds need, before or after a construction run."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: modules a construction run never needs: the figures, the tables, the training loops
#: (numba), scipy's optimizers, interpolation and linear algebra
HEAVY = ("pandas", "matplotlib", "numba", "approx.train.recipe", "approx.train.training",
         "scipy.optimize", "scipy.interpolate", "scipy.linalg", "scipy.special")

_SCRIPT = textwrap.dedent(f"""
    import sys
    from approx.cli import main  # as the console script does, outside its main guard

    HEAVY = {HEAVY!r}


    def loaded():
        return sorted(m for m in HEAVY if m in sys.modules)


    if __name__ == "__main__":
        from approx.experiment import parse_config
        from approx.experiment.executors import _new_pool
        from approx.experiment.expansion import expand
        from approx.experiment.worker import execute

        print("parent", loaded())
        config = parse_config('name = "w"\\nwidths = [8]\\n[[targets]]\\nname = "runge"\\n'
                              '[[methods]]\\nname = "u"\\nkind = "relu-interpolant"\\n')
        run = next(iter(expand(config)))
        pool = _new_pool(1)
        try:
            result = pool.submit(execute, run).result()
            print("run", result.status.value, result.max_error_tight)
            expression = "sorted(m for m in {HEAVY!r} if m in __import__('sys').modules)"
            print("worker", pool.submit(eval, expression).result())
        finally:
            pool.shutdown()
""")


@pytest.mark.slow  # a spawned worker: about 2 s on a quiet machine
def test_a_spawned_worker_of_the_console_script_loads_nothing_heavy(tmp_path):
    script = tmp_path / "run_experiment_like.py"
    script.write_text(_SCRIPT, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["parent []", "run ok True", "worker []"], proc.stdout


def test_importing_the_worker_or_the_cli_loads_nothing_heavy():
    code = ("import sys, approx.experiment.worker, approx.cli; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"
