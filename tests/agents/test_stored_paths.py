"""A task path that merely looks like a key (``task-specific-prompts``) is stored intact, so the run resumes."""

from __future__ import annotations

import json

from autointerp import api


def test_a_run_on_a_task_file_under_such_a_path_resumes(tmp_path, load):
    folder = tmp_path / "task-specific-prompts"
    folder.mkdir()
    task = folder / "names.jsonl"
    rows = [{"clean": "When Mary and John went to the store, John gave a drink to",
             "corrupt": "When Mary and John went to the store, Anne gave a drink to",
             "answer": " Mary", "distractor": " John"}] * 3
    task.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    first = api.explain(task=str(task), model="tiny-gpt2", db=db, circuit="L0.H0", evaluate=False,
                        max_steps=3, target=load("tiny-gpt2"))
    again = api.resume(first.run_id, db=db, target=load("tiny-gpt2"))  # reads the stored task path back
    assert again.run_id == first.run_id and again.circuit == ["L0.H0"]
