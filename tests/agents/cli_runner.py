"""Run the ``autointerp`` CLI in a subprocess, optionally slowed down (resume tests).

``AUTOINTERP_TEST_TOOL_DELAY=S`` makes every tool call take S seconds longer,
so that a test can kill the process in the middle of a run.
"""

from __future__ import annotations

import os
import time

if __name__ == "__main__":
    delay = float(os.environ.get("AUTOINTERP_TEST_TOOL_DELAY", "0") or 0)
    if delay:
        import agents.recorder as recorder

        real = recorder.run_tool

        def slow(spec, ctx, args):
            time.sleep(delay)
            return real(spec, ctx, args)

        recorder.run_tool = slow
    from autointerp.cli.app import main

    main()
