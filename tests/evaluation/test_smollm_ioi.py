"""The evaluation on the real model: a circuit found by quick patching, roles from attention.

Nothing here is hard-coded: the heads come from a first-order ranking refined
by exact mean ablation, the roles from where the final position attends. The
z-score is printed (run with ``-s``), only its properties are asserted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.evaluation import evaluate_explanation, interpretation_line
from engine.evaluation.baselines import attention_role_clusters
from engine.evaluation.faithfulness import single_ablation_effects
from engine.evaluation.ranking import ablation_attribution
from engine.tasks import load_task
from tests.evaluation.swap_reference import reference_swap_effects


@pytest.mark.slow
def test_ioi_circuit_evaluation_on_smollm(smollm):
    data = load_task("ioi", smollm, n=8)
    first_order = ablation_attribution(smollm, data)
    shortlist = sorted(first_order, key=lambda h: -abs(first_order[h]))[:12]
    exact = single_ablation_effects(smollm, data, shortlist, sets_per_batch=12)
    circuit = sorted(exact, key=lambda h: -abs(exact[h]))[:6]
    clusters = attention_role_clusters(smollm, data, circuit)
    result = evaluate_explanation(smollm, data, clusters, "attention baseline", effects=exact)
    inter, faith = result["interchangeability"], result["faithfulness"]
    print("\ncircuit:", {h: round(exact[h], 3) for h in circuit})
    print("clusters:", clusters)
    print("interchangeability:", {k: inter[k] for k in ("silhouette", "random_mean", "random_std", "z", "p_value")})
    print("faithfulness:", {k: faith[k] for k in ("normalized", "m_full", "m_empty", "m_circuit", "cpr", "cmd")})
    print(interpretation_line(result))
    directed = np.array(inter["directed_js"])
    assert directed.shape == (6, 6) and np.all(np.diag(directed) == 0)
    assert np.all(directed[~np.eye(6, dtype=bool)] > 0) and np.all(directed <= math.sqrt(math.log(2)))
    heads = inter["components"]
    ((js, _),) = reference_swap_effects(smollm, data, [(heads[0], heads[1])])  # one entry, independently
    assert directed[0, 1] == pytest.approx(js, abs=1e-4)
    assert faith["m_full"] > 0  # the model does IOI
    if inter["silhouette"] is not None:
        assert -1 <= inter["silhouette"] <= 1 and 0 < inter["p_value"] <= 1
    else:
        assert "undefined" in inter["note"]
