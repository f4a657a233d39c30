"""The Makefile a newcomer reads with `make help`: every target listed, every target phony (issue 22)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = ROOT / "Makefile"


def targets() -> set[str]:
    """Every target a person may type: the rules whose names are words (not files such as .venv/bin/.installed)."""
    names = set()
    for line in MAKEFILE.read_text().splitlines():
        match = re.match(r"^([a-z][a-z0-9-]*):(?!=)", line)
        if match:
            names.add(match.group(1))
    return names


def phony() -> set[str]:
    text = MAKEFILE.read_text().replace("\\\n", " ")
    [declared] = re.findall(r"^\.PHONY:(.*)$", text, flags=re.MULTILINE)
    return set(declared.split())


def test_make_help_lists_every_target():
    listed = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    shown = {line.split()[0] for line in listed.splitlines() if line.strip()}
    assert targets() and shown == targets()


def test_every_target_is_phony():
    assert targets() <= phony(), targets() - phony()
