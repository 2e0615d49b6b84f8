"""Is the interchangeability score evidence? Planted truth, noise, and the fitting procedure, side by side.

Prints one table per question (figures quoted in the README):

1. planted: heads made exactly interchangeable by construction (a head's
   weights copied into the other heads of its KV group / its neighbours in a
   layer) must be grouped with high z -- tiny GPT-2, Llama (GQA), NeoX and the
   bundled model;
2. random: the full pipeline (scripted agent, frozen roles, evaluation) on
   random-weight tiny models, 3 architectures x 5 seeds: how many runs report
   p < 0.05;
3. noise: random labellings of structureless matrices: are the p-values uniform?
4. fitted: roles fitted to structureless matrices, scored against the plain
   relabelling null and against the selection-aware null;
5. additive: how much of each distance a per-head additive term explains.

Usage: ``python bench/interchangeability_validation.py [--part planted|random|noise|fitted|all]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from scipy import stats

from autointerp import api
from engine.evaluation.fitting import fit_roles_to_distances
from engine.evaluation.interchangeability import DISTANCES, FITTED, measure_distances, score_roles
from engine.evaluation.nulls import layer_matched_null, relabel_null, summarise
from engine.evaluation.silhouette import silhouette
from engine.models import TargetModel, load_model
from engine.tasks import load_task

FIELDS = ("wq", "wk", "wv", "wo", "bq", "bk", "bv")


def plant_copies(target: TargetModel, groups: list[tuple[int, list[int]]]) -> None:
    """Make every head of each group an exact copy of the group's first head (same layer)."""
    adapter = target.adapter
    with torch.no_grad():
        for layer, heads in groups:
            src = adapter.head_params(layer, heads[0])
            for h in heads[1:]:
                dst = adapter.head_params(layer, h)
                for name in FIELDS:
                    if getattr(dst, name) is not None and getattr(dst, name).data_ptr() != getattr(src, name).data_ptr():
                        getattr(dst, name).copy_(getattr(src, name))


def planted_groups(target: TargetModel, layers: list[int]) -> list[tuple[int, list[int]]]:
    """Groups of heads that can be made identical: a KV group under GQA, else pairs of neighbours."""
    adapter = target.adapter
    out = []
    for layer in layers:
        if adapter.n_kv_heads < adapter.n_heads:
            by_group: dict[int, list[int]] = {}
            for h in range(adapter.n_heads):
                by_group.setdefault(adapter.kv_group(h), []).append(h)
            out += [(layer, hs) for hs in by_group.values()]
        else:
            out += [(layer, [h, h + 1]) for h in range(0, adapter.n_heads - 1, 2)]
    return out


def additive_r2(d: np.ndarray) -> float:
    """R² of D_ij ≈ c + u_i + u_j (least squares over i < j)."""
    m = len(d)
    rows, y = [], []
    for i in range(m):
        for j in range(i + 1, m):
            x = np.zeros(m + 1)
            x[0], x[1 + i], x[1 + j] = 1.0, 1.0, 1.0
            rows.append(x)
            y.append(d[i, j])
    a, yv = np.array(rows), np.array(y)
    coef, *_ = np.linalg.lstsq(a, yv, rcond=None)
    resid = yv - a @ coef
    return 1.0 - float(resid @ resid) / float(((yv - yv.mean()) ** 2).sum())


def part_planted() -> None:
    print("\n1. Planted: heads made identical by construction (groups within a layer)")
    print(f"{'model':<14}{'heads':>6}{'roles':>6}  " + "  ".join(f"{d + ' sil / z / layer-z / ceil':<38}" for d in DISTANCES)
          + "  fitted roles = planted")
    for name, layers, n in (("tiny-gpt2", [1, 2], 8), ("tiny-llama", [1, 2], 8), ("tiny-neox", [1, 2], 8),
                            ("smollm2-135m", [20, 23], 8)):
        target = load_model(name)  # a private copy: weights are rewritten
        groups = planted_groups(target, layers)
        plant_copies(target, groups)
        data = load_task("ioi", target, n=n)
        heads = [f"L{layer}.H{h}" for layer, hs in groups for h in hs]
        labels = [f"g{i}" for i, (_, hs) in enumerate(groups) for _ in hs]
        start = time.perf_counter()
        measured = measure_distances(target, data, heads)
        cells = []
        for dist in DISTANCES:
            s = score_roles(measured[dist], heads, labels, "planted", 500)
            cells.append(f"{s['silhouette']:.3f} / {s['z']:+.1f} / {s['layer_matched']['z'] or float('nan'):+.1f}"
                         f" / {s['ceiling']['silhouette']:.3f}")
        fitted, _ = fit_roles_to_distances(measured["ablation-normalised"])
        recovered = len({(a, b) for a, b in zip(labels, fitted, strict=True)}) == len(set(labels)) == len(set(fitted))
        print(f"{name:<14}{len(heads):>6}{len(groups):>6}  " + "  ".join(f"{c:<38}" for c in cells)
              + f"  {recovered}   ({time.perf_counter() - start:.0f} s)")


def part_random(seeds: int = 5) -> None:
    print(f"\n2. Random-weight tiny models, full pipeline (scripted agent, frozen roles), {seeds} seeds each")
    print(f"{'model':<12}{'seed':>5}{'heads':>6}{'roles':>6}  {'default p':>10}{'layer p':>9}{'js p':>8}  verdict")
    counts = {d: 0 for d in DISTANCES} | {"layer": 0, "runs": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tiny-gpt2", "tiny-llama", "tiny-neox"):
            for seed in range(seeds):
                target = load_model(name, seed=100 + seed)
                run = api.explain(task="ioi", model=name, target=target, n=8, seed=seed,
                                  db=f"sqlite:///{tmp}/{name}-{seed}.db")
                inter = run.evaluation["interchangeability"]
                counts["runs"] += 1
                if inter["silhouette"] is None:
                    print(f"{name:<12}{seed:>5}{inter['n_components']:>6}{inter['n_clusters']:>6}  undefined")
                    continue
                p = inter["p_value"]
                lp = inter["layer_matched"]["p_value"]
                jp = inter["by_distance"]["js"]["p_value"]
                counts["ablation-normalised"] += p < 0.05
                counts["js"] += jp < 0.05
                counts["layer"] += lp < 0.05 and p < 0.05
                print(f"{name:<12}{seed:>5}{inter['n_components']:>6}{inter['n_clusters']:>6}  {p:>10.3f}{lp:>9.3f}"
                      f"{jp:>8.3f}  {inter['verdict']}")
    print(f"runs with p < 0.05: ablation-normalised {counts['ablation-normalised']} of {counts['runs']}, "
          f"js {counts['js']} of {counts['runs']}; beating both nulls: {counts['layer']} of {counts['runs']}")


def part_noise(trials: int = 1000) -> None:
    print(f"\n3. Structureless matrices (iid distances), a random labelling, {trials} trials, 9 heads / 3 roles / 3 layers")
    rng = np.random.default_rng(0)
    ps, lps = [], []
    for _ in range(trials):
        d = rng.uniform(0.1, 1.0, (9, 9))
        d = (d + d.T) / 2
        np.fill_diagonal(d, 0)
        labels = list(rng.permutation(["a"] * 3 + ["b"] * 3 + ["c"] * 3))
        score = silhouette(d, labels)
        seed = int(rng.integers(1 << 30))
        ps.append(summarise(score, relabel_null(d, labels, 200, seed)).p_value)
        lps.append(summarise(score, layer_matched_null(d, labels, [0, 0, 0, 1, 1, 1, 2, 2, 2], 200, seed)).p_value)
    for name, values in (("relabelling", ps), ("layer-matched", lps)):
        print(f"  {name:<14} p < 0.05 in {np.mean(np.array(values) < 0.05):.3f} of trials; "
              f"KS test against uniform p = {stats.kstest(values, 'uniform').pvalue:.3f}")


def part_fitted(trials: int = 40) -> None:
    print(f"\n4. Roles fitted to structureless matrices (the opt-in procedure), {trials} trials, 10 heads")
    rng = np.random.default_rng(1)
    naive, aware = [], []
    for _ in range(trials):
        d = rng.uniform(0.1, 1.0, (10, 10))
        d = (d + d.T) / 2
        np.fill_diagonal(d, 0)
        fitted, _ = fit_roles_to_distances(d)
        out = score_roles(d, [f"L{i % 2}.H{i}" for i in range(10)], [str(x) for x in fitted], FITTED, 200,
                          seed=int(rng.integers(1 << 30)))
        naive.append(out["p_value"])
        aware.append(out["selection_aware"]["p_value"])
    print(f"  against random relabelling: p < 0.05 in {np.mean(np.array(naive) < 0.05):.2f} of trials "
          "(the old headline)")
    print(f"  against the selection-aware null: p < 0.05 in {np.mean(np.array(aware) < 0.05):.2f} of trials")


def part_additive() -> None:
    print("\n5. Share of each distance explained by a per-head additive term (R²), IOI on the bundled model")
    target = load_model("smollm2-135m")
    data = load_task("ioi", target, n=16, seed=7919)
    heads = ["L16.H0", "L17.H4", "L19.H2", "L20.H0", "L23.H3", "L24.H4", "L24.H5", "L24.H7", "L29.H0", "L29.H1"]
    measured = measure_distances(target, data, heads)
    for dist in DISTANCES:
        print(f"  {dist:<22} R² = {additive_r2(measured[dist]):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["planted", "random", "noise", "fitted", "additive", "all"])
    args = parser.parse_args()
    torch.manual_seed(0)
    parts = {"planted": part_planted, "random": part_random, "noise": part_noise, "fitted": part_fitted,
             "additive": part_additive}
    for name, fn in parts.items():
        if args.part in (name, "all"):
            fn()


if __name__ == "__main__":
    main()
