"""Imported by every Python process started with this directory on PYTHONPATH (test only):
a worker spawned by uvicorn's supervisor (`--multiprocessing-fork` in its argv) sleeps
GATEWAY_TEST_SLOW_WORKER seconds before anything else, as a worker on a loaded machine takes
that long to import the gateway and answer its first health check (tests/test_cli.py)."""

import os
import sys
import time

_delay = os.environ.get("GATEWAY_TEST_SLOW_WORKER")
if _delay and "--multiprocessing-fork" in sys.argv:
    time.sleep(float(_delay))
