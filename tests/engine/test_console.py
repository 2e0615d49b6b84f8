"""The console as a researcher meets it (issue 18): thread settings, no torch for listings,
stage lines in a log, tables sized to content in a pipe, empty results and user URLs in messages.

Every command runs in a subprocess with its output captured, i.e. exactly as in
a log or ``| cat``: stdout and stderr are not terminals.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import torch

from engine.adapters.base import causal_context
from engine.models.loading import load_model
from store import open_store
from store.urls import mask_url

CLEAN_ENV = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "TOKENIZERS_PARALLELISM", "TRANSFORMERS_VERBOSITY", "COLUMNS")}


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=CLEAN_ENV)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autointerp.cli.app", *args], capture_output=True, text=True,
                          timeout=600, env=CLEAN_ENV)


def test_importing_the_api_sets_passive_openmp_waiting_before_torch_loads():
    # the notebook entry point: nothing set in the environment, the API imported, then torch
    out = python("import os, sys, autointerp; loaded = 'torch' in sys.modules; "
                 "autointerp.explain; print(os.environ.get('OMP_WAIT_POLICY'), loaded, 'torch' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["PASSIVE", "False", "True"]


def test_batch_worker_module_gets_the_settings_too():
    out = python("import os, autointerp.batch.worker; print(os.environ.get('OMP_WAIT_POLICY'), "
                 "os.environ.get('TOKENIZERS_PARALLELISM'))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["PASSIVE", "false"]


def test_listing_commands_never_import_torch():
    code = ("import sys; sys.argv = ['autointerp', '{cmd}', '--json']\n"
            "from autointerp.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    for cmd in ("models", "tasks"):
        out = python(code.format(cmd=cmd))
        assert out.returncode == 0, out.stderr
        assert out.stderr.strip().endswith("NO-TORCH"), (cmd, out.stderr)


def test_a_long_description_is_not_cut_when_piped():
    out = cli("models")
    assert out.returncode == 0, out.stderr
    # the bundled model's whole description stays on one table row, not wrapped at 80 columns
    row = next(line for line in out.stdout.splitlines() if "smollm2-135m" in line)
    assert "bundled, offline" in row and len(row) > 80


def test_empty_runs_listing_says_so(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'x.db'}"):  # an existing, empty store (a missing one is an error)
        pass
    out = cli("runs", "--task", "no-such-task", "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"no runs match --task no-such-task in sqlite:///{tmp_path / 'x.db'}"


def test_internal_readonly_uri_is_shown_as_the_users_url(tmp_path):
    path = tmp_path / "a b.db"
    assert mask_url(f"sqlite:///file:{str(path).replace(' ', '%20')}?mode=ro&uri=true") == f"sqlite:///{path}"
    assert mask_url("postgresql://me:secret@host/db") == "postgresql://me:***@host/db"


def test_explain_in_a_log_prints_timestamped_stages_and_quiet_prints_none(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    args = ("explain", "--task", "ioi", "--model", "tiny-gpt2", "--n", "6", "--max-steps", "20", "--no-eval", "--db", db)
    out = cli(*args)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    stamped = [line for line in lines if re.match(r"^\d\d:\d\d:\d\d ", line)]
    stages = [line[9:] for line in stamped]
    assert "localise" in stages and "survey" in stages and any(s.startswith("studying L") for s in stages)
    assert any(s.startswith("run id: run-") for s in stages)
    assert "FutureWarning" not in out.stderr and "Warning" not in out.stderr
    quiet = cli(*args, "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr.strip() == ""


def test_causal_mask_raises_no_deprecation_warning():
    target = load_model("tiny-llama")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ctx = causal_context(target.adapter, torch.zeros(1, 5, target.model.config.hidden_size))
    assert ctx["position_ids"].tolist() == [[0, 1, 2, 3, 4]]
