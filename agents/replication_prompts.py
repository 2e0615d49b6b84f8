"""Prompts of replication scoring: the description judge and the blind baseline.

Why kept apart from the agents' prompts: these are prompts of the
*evaluation*, not of the research; an audit reads them with the scores they
produced (each is stored with its evaluation row).
"""

from __future__ import annotations

JUDGE_PROMPT = """\
You are grading an explanation of a circuit in a language model against a reference explanation
written by experts. For each reference component below, compare the candidate's description of
that component with the reference's description of its function, and rate it:
2 = the candidate describes the same function; 1 = partly (right direction, wrong or missing key
detail); 0 = a different function, or no description.
Judge the function only, not the wording or the role name. Answer with JSON only:
{{"verdicts": [{{"component": str, "score": 0 | 1 | 2, "reason": str (one sentence)}}]}}
with exactly one verdict per reference component.

Task: {task}

Components:
{pairs}"""

BLIND_PROMPT = """\
This is a baseline without experiments. A circuit of {model} performs {task} ({task_description};
metric: logit(answer) - logit(distractor) at the last position).
Localisation found these components: {circuit}.
No experiment results are available. From the task and the component ids alone, explain what
each component does and group them into roles. Answer with JSON only:
{{"components": [{{"id": str, "role": str, "description": str, "evidence": []}}],
 "clusters": [{{"name": str, "description": str, "members": [component ids]}}],
 "summary": str}}
Every component must appear in "components" and in exactly one cluster; "evidence" stays empty."""
