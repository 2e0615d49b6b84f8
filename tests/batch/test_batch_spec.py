"""Batch specs: both forms, identity hashing, and errors that name the YAML path."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autointerp.batch.ray_executor import BatchError, check_gpu_request
from autointerp.batch.spec import Job, RaySettings, SpecError, check_agent, load_spec, yaml_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_matrix_and_explicit_jobs_expand_and_dedupe(tmp_path: Path) -> None:
    (tmp_path / "mine.jsonl").write_text("{}\n")
    spec, jobs = load_spec(write(tmp_path, """
        name: sweep
        tasks: [ioi, mine.jsonl]
        models: [tiny-gpt2, tiny-llama]
        seeds: [0, 1]
        options: {n: 8, max_steps: 20}
        jobs:
          - {task: ioi, model: tiny-gpt2, seed: 0, n: 8, max_steps: 20}   # same as a matrix job
          - {task: induction, model: tiny-neox, agent: "oneshot:openai:gpt-4o", circuit: "L0.H1, L1.MLP"}
    """))
    assert spec.name == "sweep"
    assert len(jobs) == 2 * 2 * 2 + 1
    custom = [j for j in jobs if j.task.endswith("mine.jsonl")]
    assert custom and all(Path(j.task).is_absolute() and j.task_sha256 for j in custom)
    explicit = jobs[-1]
    assert explicit.circuit == ("L0.H1", "L1.MLP") and explicit.n == 8 and explicit.agent == "oneshot:openai:gpt-4o"
    assert len({j.identity() for j in jobs}) == len(jobs)


def test_identity_ignores_order_labels_and_timeouts_but_not_settings() -> None:
    a = Job(task="ioi", model="m", seed=1, circuit=("L1.H0", "L0.H0"), name="x", timeout_s=5)
    b = Job(task="ioi", model="m", seed=1, circuit=("L0.H0", "L1.H0"), workdir="/tmp/w")
    assert a.identity() == b.identity()
    assert a.identity() != Job(task="ioi", model="m", seed=2, circuit=("L0.H0", "L1.H0")).identity()
    assert a.identity() != Job(task="ioi", model="m", seed=1, circuit=("L0.H0",)).identity()
    assert Job(task="ioi", model="m").identity() != Job(task="ioi", model="m", n=8).identity()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("jobs:\n  - {task: ioi, model: m}\n  - {task: ioi, model: m}\n  - {task: ioi, model: m, seed: abc}\n",
         "jobs[2].seed: must be an integer"),
        ("jobs:\n  - {task: ioi, model: m, seed: 1.5}\n", "jobs[0].seed: must be an integer"),
        ("jobs:\n  - {task: ioi}\n", "jobs[0].model: is required"),
        ("jobs:\n  - {task: ioi, model: m, sed: 1}\n", "jobs[0].sed: is not a known field"),
        ("tasks: [ioi]\nmodels: [m]\nseeds: [0, x]\n", "seeds[1]: must be an integer"),
        ("tasks: [ioi]\nmodels: [m]\noptions: {n: 0}\n", "options.n: input should be greater than 0"),
        ("tasks: [ioi]\nmodels: [m]\nagents: [gpt4]\n", "agents[0]: unknown agent 'gpt4'"),
        ("jobs:\n  - {task: ioi, model: m, circuit: [L0.X1]}\n", "jobs[0].circuit[0]: 'L0.X1' is not a component id"),
        ("ray: {num_gpus: lots}\njobs: []\n", "ray.num_gpus: must be a number"),
    ],
)
def test_bad_fields_are_named_by_yaml_path(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, body))
    assert expected in str(info.value), str(info.value)


def test_whole_spec_reports_every_problem_at_once(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, "jobs:\n  - {task: ioi, model: m, seed: x}\n  - {task: ioi, max_steps: -1}\n"))
    text = str(info.value)
    assert "jobs[0].seed" in text and "jobs[1].model" in text and "jobs[1].max_steps" in text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "is empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("jobs: [\n", "not valid YAML at line"),
        ("tasks: [ioi]\n", "models: is required"),
        ("jobs: []\n", "names no jobs"),
        ("jobs:\n  - {task: nope.jsonl, model: m}\n", "jobs[0].task: unknown task 'nope.jsonl'"),
    ],
)
def test_unreadable_or_empty_specs(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, body))
    assert expected in str(info.value)


def test_missing_file_and_helpers(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="Cannot read the batch spec"):
        load_spec(tmp_path / "absent.yaml")
    assert yaml_path(("jobs", 2, "seed")) == "jobs[2].seed"
    assert yaml_path(("seeds", 0)) == "seeds[0]"
    assert check_agent(" compatible:http://x/v1#m ") == "compatible:http://x/v1#m"
    with pytest.raises(ValueError):
        check_agent("compatible:http://x/v1")


def test_cli_bad_spec_exits_2_with_one_sentence(tmp_path: Path) -> None:
    path = write(tmp_path, "jobs:\n  - {task: ioi, model: m}\n  - {task: ioi, model: m}\n  - {task: ioi, model: m, seed: abc}\n")
    proc = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "batch", str(path), "--db",
                           f"sqlite:///{tmp_path / 'b.db'}", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "jobs[2].seed: must be an integer" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "b.db").exists()  # nothing started
    json.dumps(lines)


def test_device_and_dtype_are_validated_and_dtype_is_part_of_the_identity(tmp_path: Path) -> None:
    _, jobs = load_spec(write(tmp_path, """
        jobs:
          - {task: ioi, model: m, dtype: bfloat16, device: CUDA:1}
          - {task: ioi, model: m, device: cpu}
          - {task: ioi, model: m}
    """))
    assert (jobs[0].dtype, jobs[0].device) == ("bfloat16", "cuda:1")
    assert len(jobs) == 2  # where a job runs does not change what it is: the cpu job and the plain one are one
    assert jobs[0].identity() != jobs[1].identity()  # its precision does
    with pytest.raises(SpecError, match=r"jobs\[0\]\.device: unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"):
        load_spec(write(tmp_path, "jobs:\n  - {task: ioi, model: m, device: gpu}\n"))
    with pytest.raises(SpecError, match=r"options\.dtype: unknown dtype 'half'"):
        load_spec(write(tmp_path, "tasks: [ioi]\nmodels: [m]\noptions: {dtype: half}\n"))


def test_ray_jobs_that_insist_on_cuda_need_gpu_actors(tmp_path: Path) -> None:
    _, jobs = load_spec(write(tmp_path, "jobs:\n  - {task: ioi, model: m, device: cuda}\n  - {task: ioi, model: m}\n"))
    with pytest.raises(BatchError, match=r"ask for a CUDA device but the spec's ray\.num_gpus is 0"):
        check_gpu_request(jobs, RaySettings())
    check_gpu_request(jobs, RaySettings(num_gpus=1))
    check_gpu_request(jobs[1:], RaySettings())
