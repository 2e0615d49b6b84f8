"""A real LLM server in the loop: ``transformers serve`` with the bundled SmolLM2 as the agent.

Why: fakes say what a model should do; a real 135M model says whatever it
says -- text instead of tool calls, broken JSON, rambling. The run must end
within its budgets with a complete, auditable trace anyway. The server is the
``transformers serve`` command (the ``transformers[serving]`` extra) on
127.0.0.1, serving the de-quantised bundled model from the user cache; the
target model is tiny so the agent's requests dominate the run time. Budgets
are chosen so the request cap must bind whatever the model emits: three
components need at least three research requests, plus one to group and one
to explain -- five, against a cap of four.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from engine.config import settings
from engine.models import bundled
from store import load_run_for_audit, open_store

ROOT = Path(__file__).resolve().parents[2]
CAP = 4
MAX_STEPS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"transformers serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError("transformers serve did not become healthy")


@pytest.mark.slow
def test_smollm2_served_by_transformers_drives_an_explain_run_within_its_budgets(tmp_path):
    pytest.importorskip("fastapi", reason="needs the transformers[serving] extra (the test extras install it)")
    weights = bundled.cached_weights(settings().cache_dir) or bundled.build_cache(settings().cache_dir)
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    server_log = tmp_path / "server.log"
    with server_log.open("w") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("transformers")), "serve", str(weights), "--host", "127.0.0.1",
             "--port", str(port), "--device", "cpu", "--log-level", "info"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", server)
        db = f"sqlite:///{tmp_path / 'runs.db'}"
        run_env = dict(env, AUTOINTERP_LLM_MAX_COMPLETION_TOKENS="48", AUTOINTERP_LLM_TIMEOUT_S="240",
                       AUTOINTERP_LLM_MAX_RETRIES="1", AUTOINTERP_LLM_DEADLINE_S="480")
        run_env.pop("OMP_NUM_THREADS")
        proc = subprocess.run(
            [sys.executable, "-m", "autointerp.cli.app", "explain", "--task", "ioi", "--model", "tiny-gpt2",
             "--n", "4", "--circuit", "L0.H0,L1.H1,L2.H2", "--no-eval", "--json", "--db", db,
             "--agent", f"compatible:http://127.0.0.1:{port}/v1#{weights}",
             "--max-llm-requests", str(CAP), "--max-steps", str(MAX_STEPS), "--max-component-steps", "3",
             "--max-tokens", "200000"],
            cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=1200)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    served = re.findall(r'"POST /v1/chat/completions HTTP/1.1" (\d+)', server_log.read_text())
    with open_store(db) as st:
        audit = load_run_for_audit(st, out["run_id"])
    run = audit["run"]
    answers = [m for m in audit["messages"] if m["role"] == "assistant" and m["provider"] == "compatible"]
    print(f"\nreal server: {len(served)} requests ({', '.join(sorted(set(served)))}), cap {CAP}, "
          f"status {run['status']}: {run['stop_reason']}; {len(audit['experiments'])} experiments, "
          f"{run['prompt_tokens']}+{run['completion_tokens']} tokens")
    # the budgets bound: the cap was reached and named, and no more requests were made
    assert len(served) == len(answers) == CAP and set(served) == {"200"}
    assert run["status"] == "stopped" and run["stop_reason"] == f"LLM request cap reached ({CAP} of {CAP} requests)"
    assert len(audit["experiments"]) <= 1 + MAX_STEPS  # the given circuit's patching + the step budget
    assert run["prompt_tokens"] > 0 and run["completion_tokens"] > 0
    # the trace is complete: every answer's tool calls were answered, every hypothesis decided, every claim
    # cites recorded experiments of this run
    messages = audit["messages"]
    for i, m in enumerate(messages):
        if m["role"] == "assistant" and m["tool_calls"]:
            replies = [r for r in messages[i + 1:i + 1 + len(m["tool_calls"])] if r["role"] == "tool"]
            assert len(replies) == len(m["tool_calls"])
    assert all(h["status"] != "proposed" for h in audit["hypotheses"])
    recorded = {e["id"] for e in audit["experiments"]}
    assert audit["explanation"]["circuit"] == ["L0.H0", "L1.H1", "L2.H2"]
    for component in audit["explanation"]["components"]:
        assert component["id"] in audit["explanation"]["circuit"] and set(component["evidence"]) <= recorded
    shown = subprocess.run([sys.executable, "-m", "autointerp.cli.app", "audit", out["run_id"], "--db", db],
                           cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0 and out["run_id"] in shown.stdout
