"""``Lab(model, task)``: the tools as plain methods (issue 18), and the README example that documents it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autointerp import Lab
from engine.models.loading import load_model
from engine.tasks import build_task
from tools.base import ToolError
from tools.logit_lens import is_word
from tools.results import ActivationPatchingResult, LogitLensResult, PathPatchingResult

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The README's Python block that uses ``Lab``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    [block] = [b for b in blocks if "from autointerp import Lab" in b]
    return block


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-gpt2")


def test_readme_example_runs_and_returns_typed_results(tiny, capsys):
    code = readme_example()
    assert 'Lab("smollm2-135m", "ioi", n=8)' in code
    # the same notebook code on the tiny model (the bundled one is the slow test below)
    namespace: dict = {}
    exec(compile(code.replace('Lab("smollm2-135m"', "Lab(_tiny"), "README.md", "exec"), {"_tiny": tiny}, namespace)
    assert isinstance(namespace["sweep"], ActivationPatchingResult)
    assert isinstance(namespace["lens"], LogitLensResult) and isinstance(namespace["path"], PathPatchingResult)
    effects = namespace["sweep"].effects
    assert namespace["top"] == sorted(effects, key=lambda c: effects[c])[:3] and len(effects) == 12
    assert set(namespace["lens"].direct_effects) == set(namespace["top"])
    assert namespace["path"].sender == namespace["top"][0] and namespace["path"].receivers == ["logits"]
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].startswith(f"Path patching (noising) {namespace['top'][0]} -> logits")


def test_lab_uses_the_requested_pairs_and_raises_one_sentence(tiny):
    lab = Lab(tiny, "ioi", n=6, seed=3)
    expected = build_task("ioi", tiny.tokenizer, n=6, seed=3).pairs
    assert lab.data.task.pairs == expected and lab.data.n_pairs == 6
    with pytest.raises(ToolError, match=r"out of range: this model has layers 0\.\.2\."):
        lab.logit_lens(components=["L9.H0"])
    with pytest.raises(ToolError, match="Invalid arguments for path_patching"):
        lab.path_patching(receivers=["logits"])
    assert lab.summaries == []  # failed calls add no summary


@pytest.mark.slow
def test_readme_example_runs_verbatim_on_the_bundled_model():
    namespace: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    assert isinstance(namespace["lens"], LogitLensResult) and len(namespace["sweep"].effects) == 270


def test_logit_lens_lists_whole_words_in_the_raw_order(tiny):
    lab = Lab(tiny, "ioi", n=6)
    task_words = {w.strip() for p in lab.data.task.pairs for w in (p.answer, p.distractor)}
    words = lab.logit_lens(components=["L2.MLP", "L1.H0"], top_k=5).components
    raw = lab.logit_lens(components=["L2.MLP", "L1.H0"], top_k=50, whole_words=False).components
    for cid in ("L2.MLP", "L1.H0"):
        listed = [t for t, _ in words[cid].promoted]
        assert listed and all(is_word(t, task_words) for t in listed)
        # the same ranking as the unfiltered list, with the pieces left out
        expected = [t for t, _ in raw[cid].promoted if is_word(t, task_words)][:5]
        assert listed[: len(expected)] == expected
        values = [v for _, v in words[cid].promoted]
        assert values == sorted(values, reverse=True)
    assert any(not is_word(t, task_words) for cid in raw for t, _ in raw[cid].promoted or [])
