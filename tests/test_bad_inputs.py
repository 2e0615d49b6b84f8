"""Every bad input ends in one sentence and exit code 2 -- and nothing is created, crashed or misread.

The CLI cases run the console entry point (``main``): in a subprocess where a
model is loaded, in process where the input is refused before anything is
loaded; the rest check the readers (JSONL tasks, probe labels, descriptions)
directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agents.describe import headline
from agents.evidence import ComponentEvidence
from autointerp.cli.app import main
from engine.errors import TaskFormatError
from engine.tasks import load_task
from engine.tasks.jsonl import load_jsonl
from store import open_store, start_run
from tools.base import ToolContext, run_tool
from tools.registry import TOOLS

ROOT = Path(__file__).resolve().parents[1]


def autointerp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autointerp.cli.app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def main_in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """``autointerp ARGS`` through the real entry point, in this process."""
    old = sys.argv
    sys.argv = ["autointerp", *args]
    try:
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def one_sentence(proc: subprocess.CompletedProcess, expected: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr[-2000:]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def long_task(tmp_path_factory) -> str:
    """A task whose prompts are longer than tiny-gpt2's 256 positions."""
    path = tmp_path_factory.mktemp("long") / "long.jsonl"
    filler = "and then the story went on " * 60
    path.write_text(json.dumps({"clean": filler + "When Mary and John went out, John gave it to",
                                "corrupt": filler + "When Mary and John went out, Anne gave it to",
                                "answer": " Mary", "distractor": " John"}) + "\n")
    return str(path)


@pytest.mark.parametrize("command", [
    ("task", "check", "{task}", "--model", "tiny-gpt2"),
    ("patch", "--task", "{task}", "--model", "tiny-gpt2"),
    ("explain", "--task", "{task}", "--model", "tiny-gpt2", "--no-eval", "--db", "{db}"),
], ids=["task-check", "patch", "explain"])
def test_a_prompt_longer_than_the_context_is_refused_before_any_forward(command, long_task, tmp_path):
    args = [a.format(task=long_task, db=f"sqlite:///{tmp_path / 'runs.db'}") for a in command]
    proc = autointerp(*args)
    one_sentence(proc, "line 1 of long.jsonl: the prompt is")
    assert "reads at most 256 positions" in proc.stderr
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("args, option", [
    (("task", "check", "ioi", "--model", "tiny-gpt2", "--seed", "18446744073709551617"), "--seed"),
    (("task", "check", "ioi", "--model", "tiny-gpt2", "--n", "0"), "--n"),
    (("task", "check", "ioi", "--model", "tiny-gpt2", "--n", "-1"), "--n"),
    (("patch", "--task", "ioi", "--model", "tiny-gpt2", "--n", "100000000"), "--n"),
    (("patch", "--task", "ioi", "--model", "tiny-gpt2", "--top", "-1"), "--top"),
    (("explain", "--task", "ioi", "--model", "tiny-gpt2", "--permute-heads", "-1"), "--permute-heads"),
    (("explain", "--task", "ioi", "--model", "tiny-gpt2", "--max-steps", "-1"), "--max-steps"),
    (("explain", "--task", "ioi", "--model", "tiny-gpt2", "--max-llm-requests", "-5"), "--max-llm-requests"),
    (("runs", "--limit", "99999999999999999999"), "--limit"),
    (("runs", "--status", "bogus"), "--status"),
    (("eval", "run-x", "--null-draws", "99999999999999"), "--null-draws"),
])
def test_numeric_and_choice_options_are_bounded(args, option, tmp_path, capsys):
    db = tmp_path / "runs.db"
    proc = main_in_process(capsys, *args, "--db", f"sqlite:///{db}") if args[0] in ("runs", "eval", "explain") \
        else main_in_process(capsys, *args)
    one_sentence(proc, option)
    assert not db.exists()


def test_the_limits_are_stated_in_help(capsys):
    explain = main_in_process(capsys, "explain", "--help").stdout
    assert "1..4096" in explain and "0..4294967295" in explain
    assert "200..100000" in main_in_process(capsys, "eval", "--help").stdout


@pytest.mark.parametrize("command", [("runs",), ("audit", "run-x"), ("eval", "run-x"), ("resume", "run-x")])
def test_reading_a_missing_database_does_not_create_one(command, tmp_path, capsys):
    db = tmp_path / "typo" / "runs.db"
    proc = main_in_process(capsys, *command, "--db", f"sqlite:///{db}")
    one_sentence(proc, f"There is no database at {db}")
    assert not db.exists() and not db.parent.exists()


def test_eval_original_only_for_a_permuted_run(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as st:
        run_id = start_run(st, task="ioi", model="tiny-gpt2", agent="scripted",
                           config={"task": "ioi", "model": "tiny-gpt2"})
    one_sentence(main_in_process(capsys, "eval", run_id, "--original", "nope", "--db", url), "--original applies only")


def test_json_roles_must_be_offsets_not_booleans(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"clean": "a b", "corrupt": "a c", "answer": " x", "distractor": " y",
                                "roles": {"IO": True}}) + "\n")
    with pytest.raises(TaskFormatError, match="line 1 of t.jsonl: roles must map"):
        load_jsonl(path)


def test_a_jsonl_line_may_hold_a_line_separator_character(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"clean": "Mary\u2028and John went out; John gave it to", "corrupt": "Mary\u2028and John went out; "
             "Anne gave it to", "answer": " Mary", "distractor": " John"},
            {"clean": "x\u2029y", "corrupt": "x\u2029z", "answer": " a", "distractor": " b"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n", encoding="utf-8")
    task = load_jsonl(path)
    assert [p.clean for p in task.pairs] == [r["clean"] for r in rows]


def test_probe_labels_are_bounded_class_indices(load):
    target = load("tiny-gpt2")
    ctx = ToolContext(target, load_task("ioi", target, n=4))
    out = run_tool(TOOLS["probe"], ctx, {"component": "L0.RESID", "label": "custom", "labels": [0, 10**12, 0, 1]})
    assert out.result is None and "labels.1" in out.error and "less than 64" in out.error


def test_an_attention_block_is_not_described_as_an_mlp():
    ev = ComponentEvidence(kind="attn")
    ev.record("exact", 0.4, 1)
    ev.record("dla", 0.3, 2)
    text = headline("L0.ATTN", ev, [])
    assert text.startswith("L0.ATTN is an answer-promoting attention block") and "MLP" not in text
