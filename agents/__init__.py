"""The research agent: a LangGraph workflow that localises, studies, groups and explains.

Entry points (used by ``autointerp.api`` and the CLI)::

    from agents.session import ExplainConfig, run_explain, resume_explain

Agents: ``scripted`` (no LLM, deterministic), ``openai:<model>``,
``anthropic:<model>``, ``compatible:<base_url>#<model>`` and
``oneshot:<provider spec>`` (the one-shot baseline). See ``agents.graph`` for
the workflow and ``agents.state`` for what is checkpointed.
"""
