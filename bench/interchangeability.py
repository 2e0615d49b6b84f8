"""Benchmark: the 10×10 weight-swap matrix and the faithfulness curve on smollm2-135m / IOI, fast path vs reference.

Why: the interchangeability score needs m(m-1) swapped forwards (plus m
head ablations) per explanation. The fast path resumes each swap from the
cached clean residual stream at the target head's layer and batches several
swaps per forward; the reference writes the source head's weights into a
model copy and runs one full Hugging Face forward per swap and bucket
(``tests/evaluation/swap_reference.py``). This script times the fast matrix
in full, times a few reference swaps and extrapolates their mean to the
whole matrix (every reference swap is one full forward per bucket, whichever
pair is swapped), and prints both and their ratio per swap (= per directed
head pair). The faithfulness curve (MIB's top-k curve over all heads, plus
f(C) of the 10 heads) is timed the same way: the fast path (distinct
ablation sets batched, each forward resumed at the earliest layer its sets
touch) against a naive loop (one full forward per set and bucket,
mean-ablation by hooks), printed per ablation set. No assertions: figures
only.

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
from engine.evaluation.faithfulness import (
    ablatable,
    ablated_metrics,
    faithfulness,
    single_ablation_effects,
)
from engine.evaluation.interchangeability import (
    DEFAULT_DISTANCE,
    clustering_labels,
    measure_distances,
    score_roles,
)
from engine.evaluation.ranking import ablation_attribution
from engine.evaluation.swap import swap_effects
from engine.hooks import trace
from engine.models import load_model
from engine.tasks import load_task, logit_diff
from tests.evaluation.ablation_reference import mean_by_template, mean_prompts
from tests.evaluation.swap_reference import reference_swap_effects


def pick_heads(target, data, k: int, shortlist: int) -> tuple[dict[str, float], dict[str, float]]:
    """(the k heads of largest exact mean-ablation effect among a first-order shortlist, the first-order ranking)."""
    first_order = ablation_attribution(target, data)
    short = sorted(first_order, key=lambda h: -abs(first_order[h]))[:shortlist]
    exact = single_ablation_effects(target, data, short, sets_per_batch=12)
    return {h: exact[h] for h in sorted(exact, key=lambda h: -abs(exact[h]))[:k]}, first_order


def naive_ablated_metric(target, data, ablated: frozenset[str]) -> float:
    """Mean clean logit difference with ``ablated`` mean-ablated: a full forward per bucket (the reference)."""
    total = 0.0
    with torch.no_grad():
        for bucket in data.buckets:
            prompts, names = mean_prompts(bucket, data.task, target.tokenizer, target.prepend_bos)
            with trace(target.adapter, read=sorted(ablated)) as cache:
                target.model(prompts)
            means = {c: mean_by_template(cache[c], names, bucket.n) for c in ablated}
            edits = {c: (lambda current, m=means[c]: m.clone()) for c in ablated}
            with trace(target.adapter, edit=edits):
                logits = target.model(bucket.clean).logits
            total += float(logit_diff(logits, bucket.answer, bucket.distractor).sum())
    return total / data.n_pairs


def time_faithfulness(target, data, heads: list[str], ranking: dict[str, float], naive_sets: int) -> None:
    universe = ablatable(target)
    start = time.perf_counter()
    result = faithfulness(target, data, heads, effects=ranking)
    fast = time.perf_counter() - start
    kept = set(heads)
    sets = {frozenset(), frozenset(universe), frozenset(c for c in universe if c not in kept)}
    ranked = sorted(universe, key=lambda c: -abs(ranking.get(c, 0.0)))
    sets |= {frozenset(ranked[k:]) for k, _ in result["curve"]}
    sample = sorted(sets, key=len)[1:1 + naive_sets]  # non-empty sets; the cost of a full forward is the same for any
    start = time.perf_counter()
    naive = [naive_ablated_metric(target, data, ablated) for ablated in sample]
    naive_per_set = (time.perf_counter() - start) / len(sample)
    agreement = max(abs(a - b) for a, b in zip(naive, ablated_metrics(target, data, sample), strict=True))
    print(f"\nfaithfulness: f(C) of the {len(heads)} heads {result['normalized']:.3f}, curve over {len(universe)} heads "
          f"at {len(result['curve'])} sizes (CPR {result['cpr']:.3f}, CMD {result['cmd']:.3f}) = {len(sets)} distinct "
          f"ablation sets × {data.n_pairs} prompts")
    print(f"  fast (sets batched, resumed at their earliest layer): {fast:.2f} s ({fast / len(sets) * 1000:.0f} ms/set)")
    print(f"  naive (one full HF forward per set and bucket): {naive_per_set * 1000:.0f} ms/set measured on "
          f"{len(sample)} sets -> {naive_per_set * len(sets):.2f} s extrapolated to {len(sets)} sets")
    print(f"  speed-up: {naive_per_set * len(sets) / fast:.1f}×   (max |m_fast - m_naive| on the timed sets: {agreement:.1e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="ioi")
    parser.add_argument("--pairs", type=int, default=16, help="IOI prompt pairs")
    parser.add_argument("--heads", type=int, default=10)
    parser.add_argument("--naive-swaps", type=int, default=3, help="naive swaps timed, then extrapolated")
    parser.add_argument("--naive-sets", type=int, default=3, help="naive ablation sets timed, then extrapolated")
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
    effects, ranking = pick_heads(target, data, args.heads, shortlist=max(24, args.heads))
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
    time_faithfulness(target, data, heads, ranking, args.naive_sets)

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
