"""Benchmark: the 10×10 weight-swap matrix on smollm2-135m / IOI, fast path vs a weight-rewrite reference.

Why: the interchangeability score needs m(m-1) swapped forwards (plus m
head ablations) per explanation. The fast path resumes each swap from the
cached clean residual stream at the target head's layer and batches several
swaps per forward; the reference writes the source head's weights into a
model copy and runs one full Hugging Face forward per swap and bucket
(``tests/evaluation/swap_reference.py``). This script times the fast matrix
in full, times a few reference swaps and extrapolates their mean to the
whole matrix, and prints both and their ratio. No assertions: figures only.

The 10 heads are chosen in the script: a first-order (attribution) ranking of
all heads shortlists 24, whose exact single-head mean-ablation effects pick
the top 10. They are then clustered by where the final position attends
(``evaluation.baselines``), and the clustering's interchangeability is printed,
with its nulls and the ceiling (the best silhouette any grouping of these heads
reaches on this matrix).

    .venv/bin/python bench/interchangeability.py [--pairs 16] [--naive-swaps 3] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from engine.evaluation.baselines import attention_role_clusters
from engine.evaluation.faithfulness import single_ablation_effects
from engine.evaluation.interchangeability import (
    DEFAULT_DISTANCE,
    clustering_labels,
    measure_distances,
    score_roles,
)
from engine.evaluation.ranking import ablation_attribution
from engine.evaluation.swap import swap_effects
from engine.models import load_model
from engine.tasks import load_task
from tests.evaluation.swap_reference import reference_swap_effects


def pick_heads(target, data, k: int, shortlist: int) -> dict[str, float]:
    first_order = ablation_attribution(target, data)
    short = sorted(first_order, key=lambda h: -abs(first_order[h]))[:shortlist]
    exact = single_ablation_effects(target, data, short, sets_per_batch=12)
    return {h: exact[h] for h in sorted(exact, key=lambda h: -abs(exact[h]))[:k]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--pairs", type=int, default=16, help="IOI prompt pairs")
    parser.add_argument("--heads", type=int, default=10)
    parser.add_argument("--naive-swaps", type=int, default=3, help="naive swaps timed, then extrapolated")
    parser.add_argument("--swaps-per-batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    target = load_model(args.model)
    data = load_task(args.task, target, n=args.pairs)
    print(f"model {target.name}, task {args.task}: {data.n_pairs} pairs in {len(data.buckets)} buckets "
          f"(lengths {[b.seq_len for b in data.buckets]}), torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    effects = pick_heads(target, data, args.heads, shortlist=max(24, args.heads))
    heads = list(effects)
    print(f"heads (exact mean-ablation effect on logit diff), chosen in {time.perf_counter() - start:.1f} s:")
    print("  " + ", ".join(f"{h} {e:+.2f}" for h, e in effects.items()))

    m = len(heads)
    n_swaps = m * (m - 1)
    swap_effects(target, data, [(heads[0], heads[1])])  # warm-up
    start = time.perf_counter()
    measured = measure_distances(target, data, heads, swaps_per_batch=args.swaps_per_batch)
    directed = measured["directed"]
    fast = time.perf_counter() - start

    sample = [(heads[a], heads[(a + 1) % m]) for a in range(args.naive_swaps)]
    start = time.perf_counter()
    naive = reference_swap_effects(target, data, sample)
    naive_per_swap = (time.perf_counter() - start) / len(sample)
    naive_total = naive_per_swap * n_swaps
    index = {h: i for i, h in enumerate(heads)}
    agreement = max(abs(js - directed[index[t], index[s]]) for (t, s), (js, _) in zip(sample, naive, strict=True))

    print(f"\n{m}×{m} swap matrix = {n_swaps} swaps × {data.n_pairs} prompts")
    print(f"  fast (suffix from the target's layer, {args.swaps_per_batch} swaps/forward, plus {m} ablations): "
          f"{fast:.2f} s ({fast / (n_swaps + m) * 1000:.0f} ms per swap or ablation)")
    print(f"  reference (weights rewritten, one full HF forward per swap and bucket): {naive_per_swap * 1000:.0f} "
          f"ms/swap measured on {len(sample)} swaps -> {naive_total:.2f} s extrapolated to {n_swaps} swaps")
    print(f"  speed-up: {naive_total / fast:.1f}×   (max |d_fast - d_reference| on the timed swaps: {agreement:.1e})")

    clusters = attention_role_clusters(target, data, heads)
    ids, labels, notes = clustering_labels(clusters, target.n_layers, target.n_heads)
    order = [index[h] for h in ids]
    print("\nclustering by the role the final position attends to (a mechanical baseline):")
    for cluster in clusters:
        print(f"  {cluster['name']}: {', '.join(cluster['members'])}")
    for name in (DEFAULT_DISTANCE, "js"):
        distances = measured[name][np.ix_(order, order)]
        result = score_roles(distances, ids, labels, "attention baseline", null_draws=1000)
        layer = result["layer_matched"] or {}
        print(f"  {name}: silhouette {result['silhouette']}, ceiling {(result['ceiling'] or {}).get('silhouette')}; "
              f"relabelling z {result['z']}, p {result['p_value']}; layer-matched z {layer.get('z')}, "
              f"p {layer.get('p_value')} -> {result['verdict']}")
    if notes:
        print(f"  note: {'; '.join(notes)}")
    distances = measured[DEFAULT_DISTANCE][np.ix_(order, order)]
    print(f"\nD ({DEFAULT_DISTANCE}; rows/cols in clustering order):")
    print("        " + " ".join(f"{h:>7}" for h in ids))
    for h, row in zip(ids, distances, strict=True):
        print(f"{h:>7} " + " ".join(f"{v:7.3f}" for v in row))
    print("  head ablation distances d(i <- mean): " + ", ".join(
        f"{h} {measured['ablation'][index[h]]:.3f}" for h in ids))


if __name__ == "__main__":
    main()
