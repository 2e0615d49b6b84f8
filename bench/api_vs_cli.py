"""Benchmark: the Python API's wall time against the CLI's for the same explain run.

Why: the API once ran 2.7x slower than the CLI because only the CLI asked
OpenMP for passive waiting; the settings now come with ``import autointerp``
(``autointerp.threads``). This runs the same explain twice in fresh processes
whose environment has none of those variables -- once as a notebook would
(``python -c "import autointerp; autointerp.explain(...)"``), once as the
console script (``python -m autointerp.cli.app explain ...``) -- alternating
the order over ``--repeat`` rounds, and prints each wall time, the voluntary
and involuntary context switches of each child and the API/CLI ratio of the
medians. No assertions.

Usage: ``python bench/api_vs_cli.py [--model tiny-gpt2] [--task ioi] [--n 8] [--max-steps 30] [--repeat 2]``
The default model is the tiny random GPT-2 (fast; the ratio is what matters);
``--model smollm2-135m`` runs the bundled model (minutes per run on a shared CPU).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = ("OMP_WAIT_POLICY", "TOKENIZERS_PARALLELISM", "TRANSFORMERS_VERBOSITY", "TRANSFORMERS_NO_ADVISORY_WARNINGS")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, voluntary and involuntary context switches of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{cmd[:4]} failed:\n{proc.stderr[-2000:]}")
    return wall, after.ru_nvcsw - before.ru_nvcsw, after.ru_nivcsw - before.ru_nivcsw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-gpt2")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    times: dict[str, list[float]] = {"api": [], "cli": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.repeat):
            for kind in (("api", "cli") if rnd % 2 == 0 else ("cli", "api")):
                db = f"sqlite:///{Path(tmp) / f'{kind}{rnd}.db'}"
                if kind == "api":
                    code = (f"import autointerp; autointerp.explain(task={args.task!r}, model={args.model!r}, "
                            f"n={args.n}, max_steps={args.max_steps}, db={db!r})")
                    cmd = [sys.executable, "-c", code]
                else:
                    cmd = [sys.executable, "-m", "autointerp.cli.app", "explain", "--task", args.task, "--model",
                           args.model, "--n", str(args.n), "--max-steps", str(args.max_steps), "--db", db, "--quiet"]
                wall, vol, invol = timed(cmd, env)
                times[kind].append(wall)
                print(f"round {rnd + 1} {kind}: {wall:7.1f} s   context switches: {vol:>9,} voluntary "
                      f"{invol:>9,} involuntary", flush=True)
    api, cli = statistics.median(times["api"]), statistics.median(times["cli"])
    print(f"{args.model} / {args.task} (n={args.n}, max-steps={args.max_steps}, with evaluation), "
          f"{os.cpu_count()} CPUs visible")
    print(f"median wall time: API {api:.1f} s, CLI {cli:.1f} s, API/CLI = {api / cli:.2f}")


if __name__ == "__main__":
    main()
