"""docs/TROUBLESHOOTING.md shows the messages the command line prints today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_troubleshooting_page_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_troubleshooting.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_every_error_on_the_page_is_one_line_with_a_status() -> None:
    page = (ROOT / "docs" / "TROUBLESHOOTING.md").read_text()
    blocks = page.split("```\n$ symbolic-v2m ")[1:]
    assert len(blocks) >= 10
    for block in blocks:
        body = block.split("```")[0].strip().splitlines()[1:]  # after the command line
        status = body[-1]
        assert status in ("(exit status 1)", "(exit status 2)"), block
        if status == "(exit status 1)":
            assert len(body) == 2 and body[0].startswith("error: "), block
        elif body[0].startswith("error: "):  # a usage error found once the input is known
            assert len(body) == 2, block
        else:  # click's own usage errors
            assert any("Invalid value" in line or "Error:" in line for line in body), block
