"""``autointerp patch``: the JSON contract of DESIGN.md §6 (plus ``variant``) and one-sentence errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from autointerp.cli.app import app
from engine.attribution import attribution_sweep
from engine.models import load_model
from engine.tasks import load_task

DESIGN_KEYS = {"task", "model", "method", "direction", "metric", "n_pairs", "clean_metric", "corrupt_metric", "effects"}
KEYS = DESIGN_KEYS | {"variant"}


def test_patch_json_has_exactly_the_contract_keys():
    result = CliRunner().invoke(app, ["patch", "--task", "ioi", "--model", "tiny-llama", "--n", "8", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == KEYS
    assert out["metric"] == "logit_diff" and out["method"] == "exact" and out["direction"] == "noising"
    assert out["variant"] == "exact"
    assert len(out["effects"]) == 3 * 6  # n_layers * n_heads
    assert out["n_pairs"] == 8 and all(isinstance(v, float) for v in out["effects"].values())


def test_patch_attribution_denoising_mlps_and_table():
    runner = CliRunner()
    result = runner.invoke(app, ["patch", "--task", "ioi", "--model", "tiny-gpt2", "--n", "8", "--method", "attribution",
                                 "--direction", "denoising", "--components", "mlps", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == KEYS and set(out["effects"]) == {"L0.MLP", "L1.MLP", "L2.MLP"}
    assert out["method"] == "attribution" and out["variant"] == "atp"  # the alias names the default variant
    table = runner.invoke(app, ["patch", "--task", "ioi", "--model", "tiny-neox", "--n", "8", "--components", "resid", "--top", "2"])
    assert table.exit_code == 0 and "L0.RESID" in table.stdout and "fraction of gap" in table.stdout


def test_patch_bad_option_is_one_sentence_and_exit_2():
    proc = subprocess.run(
        [sys.executable, "-c", "from autointerp.cli.app import main; main()", "patch", "--task", "ioi",
         "--model", "tiny-llama", "--method", "magic"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: Unknown method 'magic'; use one of exact, atp, atp*, ig, attribution."
    assert proc.stdout == ""


def test_patch_variants_print_the_engine_estimates():
    """``--method atp*|ig`` run the same estimates as the engine (the model loaded independently here)."""
    runner = CliRunner()
    target = load_model("tiny-llama")
    data = load_task("ioi", target, n=8)
    for args, kwargs in ((["--method", "ig", "--ig-steps", "3"], {"method": "ig", "ig_steps": 3}),
                         (["--method", "atp*"], {"method": "atp*"})):
        result = runner.invoke(app, ["patch", "--task", "ioi", "--model", "tiny-llama", "--n", "8", "--components", "mlps",
                                     "--direction", "denoising", "--json", *args])
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert out["method"] == "attribution" and out["variant"] == kwargs["method"]
        assert set(out) == KEYS | ({"ig_steps"} if kwargs["method"] == "ig" else set())
        want = attribution_sweep(target, data, ["L0.MLP", "L1.MLP", "L2.MLP"], "denoising", **kwargs).effects
        assert out["effects"] == pytest.approx(want, abs=1e-6)
    assert json.loads(runner.invoke(app, ["patch", "--task", "ioi", "--model", "tiny-llama", "--n", "8", "--method", "ig",
                                          "--json"]).stdout)["ig_steps"] == 5


@pytest.mark.parametrize(("args", "sentence"), [
    (["--method", "atp", "--ig-steps", "4"], "error: --ig-steps applies to --method ig only, not to atp."),
    (["--method", "ig", "--ig-steps", "0"], "error: IG steps must be an integer from 1 to 1024; got 0."),
])
def test_patch_ig_steps_errors_are_one_sentence(args, sentence):
    proc = subprocess.run(
        [sys.executable, "-c", "from autointerp.cli.app import main; main()", "patch", "--task", "ioi",
         "--model", "tiny-llama", *args],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip() == sentence and proc.stdout == ""
