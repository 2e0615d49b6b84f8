"""The LLM researcher's notebook tools: propose, update, conclude.

Why as tools: with native tool calling the LLM records its hypotheses and
verdicts the same way it runs experiments, so each one reaches the store the
moment it is made (linked to the experiments it cites) instead of being
parsed out of free text afterwards. Bad calls come back as error messages.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.evidence import HypothesisRecord
from agents.recorder import propose, resolve
from agents.toolbox import function_schema
from tools.base import format_validation_error


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProposeArgs(_Args):
    hypotheses: list[str] = Field(min_length=1, max_length=5,
                                  description="3-5 competing, testable hypotheses about the component.")


class UpdateArgs(_Args):
    hypothesis_id: int = Field(description="Id returned by propose_hypotheses.")
    status: Literal["supported", "refuted", "inconclusive"]
    reason: str = Field(description="Why, citing numbers from the experiments.")
    experiment_ids: list[int] = Field(default_factory=list, description="Experiments that decided it.")


class ConcludeArgs(_Args):
    description: str = Field(description="Functional description of the component, citing experiment ids.")
    evidence: list[int] = Field(description="Ids of the experiments that support the description.")


NOTEBOOK = {
    "propose_hypotheses": (ProposeArgs, "Record 3-5 hypotheses about the component; returns their ids."),
    "update_hypothesis": (UpdateArgs, "Mark a hypothesis supported, refuted or inconclusive, citing experiments."),
    "conclude": (ConcludeArgs, "Finish this component: a functional description and its supporting experiments."),
}


def notebook_schemas() -> list[dict[str, Any]]:
    """Function schemas of the notebook tools."""
    return [function_schema(name, desc, model.model_json_schema()) for name, (model, desc) in NOTEBOOK.items()]


def handle_notebook(
    ctx: Any, run_id: str, component: str, call_key: str, name: str, raw: Any,
    hypotheses: list[HypothesisRecord], known_experiments: set[int],
) -> tuple[str, list[HypothesisRecord], dict[str, Any] | None]:
    """Apply one notebook call.

    Returns:
        (reply text for the LLM, updated hypotheses, conclusion or None).
        Invalid calls return an error reply and change nothing.
    """
    model, _ = NOTEBOOK[name]
    try:
        args = model.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError as exc:
        return "Error: " + format_validation_error(name, exc), hypotheses, None
    hyps = [h.model_copy() for h in hypotheses]
    if isinstance(args, ProposeArgs):
        lines = []
        for i, text in enumerate(args.hypotheses):
            hid = propose(ctx, run_id, component, f"{call_key}:{i}", text)
            hyps.append(HypothesisRecord(id=hid, text=text))
            lines.append(f"H{hid}: {text}")
        return "Recorded hypotheses:\n" + "\n".join(lines), hyps, None
    if isinstance(args, UpdateArgs):
        match = next((h for h in hyps if h.id == args.hypothesis_id), None)
        if match is None or match.id is None:
            ids = ", ".join(str(h.id) for h in hyps) or "none yet"
            return f"Error: no hypothesis {args.hypothesis_id} for {component}; known ids: {ids}.", hypotheses, None
        unknown = [e for e in args.experiment_ids if e not in known_experiments]
        if unknown:
            return (f"Error: experiments {unknown} are not experiments of this component; "
                    f"cite ids from tool results."), hypotheses, None
        decided_by = args.experiment_ids[-1] if args.experiment_ids else None
        resolve(ctx, match.id, args.status, args.reason, decided_by)
        match.status, match.reason = args.status, args.reason
        match.evidence = sorted(set(match.evidence) | set(args.experiment_ids))
        return f"H{match.id} is now {args.status}.", hyps, None
    assert isinstance(args, ConcludeArgs)
    valid = [e for e in args.evidence if e in known_experiments]
    dropped = sorted(set(args.evidence) - set(valid))
    reply = "Conclusion recorded." + (f" Ignored unknown experiment ids {dropped}." if dropped else "")
    return reply, hyps, {"description": args.description, "evidence": valid, "dropped": dropped}
