"""Realistic runs for the report and viewer tests, written with the public store API.

The experiment results follow the shapes of the experiment tools
(``effects`` maps of patching sweeps, ``by_role`` tables and ``pattern``
matrices of attention patterns, ``per_receiver`` maps of path patching) and
of the evaluation module. ``payload`` is put into every place untrusted text
can reach: prompts and tokens, hypothesis text, LLM messages, tool calls,
descriptions, role names, summaries, reasons.
"""

from __future__ import annotations

from typing import Any

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SVG = '"></title><svg onload="window.__xss=1"><title>'
PAYLOAD = f"{XSS_SCRIPT} {XSS_IMG} {XSS_SVG}"

N_LAYERS, N_HEADS = 4, 4
CIRCUIT = ["L1.H2", "L2.H1", "L3.H0", "L3.H3"]


def _effects(scale: float, shift: int = 0) -> dict[str, float]:
    out = {}
    for layer in range(N_LAYERS):
        for head in range(N_HEADS):
            cid = f"L{layer}.H{head}"
            big = {"L1.H2": -0.9, "L2.H1": -1.6, "L3.H0": 2.1, "L3.H3": 0.8}.get(cid, 0.0)
            out[cid] = scale * (big + 0.03 * ((layer * 7 + head * 3 + shift) % 5 - 2))
        out[f"L{layer}.MLP"] = scale * 0.1 * (layer - 1.5)
    return out


def make_run(st: Any, store: Any, *, payload: str = "", agent: str = "scripted", seed: int = 0,
             parent: str | None = None, task: str = "ioi", model: str = "tiny-llama") -> str:
    """Record one finished run with a full trace; ``payload`` goes into all free text."""
    p = f" {payload}" if payload else ""
    run_id = st.start_run(st_store := store, task=task, model=model, agent=agent, seed=seed,
                          config={"task": task, "model": model, "agent": agent, "n": 16, "max_steps": 60},
                          code_version="0.1.0+test", parent_run_id=parent,
                          meta={"n_pairs": 16, "task_description": "indirect object identification",
                                "example_pairs": [{"clean": "When Mary and John went to the store, John gave a drink to",
                                                   "corrupt": "When Amy and Bob went to the store, Tom gave a drink to",
                                                   "answer": " Mary", "distractor": " John"}] * 2})
    atp = st.add_experiment(st_store, run_id, "attribution_patching", {"components": "all"},
                            f"AtP ranks L3.H0, L2.H1 highest{p}",
                            {"method": "attribution", "direction": "noising", "metric": "logit_diff",
                             "clean_metric": 3.1, "corrupt_metric": 0.2, "effects": _effects(1.0, seed)},
                            wall_time_s=0.8)
    exact = st.add_experiment(st_store, run_id, "activation_patching", {"components": CIRCUIT + ["L0.H1"]},
                              "exact patching confirms 4 heads",
                              {"method": "exact", "direction": "noising", "n_pairs": 16,
                               "effects": {c: v for c, v in _effects(0.9, seed).items()
                                           if c in CIRCUIT + ["L0.H1"]}}, wall_time_s=1.4)
    st.add_message(st_store, run_id, "system", "You are a careful interpretability researcher.")
    st.add_message(st_store, run_id, "user", f"Study L3.H0 on prompts like: When Mary and John went to the store,"
                   f" John gave a drink to{p}", prompt_tokens=120)
    roles = {"L1.H2": "duplicate token", "L2.H1": f"S-inhibition{p}", "L3.H0": "name mover",
             "L3.H3": "name mover"}
    for i, cid in enumerate(CIRCUIT):
        hyp = st.add_hypothesis(st_store, run_id, f"{cid} acts as a {roles[cid]} head{p}", component=cid,
                                confidence=0.5)
        tokens = ["When", " Mary", " and", " John", " went", f" to{p}", " the", " store", ",", " John",
                  " gave", " a", " drink", " to"]
        n = len(tokens)
        pattern = [[(1.0 / (q + 1)) if k <= q else 0.0 for k in range(n)] for q in range(n)]
        pattern[-1] = [0.05] * n
        pattern[-1][1] = 0.6
        attn = st.add_experiment(
            st_store, run_id, "attention_pattern", {"component": cid}, f"{cid} attends END→IO 0.60{p}",
            {"component": cid, "by_role": {"END": {"IO": 0.6, "S1": 0.1, "S2": 0.15, "other": 0.15}},
             "examples": [{"prompt": "".join(tokens), "tokens": tokens, "pattern": pattern}]},
            wall_time_s=0.1, component=cid, hypothesis_ids=[hyp])
        lens = st.add_experiment(st_store, run_id, "logit_lens", {"component": cid},
                                 f"direct logit attribution {0.4 * (i + 1):+.2f}",
                                 {"component": cid, "direct_logit_attribution": 0.4 * (i + 1),
                                  "top_tokens": [f" Mary{p}", " John"]}, component=cid, hypothesis_ids=[hyp])
        status = "refuted" if cid == "L1.H2" else "supported"
        st.update_hypothesis(st_store, hyp, "inconclusive", f"attention alone is not enough{p}", attn, 0.5)
        st.update_hypothesis(st_store, hyp, status, f"logit lens agrees{p}", lens, 0.8)
        st.add_message(st_store, run_id, "assistant", f"{cid}: evidence is {status}.{p}",
                       tool_calls=[{"name": "logit_lens", "args": {"component": cid, "note": payload}}],
                       provider="fake", model="fake-1", completion_tokens=40)
        st.add_message(st_store, run_id, "tool", f"logit lens result{p}", tool_call_id=f"call-{i}",
                       name="logit_lens")
    path1 = st.add_experiment(st_store, run_id, "path_patching", {"sender": "L2.H1", "receivers": ["L3.H0", "L3.H3"]},
                              "S-inhibition into the name movers",
                              {"sender": "L2.H1", "per_receiver": {"L3.H0": -1.1, "L3.H3": -0.4}, "effect": -1.3},
                              component="L2.H1")
    path2 = st.add_experiment(st_store, run_id, "path_patching", {"sender": "L3.H0", "receivers": "logits"},
                              "name mover writes to logits", {"sender": "L3.H0", "effect": -1.9},
                              component="L3.H0")
    st.add_experiment(st_store, run_id, "path_patching", {"sender": "L1.H2", "receivers": ["L2.H1"]},
                      "", {}, error=f"tool failed: bad receiver{p}", component="L1.H2")
    circuit_h = st.add_hypothesis(st_store, run_id, f"The circuit copies the IO name{p}")
    st.update_hypothesis(st_store, circuit_h, "supported", "path patching", path2, 0.7)
    local = {e: st.get_experiment(st_store, e)["seq"] for e in (atp, exact, path1, path2)}  # cited as E<seq>
    components = [{"id": c, "role": roles[c], "description": f"{roles[c]} behaviour{p}",
                   "evidence": [local[atp], local[exact], local[path1 if c == "L2.H1" else path2]]}
                  for c in CIRCUIT]
    clusters = [{"name": "name mover", "description": f"copies the IO name{p}", "members": ["L3.H0", "L3.H3"]},
                {"name": roles["L2.H1"], "description": "suppresses S", "members": ["L2.H1"]},
                {"name": "duplicate token", "description": "finds the repeated name", "members": ["L1.H2"]}]
    st.save_explanation(st_store, run_id, f"Name movers copy the indirect object.{p}", components, clusters, CIRCUIT)
    d = [[0.0, 0.5, 0.6, 0.6], [0.5, 0.0, 0.55, 0.5], [0.6, 0.55, 0.0, 0.1], [0.6, 0.5, 0.1, 0.0]]
    st.save_evaluation(st_store, run_id, "interchangeability",
                       {"silhouette": 0.41 - 0.1 * seed, "random_mean": -0.05, "random_std": 0.12,
                        "z": 3.8 - seed, "p_value": 0.005, "n_components": 4, "n_clusters": 3, "null_draws": 200,
                        "distance_matrix": d, "components": CIRCUIT, "labels": ["a", "b", "c", "c"],
                        "note": None}, {"null_draws": 200, "seed": seed})
    st.save_evaluation(st_store, run_id, "faithfulness",
                       {"normalized": 0.83, "circuit_size": 4, "ablation": "mean", "m_full": 3.1,
                        "m_empty": 0.1, "m_circuit": 2.6, "curve": [[0, 0.0], [2, 0.4], [4, 0.83], [8, 0.95],
                                                                    [16, 1.0]], "cpr": 0.8, "cmd": 0.2})
    st.add_tokens(st_store, run_id, 520, 230, 0.0123)
    st.finish_run(st_store, run_id, "finished", f"explanation complete{p}")
    return run_id
