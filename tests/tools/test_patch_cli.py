"""``autointerp patch``: the JSON contract of DESIGN.md §6 and one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from autointerp.cli.app import app

KEYS = {"task", "model", "method", "direction", "metric", "n_pairs", "clean_metric", "corrupt_metric", "effects"}


def test_patch_json_has_exactly_the_contract_keys():
    result = CliRunner().invoke(app, ["patch", "--task", "ioi", "--model", "tiny-llama", "--n", "8", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == KEYS
    assert out["metric"] == "logit_diff" and out["method"] == "exact" and out["direction"] == "noising"
    assert len(out["effects"]) == 3 * 6  # n_layers * n_heads
    assert out["n_pairs"] == 8 and all(isinstance(v, float) for v in out["effects"].values())


def test_patch_attribution_denoising_mlps_and_table():
    runner = CliRunner()
    result = runner.invoke(app, ["patch", "--task", "ioi", "--model", "tiny-gpt2", "--n", "8", "--method", "attribution",
                                 "--direction", "denoising", "--components", "mlps", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == KEYS and set(out["effects"]) == {"L0.MLP", "L1.MLP", "L2.MLP"}
    table = runner.invoke(app, ["patch", "--task", "ioi", "--model", "tiny-neox", "--n", "8", "--components", "resid", "--top", "2"])
    assert table.exit_code == 0 and "L0.RESID" in table.stdout and "fraction of gap" in table.stdout


def test_patch_bad_option_is_one_sentence_and_exit_2():
    proc = subprocess.run(
        [sys.executable, "-c", "from autointerp.cli.app import main; main()", "patch", "--task", "ioi",
         "--model", "tiny-llama", "--method", "magic"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: Unknown method 'magic'; use one of exact, attribution."
    assert proc.stdout == ""
