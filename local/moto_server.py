"""Run moto's server with the project's fidelity patches (local/moto_fidelity.py).

python -m local.moto_server --host 127.0.0.1 --port 5000
"""

from __future__ import annotations

import argparse

from local import moto_fidelity


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    moto_fidelity.apply()
    from moto.server import main as moto_main

    moto_main(["--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main()
