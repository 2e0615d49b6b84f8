"""Nodes of the research graph, one module per concern."""
