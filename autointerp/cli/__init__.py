"""The ``autointerp`` command line.

Set before any command module imports torch: OpenMP worker threads that spin
while waiting make every forward pass many times slower as soon as another
process competes for the CPU cores; passive waiting costs nothing when alone.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
