"""import_run: a worker's private run copied into the real store, links remapped, order kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_fakes import record_fake_run

from autointerp.batch.importer import import_run
from autointerp.batch.spec import Job
from autointerp.batch.worker import read_record


@pytest.fixture
def record(tmp_path: Path) -> dict:
    url = f"sqlite:///{tmp_path / 'private' / 'job.db'}"
    run_id = record_fake_run(url, Job(task="ioi", model="tiny-gpt2", seed=2))
    return read_record(url, tmp_path / "private" / "artifacts", run_id)


def test_import_copies_every_record_with_remapped_links(tmp_path: Path, record: dict) -> None:
    import store as st

    with st.open_store(f"sqlite:///{tmp_path / 'dest.db'}") as dest:
        other = st.start_run(dest, task="x", model="y", agent="scripted")  # shifts ids in the destination
        st.add_experiment(dest, other, "logit_lens", {}, "", {})
        new_id = import_run(dest, record["audit"], meta={"batch": {"job": "k"}}, artifacts=record["artifacts"])
        got = st.load_run_for_audit(dest, new_id)
    src = record["audit"]
    assert new_id != src["run"]["id"]
    assert got["run"]["status"] == "finished" and got["run"]["stop_reason"] == "explanation complete"
    assert got["run"]["meta"]["batch"] == {"job": "k"}
    assert got["run"]["meta"]["imported"]["source_run_id"] == src["run"]["id"]
    assert (got["run"]["prompt_tokens"], got["run"]["completion_tokens"]) == (10, 5)
    assert got["run"]["config_hash"] == src["run"]["config_hash"] and got["run"]["seed"] == 2
    [exp] = got["experiments"]
    [hyp] = got["hypotheses"]
    assert exp["result"] == src["experiments"][0]["result"] and exp["hypotheses"] == [hyp["id"]]
    assert [(c["old"], c["new"], c["experiment_id"]) for c in hyp["status_history"]] == [
        ("proposed", "supported", exp["id"])]
    assert hyp["evidence_links"] == [{"experiment_id": exp["id"], "relation": "supports"}]
    assert all(c["evidence"] == [exp["seq"]] for c in got["explanation"]["components"])
    assert got["explanation"]["clusters"] == src["explanation"]["clusters"]
    assert [e["kind"] for e in got["evaluations"]] == ["interchangeability", "faithfulness"]
    assert [m["content"] for m in got["messages"]] == [m["content"] for m in src["messages"]]
    [art] = got["artifacts"]
    assert art["sha256"] == src["artifacts"][0]["sha256"]  # same content hash: results stay valid
    with st.open_store(f"sqlite:///{tmp_path / 'dest.db'}") as dest:
        assert st.load_array(dest, art["sha256"]).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_import_keeps_the_order_of_the_trace(tmp_path: Path, record: dict) -> None:
    import store as st

    with st.open_store(f"sqlite:///{tmp_path / 'dest.db'}") as dest:
        got = st.load_run_for_audit(dest, import_run(dest, record["audit"]))
    hyp, exp = got["hypotheses"][0], got["experiments"][0]
    msg = got["messages"][0]
    change = hyp["status_history"][0]
    assert hyp["created_at"] <= exp["created_at"] <= change["at"] <= msg["created_at"]


def test_running_source_is_imported_as_interrupted_and_status_override(tmp_path: Path) -> None:
    import store as st

    url = f"sqlite:///{tmp_path / 'p.db'}"
    rid = record_fake_run(url, Job(task="ioi", model="m"), finish=False)
    rec = read_record(url, tmp_path / "art", rid)
    with st.open_store(f"sqlite:///{tmp_path / 'dest.db'}") as dest:
        a = import_run(dest, rec["audit"])
        b = import_run(dest, rec["audit"], status="failed", stop_reason="boom")
        assert st.get_run(dest, a).status == "interrupted"
        run_b = st.get_run(dest, b)
        assert (run_b.status, run_b.stop_reason) == ("failed", "boom")


def test_unknown_parent_is_dropped(tmp_path: Path, record: dict) -> None:
    import store as st

    audit = {**record["audit"], "run": {**record["audit"]["run"], "parent_run_id": "run-000000000000"}}
    with st.open_store(f"sqlite:///{tmp_path / 'dest.db'}") as dest:
        assert st.get_run(dest, import_run(dest, audit)).parent_run_id is None
