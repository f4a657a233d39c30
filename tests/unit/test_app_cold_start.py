"""app.py turns the garbage collector off while the handler's modules load and freezes what they created (the cold
start's figures are in bench/README.md): afterwards the collector must be on again, or every invocation would leak
its cycles. In a fresh interpreter, since this test session may have imported app already."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.template import ROOT


def test_after_the_handler_loads_the_collector_is_on_and_the_modules_are_frozen():
    # Given a fresh Python with the function and its layer on the path, as in Lambda
    path = os.pathsep.join(str(ROOT / p) for p in ("functions/interruption_handler", "layers/spot_common"))
    environment = {**os.environ, "PYTHONPATH": path, "POWERTOOLS_SERVICE_NAME": "spot-interruption-handler"}
    check = "import gc, app; print(gc.isenabled(), gc.get_freeze_count() > 1000)"

    # When it imports the handler
    done = subprocess.run([sys.executable, "-c", check], env=environment, capture_output=True, text=True, check=False)

    # Then the collector runs again, and the objects the imports created are in the permanent generation
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
