"""The ``autointerp`` command line.

Thread and library settings are applied by the ``autointerp`` package itself
(``autointerp.threads``), before any command module imports torch.
"""
