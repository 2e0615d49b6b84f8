"""The ground floor: everything that touches a target model, and nothing above it.

Loading models (``engine.models``) and the architecture adapters that map
component ids onto their modules (``engine.adapters``), named hook points
(``engine.hooks``), forward passes resumable at any layer (``engine.runner``),
tasks and their metric (``engine.tasks``), the batched patching engine
(``engine.patching``), attribution (``engine.attribution``), ablation and the
evaluation maths (``engine.evaluation``). It imports nothing of ours but
itself: ``tools``, ``agents`` and the ``autointerp`` application build on it
(see ``tests/test_layering.py`` for the table of allowed imports).
"""
