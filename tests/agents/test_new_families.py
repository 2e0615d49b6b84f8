"""``explain`` end to end on the tiny Gemma 2, Gemma 3 and Qwen3 models, and where a run's model ran.

The runs use every tool the scripted researcher calls and the evaluation
(weight swaps, faithfulness), so each family's adapter is exercised through
the whole stack; the run records the device and dtype it ran in, and a
resume may move the model elsewhere.
"""

from __future__ import annotations

import pytest

from autointerp import api
from engine.errors import DeviceError
from store import get_run, list_evaluations, list_runs, load_run_for_audit, open_store
from tests.agents.test_scripted_tasks import check_evidence_based


@pytest.mark.parametrize("name", ["tiny-gemma2", "tiny-gemma3", "tiny-qwen3"])
def test_explain_runs_end_to_end_on_each_new_family(name, db, load):
    run = api.explain(task="ioi", model=name, db=db, n=4, max_steps=80, target=load(name))
    check_evidence_based(db, run)
    assert run.evaluation["interchangeability"]["n_components"] >= 1
    heads = [c for c in run.circuit if ".H" in c]  # faithfulness ablates heads; MLPs are kept
    assert run.evaluation["faithfulness"]["circuit_size"] == len(heads)
    with open_store(db) as st:  # the scores say where and in what precision they were measured
        placements = {(e["params"]["device"], e["params"]["dtype"]) for e in list_evaluations(st, run.run_id)}
    assert placements == {(str(load(name).device), "float32")}
    # what makes each head attend ran on every family; Gemma normalises block outputs, so there it sends no
    # senders' change (the tool refuses that) and only the corrupt run's inputs are swapped
    with open_store(db) as st:
        experiments = load_run_for_audit(st, run.run_id)["experiments"]
    swaps = [e for e in experiments if e["tool"] == "attention_inputs"]
    assert swaps and all(e["error"] is None for e in swaps)
    gemma = name.startswith("tiny-gemma")
    assert all((e["result"]["senders"] == []) == gemma for e in swaps if int(e["args"]["head"][1:].split(".")[0]) > 0)


def test_a_run_records_its_device_and_dtype_and_resume_checks_an_override(db):
    run = api.explain(task="ioi", model="tiny-qwen3", db=db, n=4, max_steps=20, evaluate=False,
                      device="cpu", dtype="bfloat16")
    with open_store(db) as st:
        stored = get_run(st, run.run_id)
    assert stored.config["dtype"] == "bfloat16" and stored.config["device"] == "cpu"
    assert stored.meta["dtype"] == "bfloat16" and stored.meta["device"] == "cpu"
    with pytest.raises(DeviceError, match=r"^Unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps\.$"):
        api.resume(run.run_id, db=db, device="gpu")


def test_bad_placement_is_refused_before_a_run_starts(db):
    with pytest.raises(DeviceError, match=r"^Unknown dtype 'float8'; use float32, bfloat16, float16\.$"):
        api.explain(task="ioi", model="tiny-llama", db=db, dtype="float8")
    with open_store(db) as st:
        assert list_runs(st) == []
