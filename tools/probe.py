"""probe: is a property linearly decodable from a component's activation?

Why: a component that *represents* a variable (which name is the indirect
object, whether the prompt is BABA or ABBA) should let a linear classifier
read it off. Decodability alone is weak evidence -- a high-capacity probe can
memorise anything on a few dozen prompts -- so every probe is compared with a
*control task* (Hewitt & Liang, 2019): the same probe trained on randomly
permuted labels (same class balance). ``selectivity = test accuracy - control
test accuracy``; only a selective probe says something about the component.

The probe is multinomial logistic regression with L2 regularisation on
standardised features (full-batch L-BFGS in torch), trained on a seeded,
stratified split of the pairs and scored on the held-out rest.

Labels:

* ``role_order``: 1 if the first named role comes before the second in the
  prompt (IOI: ``roles=['IO', 'S1']`` separates ABBA from BABA templates).
* ``clean_vs_corrupt``: activations of both prompts of each pair, labelled
  1 for clean and 0 for corrupt (both prompts of a pair stay in one split).
* ``custom``: one integer label per pair, in task pair order.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from engine.patching import input_run
from tools.base import ToolArgs, ToolContext, ToolError, ToolSpec
from tools.common import Position, rounded, single_position, truncate
from tools.results import ProbeResult


class ProbeArgs(ToolArgs):
    component: str = Field(..., description="Component whose activation is probed, e.g. 'L12.RESID', 'L9.H3', 'L8.MLP'.")
    position: Position = Field("END", description="Token position (role name such as 'END', 'S2', or an integer) to read.")
    label: Literal["role_order", "clean_vs_corrupt", "custom"] = Field(
        ..., description="'role_order' (is roles[0] before roles[1]?), 'clean_vs_corrupt', or 'custom' (labels given per pair)."
    )
    roles: list[str] | None = Field(None, description="For role_order: two role names, e.g. ['IO', 'S1'].")
    labels: list[int] | None = Field(None, description="For custom: one integer class per task pair, in pair order.")
    test_fraction: float = Field(0.3, gt=0.05, lt=0.9, description="Fraction of pairs held out for testing.")
    l2: float = Field(1e-2, ge=0.0, le=100.0, description="L2 regularisation strength of the probe.")
    n_controls: int = Field(5, ge=1, le=20, description="Random-label control probes to average.")


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression. x [N, d] (standardised), y [N] -> (W [d, C], b [C])."""
    x = x.double()
    w = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, device=x.device, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + l2 * w.pow(2).sum() / len(y)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


def accuracy(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(((x.double() @ w + b).argmax(-1) == y).double().mean())


def split(groups: torch.Tensor, y: torch.Tensor, test_fraction: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean train/test masks over rows, stratified by the label of each group (pair)."""
    test_groups: list[int] = []
    unique = torch.unique(groups)
    group_label = {int(g): int(y[groups == g][0]) for g in unique}
    for cls in sorted(set(group_label.values())):
        members = [g for g, c in group_label.items() if c == cls]
        order = torch.randperm(len(members), generator=gen, device=gen.device).tolist()
        k = max(1, round(test_fraction * len(members))) if len(members) > 1 else 0
        test_groups += [members[i] for i in order[:k]]
    test = torch.isin(groups, torch.tensor(test_groups, dtype=groups.dtype, device=groups.device))
    return ~test, test


def _dataset(ctx: ToolContext, args: ProbeArgs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features [N, d] (float32), labels [N], pair index [N] (the split unit), on the host.

    The probe is a small float64 LBFGS fit, so each bucket's features move to
    the host once, here, rather than the fit running on the model's device.
    """
    comp = ctx.component(args.component)
    if args.label == "custom" and (args.labels is None or len(args.labels) != ctx.data.n_pairs):
        got = "none" if args.labels is None else len(args.labels)
        raise ToolError(f"label='custom' needs labels with one integer per pair ({ctx.data.n_pairs}); got {got}.")
    if args.label == "role_order":
        valid = [r for r in ctx.data.role_names if r != "END"]
        if not args.roles or len(args.roles) != 2 or any(r not in valid for r in args.roles):
            raise ToolError(f"label='role_order' needs roles = two of this task's roles: {', '.join(valid) or 'none'}.")
    xs, ys, gs = [], [], []
    sides = ("clean", "corrupt") if args.label == "clean_vs_corrupt" else ("clean",)
    for bucket in ctx.data.buckets:
        pos = single_position(bucket, args.position)
        rows = torch.arange(bucket.n, device=bucket.device)
        pairs = torch.tensor(bucket.pair_index, device="cpu")
        for side in sides:
            act = input_run(ctx.target, bucket, side, [comp]).acts[comp.id][rows, pos]
            xs.append(act.reshape(bucket.n, -1).float().cpu())
            gs.append(pairs)
            if args.label == "clean_vs_corrupt":
                ys.append(torch.full((bucket.n,), int(side == "clean"), device="cpu"))
            elif args.label == "role_order":
                assert args.roles is not None
                ys.append((bucket.roles[args.roles[0]] < bucket.roles[args.roles[1]]).long().cpu())
            else:
                assert args.labels is not None
                ys.append(torch.tensor([args.labels[i] for i in bucket.pair_index], device="cpu"))
    return torch.cat(xs), torch.cat(ys).long(), torch.cat(gs)


def _evaluate(x: torch.Tensor, y: torch.Tensor, train: torch.Tensor, test: torch.Tensor, l2: float) -> tuple[float, float]:
    mean, std = x[train].mean(0), x[train].std(0) + 1e-6
    z = (x - mean) / std
    classes = int(y.max()) + 1
    w, b = fit_logistic(z[train], y[train], classes, l2)
    return accuracy(w, b, z[train], y[train]), accuracy(w, b, z[test], y[test])


def probe(ctx: ToolContext, args: ProbeArgs) -> tuple[ProbeResult, str]:
    x, y, groups = _dataset(ctx, args)
    if (y < 0).any():
        raise ToolError("Custom labels must be non-negative integers (class indices).")
    if len(torch.unique(y)) < 2:
        raise ToolError("The labels take a single value on this task, so there is nothing to probe.")
    gen = torch.Generator().manual_seed(ctx.seed)
    train, test = split(groups, y, args.test_fraction, gen)
    if not test.any() or not train.any():
        raise ToolError(f"Too few pairs ({ctx.data.n_pairs}) to hold out a test set; use a larger task.")
    train_acc, test_acc = _evaluate(x, y, train, test, args.l2)
    control = []
    for _ in range(args.n_controls):
        # control task: the same labels randomly permuted over examples (same class balance)
        y_ctrl = y[torch.randperm(len(y), generator=gen, device=gen.device)]
        control.append(_evaluate(x, y_ctrl, train, test, args.l2)[1])
    majority = float(torch.bincount(y[test]).max()) / int(test.sum())
    control_acc = sum(control) / len(control)
    result = ProbeResult(
        component=args.component, position=args.position, label=args.label,
        n_examples=int(len(y)), n_train=int(train.sum()), n_test=int(test.sum()), dim=int(x.shape[1]),
        train_accuracy=rounded(train_acc), test_accuracy=rounded(test_acc),
        control_test_accuracy=rounded(control_acc), majority_baseline=rounded(majority),
        selectivity=rounded(test_acc - control_acc),
    )
    summary = (
        f"Linear probe for {args.label} on {args.component} at {args.position}: train {train_acc:.2f}, "
        f"test {test_acc:.2f} (n_test {int(test.sum())}), random-label control {control_acc:.2f}, majority "
        f"{majority:.2f}; selectivity {test_acc - control_acc:+.2f}."
    )
    return result, truncate(summary)


SPEC = ToolSpec(
    name="probe",
    description="Train a linear (logistic) probe on a component's activation at a position for a label; held-out accuracy, random-label control, selectivity.",
    args_model=ProbeArgs,
    result_model=ProbeResult,
    fn=probe,
)
