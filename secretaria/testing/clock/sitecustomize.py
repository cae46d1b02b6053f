"""Test-only: shift this process's clock by SECRETARIA_TEST_CLOCK_OFFSET seconds (time-machine).

Child processes of the scenario suite (gunicorn, the RQ worker) get this folder on PYTHONPATH,
so every process of the run agrees on one "now" (a fixed Monday morning) while time still ticks.
"""

import os

_offset = os.environ.get("SECRETARIA_TEST_CLOCK_OFFSET")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
