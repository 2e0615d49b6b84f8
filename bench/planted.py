"""Benchmark: does the scripted agent recover the planted circuits' known roles?

Why: on a planted model (``engine.planted``) the true roles are established
after training by a check that shares no code with the agent, so the agent's
explanation can be graded directly. For every planted model and seed this
script runs ``autointerp explain`` (scripted agent, roles frozen in the store)
and ``autointerp eval`` on a temporary store, and prints per run:

* the adjusted Rand index of the agent's roles vs the true roles and circuit
  recall/precision (``engine.planted.score``) -- the issue's target is
  ARI >= 0.8 and recall >= 0.9 on every model and seed;
* the honest interchangeability score of the frozen roles: silhouette, its
  ceiling, z and p against random relabelling and the layer-matched null.

Then a summary line per model (min and mean over seeds). No assertions:
figures only. With ``--write-references`` it also (re)writes the shipped
reference explanations (``engine/planted/references/<name>.json``) from each
model's established truth.

    .venv/bin/python bench/planted.py [--seeds 0 1 2] [--models planted-induction ...] [--write-references]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from statistics import mean
from typing import Any

import autointerp
from agents.evaluate_run import evaluate_stored_run
from engine.components import parse_component
from engine.evaluation.agreement import adjusted_rand_index
from engine.models import load_model
from engine.planted import PLANTED, load_planted, reference_from_truth, reference_path
from store import open_store


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _null(inter: dict[str, Any]) -> str:
    layer = inter.get("layer_matched") or {}
    layer_text = ("degenerate (no layer holds heads of two roles)" if layer.get("degenerate")
                  else f"z {_fmt(layer.get('z'), '+.2f')} p {_fmt(layer.get('p_value'), '.3g')}")
    return (f"silhouette {_fmt(inter.get('silhouette'))} (ceiling {_fmt((inter.get('ceiling') or {}).get('silhouette'))}); "
            f"random relabelling {_fmt(inter.get('random_mean'))}±{_fmt(inter.get('random_std'))} "
            f"z {_fmt(inter.get('z'), '+.2f')} p {_fmt(inter.get('p_value'), '.3g')}; layer-matched {layer_text}")


def layer_baseline_ari(truth_labels: dict[str, str]) -> float | None:
    """ARI of "one role per layer" on the true circuit: how much of the ARI layer position alone explains."""
    by_layer = {head: f"layer {parse_component(head).layer}" for head in truth_labels}
    return adjusted_rand_index(by_layer, truth_labels)


def run_model(name: str, seeds: list[int], url: str, null_draws: int) -> list[dict[str, Any]]:
    planted = load_planted(name, print)
    truth = planted.truth
    print(f"\n== {name}: trained in {planted.training.seconds:.0f} s (seed {planted.training.seed}, "
          f"accuracy {planted.training.accuracy:.3f}); truth verified: {truth.verified}")
    for role, members in truth.roles.items():
        print(f"   true role {role}: {', '.join(members)}")
    print(f"   decoys (outside the circuit): {', '.join(truth.decoys)}")
    print(f"   baseline 'one role per layer' on the true circuit: ARI {_fmt(layer_baseline_ari(truth.labels()))}")
    target = load_model(name)
    rows = []
    for seed in seeds:
        start = time.perf_counter()
        outcome = autointerp.explain(task=name, model=name, seed=seed, db=url, evaluate=False, target=target)
        with open_store(url) as st:
            out = evaluate_stored_run(st, outcome.run_id, null_draws=null_draws)
        planted_score, inter = out["planted"], out["interchangeability"]
        positions = out["faithfulness"].get("positions") or {}
        seconds = time.perf_counter() - start
        roles = "; ".join(f"{c['name']}: {', '.join(c['members'])}" for c in outcome.explanation["clusters"])
        print(f"-- seed {seed} ({outcome.run_id}, {seconds:.0f} s): ARI {_fmt(planted_score['ari'])} "
              f"(union {_fmt(planted_score['ari_union'])}), circuit recall {_fmt(planted_score['circuit_recall'])}, "
              f"precision {_fmt(planted_score['circuit_precision'])}, f {_fmt(out['faithfulness'].get('normalized'))}; "
              f"core at its stated positions f {_fmt(positions.get('normalized'))} (control at other roles "
              f"{_fmt(positions.get('elsewhere'))})")
        print(f"   agent roles: {roles}")
        print(f"   interchangeability: {_null(inter)} -> {inter.get('verdict')}")
        rows.append({"seed": seed, **planted_score, "z": inter.get("z"), "p": inter.get("p_value")})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(PLANTED), choices=list(PLANTED))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--null-draws", type=int, default=1000)
    parser.add_argument("--db", default=None, help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--write-references", action="store_true",
                        help="rewrite engine/planted/references/<name>.json from each model's truth")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'planted.db'}"
        summary = {name: run_model(name, args.seeds, url, args.null_draws) for name in args.models}
    print("\n== summary (target: ARI >= 0.8 and circuit recall >= 0.9 on every model and seed)")
    for name, rows in summary.items():
        aris = [r["ari"] if r["ari"] is not None else float("nan") for r in rows]
        recalls = [r["circuit_recall"] or 0.0 for r in rows]
        zs = [r["z"] for r in rows if r["z"] is not None]
        met = all(a >= 0.8 for a in aris) and all(r >= 0.9 for r in recalls)
        print(f"{name}: ARI min {min(aris):.3f} mean {mean(aris):.3f}; recall min {min(recalls):.3f} "
              f"mean {mean(recalls):.3f}; relabelling z {', '.join(f'{z:+.2f}' for z in zs)}; "
              f"p {', '.join(_fmt(r['p'], '.3g') for r in rows)} -> {'target met' if met else 'TARGET MISSED'}")
    if args.write_references:
        for name in args.models:
            path = reference_path(name)
            path.write_text(reference_from_truth(load_planted(name).truth).model_dump_json(indent=1) + "\n")
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
