"""``autointerp replicate RUN --reference REF``: agreement of a run with a reference explanation.

Prints the replication scores beside the run's intrinsic scores and the
caveat that agreement can come from memory (DESIGN §7b); ``--json`` prints
one object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer
from rich.markup import escape

from autointerp.api import replicate as replicate_run
from autointerp.cli.common import print_json, stdout
from autointerp.cli.scores import replication_lines

DB_OPTION = typer.Option(None, "--db", help="Database URL (default: $AUTOINTERP_DB or a SQLite file in the user data dir).")


def _intrinsic_line(intrinsic: Mapping[str, Any]) -> str:
    inter, faith = intrinsic.get("interchangeability") or {}, intrinsic.get("faithfulness") or {}
    if not inter and not faith:
        return "intrinsic  not evaluated (run `autointerp eval RUN`)"
    fmt = lambda v: "undefined" if v is None else f"{v:.3f}"  # noqa: E731
    return (f"intrinsic  interchangeability silhouette {fmt(inter.get('silhouette'))} (z {fmt(inter.get('z'))}), "
            f"faithfulness {fmt(faith.get('normalized'))}")


def replicate(
    run_id: str = typer.Argument(..., help="The run whose explanation is scored."),
    reference: str = typer.Option(..., "--reference", help="Reference JSON file, or a shipped name "
                                  "(ioi-gpt2-small, planted-induction, planted-recall)."),
    judge: str = typer.Option(None, "--judge", help="LLM judge of descriptions: openai:<model>, "
                              "anthropic:<model> or compatible:<base_url>#<model>."),
    blind: str = typer.Option(None, "--blind", help="Also score a blind baseline by this LLM (task and "
                              "component ids only, no experiment)."),
    oneshot_run: str = typer.Option(None, "--oneshot-run", help="Also score this one-shot run of the same "
                                    "task and model."),
    db: str = DB_OPTION,
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score a run against a reference explanation: circuit precision/recall, ARI, role accuracy (+ judge)."""
    out = replicate_run(run_id, reference, judge=judge, blind=blind, oneshot_run=oneshot_run, db=db)
    if json_out:
        print_json(out)
        return
    lines = [_intrinsic_line(out["intrinsic"])]
    lines += replication_lines([out["run"], *out["baselines"].values()])
    for line in lines:
        stdout.print(escape(line), highlight=False)
