"""The static report: content, escaping, CSP, self-containment, robustness, CLI."""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sample_runs import CIRCUIT, PAYLOAD, XSS_IMG, XSS_SCRIPT, make_run

from autointerp.report import build_view, csp, render_report
from autointerp.report import svg as charts
from autointerp.report.data import path_edges
from autointerp.report.render import stylesheet


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import store as st

    path = tmp_path_factory.mktemp("report") / "runs.db"
    with st.open_store(f"sqlite:///{path}") as opened:
        first = make_run(st, opened, payload=PAYLOAD)
        second = make_run(st, opened, agent="oneshot:openai", seed=1, parent=first)
        audit = st.load_run_for_audit(opened, first)
    return {"path": path, "url": f"sqlite:///{path}", "first": first, "second": second, "audit": audit}


def test_report_has_every_section_and_the_numbers(db: dict) -> None:
    html = render_report(db["audit"])
    for anchor in ("summary", "task", "roles", "circuit", "scores", "sec-explanation", "patching", "attention",
                   "components", "evaluation", "timeline", "experiments", "conversation", "metadata"):
        assert f'id="{anchor}"' in html
    for cid in CIRCUIT:
        assert f'id="comp-{cid}"' in html
    # heat-map cells carry contributions (minus the stored noising effects: one sign convention);
    # the circuit diagram has nodes, path edges (contributions too) and the logits node
    assert "<title>L2.H1: 1.6" in html and "<title>L3.H0: -2.07</title>" in html
    assert "<title>L2.H1 → L3.H0: contribution +1.1</title>" in html and "L3.H0 → logits: contribution +1.9" in html
    assert "Blue: towards the answer" in html  # the legend states the convention
    assert "When Mary and John went to the store" in html and "indirect object identification" in html
    assert 'aria-label="circuit diagram"' in html and 'aria-label="attention of L3.H0"' in html
    assert "normal approximation of the null" in html and "observed 0.41" in html
    assert 'aria-label="faithfulness curve"' in html and "swap distances D" in html
    assert db["audit"]["run"]["config_hash"] in html and "0.1.0+test" in html and "750 (520 prompt" in html
    assert "inconclusive" in html and "refuted" in html  # status history
    assert "tool failed: bad receiver" in html  # failed experiments are shown too


def test_untrusted_text_is_escaped_and_no_script_exists(db: dict) -> None:
    html = render_report(db["audit"])
    assert "<script" not in html.lower()
    assert XSS_SCRIPT not in html and XSS_IMG not in html and "<img" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", html, re.I)  # no event-handler attributes
    assert "<svg onload" not in html


def test_csp_and_self_containment(db: dict) -> None:
    html = render_report(db["audit"])
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert meta and html_lib.unescape(meta.group(1)) == csp()
    policy = csp()
    assert "default-src 'none'" in policy and "script-src" not in policy and "unsafe" not in policy
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert f"<style>{stylesheet()}</style>" in html  # exactly the hashed stylesheet
    assert not re.search(r'\s(src|href)="(https?:)?//', html) and "<link" not in html
    assert ' style="' not in html  # inline style attributes would be blocked by the CSP


def test_defensive_on_sparse_and_malformed_runs() -> None:
    assert "no explanation" in render_report({"run": {"id": "run-x", "status": "running"}})
    weird = {
        "run": {"id": "run-y", "meta": "not a dict", "config": None, "prompt_tokens": None},
        "hypotheses": [{"id": 1, "text": None, "status_history": [{"old": "proposed", "new": "odd"}]}],
        "experiments": [
            {"id": 1, "tool": "activation_patching", "result": ["not", "a", "dict"]},
            {"id": 2, "tool": "attribution_patching", "result": {"effects": {"L0.H0": "big", "bogus": 1.0}}},
            {"id": 3, "tool": "attention_pattern", "result": {"pattern": [[None, "x"]], "by_role": 3}},
            {"id": 4, "tool": "path_patching", "result": None, "args": {"sender": "L0.H0"}},
            {"id": 5, "tool": "attention_pattern", "result": {"examples": [{"pattern": [[0.5, float("nan")]]}]}},
        ],
        "messages": [{"seq": 1, "role": "assistant", "content": None, "tool_calls": None}],
        "explanation": {"summary": None, "components": [{"id": "nonsense"}], "clusters": [{"members": None}],
                        "circuit": ["L0.H0", {"odd": 1}]},
        "evaluations": [{"kind": "interchangeability", "scores": {"silhouette": None, "random_std": "x"}},
                        {"kind": "faithfulness", "scores": {"curve": [[0, None], "x"]}}, {"scores": None}],
    }
    html = render_report(weird)
    assert "run-y" in html and 'id="comp-nonsense"' in html
    view = build_view(weird)
    assert view["heatmaps"] == [] and view["circuit_edges"] == []
    assert [a["experiment"] for a in view["attention"]] == [5]


def test_null_histogram_prefers_stored_draws() -> None:
    drawn = charts.null_histogram(0.5, draws=[0.0, 0.1, -0.1, 0.05] * 20)
    assert "80 null draws" in drawn and "normal approximation" not in drawn
    assert charts.null_histogram(None) is None
    view = build_view({"run": {"id": "r"}, "evaluations": [
        {"kind": "interchangeability", "scores": {"silhouette": 0.3, "null": [0.0, 0.1, 0.2]}}]})
    assert "3 null draws" in view["evaluations"][0]["charts"][0]["svg"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autointerp.cli.app", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_report_writes_a_file_and_never_the_db(db: dict, tmp_path: Path) -> None:
    before = (db["path"].read_bytes(), db["path"].stat().st_mtime_ns)
    out = tmp_path / "deep" / "run.html"
    proc = cli("report", db["first"], "-o", str(out), "--db", db["url"])
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    assert html.startswith("<!doctype html>") and db["first"] in html and "<script" not in html
    assert (db["path"].read_bytes(), db["path"].stat().st_mtime_ns) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("report", "run-000000000000", "-o", "x.html"), "No run with id 'run-000000000000'"),
        (("report", "r", "-o", "x.html", "--db", "sqlite:////nonexistent/dir/none.db"), "There is no database file"),
        (("serve", "--db", "sqlite://"), "in-memory database cannot be shown"),
    ],
)
def test_cli_errors_are_one_sentence(db: dict, tmp_path: Path, args: tuple, expected: str) -> None:
    if "--db" not in args:
        args = (*args, "--db", db["url"])
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], proc.stderr


def test_empty_file_is_not_a_database(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    proc = cli("report", "r", "-o", str(tmp_path / "x.html"), "--db", f"sqlite:///{empty}")
    assert proc.returncode == 2 and "has no autointerp runs" in proc.stderr
    assert empty.read_bytes() == b""


def test_circuit_edges_draw_each_receivers_own_measured_edge() -> None:
    """A per-edge experiment gives each receiver its strongest input's own value (contribution sign), and a
    later joint experiment into the same receivers does not replace it with the shared number."""
    separately = {"id": 7, "tool": "path_patching", "args": {"sender": "L0.H1", "separately": True},
                  "result": {"sender": "L0.H1", "receivers": ["L1.H0", "L2.H3"], "direction": "noising",
                             "effect": -0.9, "edges": [
                                 {"receiver": "L1.H0", "input": "q", "effect": -0.1},
                                 {"receiver": "L1.H0", "input": "k", "effect": -0.6},
                                 {"receiver": "L1.H0", "input": "v", "effect": 0.2},
                                 {"receiver": "L2.H3", "input": "v", "effect": 0.3}]}}
    joint = {"id": 8, "tool": "path_patching", "args": {"sender": "L0.H1", "receiver_input": ["q"]},
             "result": {"sender": "L0.H1", "receivers": ["L1.H0", "L2.H3"], "direction": "noising", "effect": -0.05}}
    drawn = {(e["source"], e["target"]): e for e in path_edges([separately, joint])}
    assert drawn[("L0.H1", "L1.H0")] == {"source": "L0.H1", "target": "L1.H0", "weight": 0.6, "experiment": 7,
                                         "input": "k"}
    assert drawn[("L0.H1", "L2.H3")]["weight"] == -0.3 and drawn[("L0.H1", "L2.H3")]["input"] == "v"
    # without per-edge numbers the joint value is drawn dashed to every receiver, as before
    alone = {(e["source"], e["target"]): e for e in path_edges([joint])}
    assert alone[("L0.H1", "L1.H0")]["joint"] == "L1.H0, L2.H3" and alone[("L0.H1", "L1.H0")]["weight"] == 0.05
