"""Mass-reclaim benchmark (make bench): our batched handler against a per-notice baseline. See bench/README.md."""

import sys
from pathlib import Path

# The handler's code lives in its layer and function folders, as Lambda lays them out; put them on the path the way
# the test suite does (pyproject.toml: pythonpath).
_ROOT = Path(__file__).resolve().parents[1]
for _folder in ("layers/spot_common", "functions/interruption_handler"):
    if str(_ROOT / _folder) not in sys.path:
        sys.path.append(str(_ROOT / _folder))
