"""The console script ends without tearing down the heap, as an ordinary exit would end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONSOLE = "import sys; from infradsl.cli.main import main; sys.argv[0] = 'infradsl'; main()"

APP = """\
import atexit
from pathlib import Path

from infradsl import App, Stack
from infradsl.aws import ec2

atexit.register(lambda: Path("exit-handler-ran").write_text("yes"))
app = App()
ec2.Vpc(Stack(app, "demo"), "Vpc", cidr_block="10.0.0.0/16")
"""


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CONSOLE, *args], cwd=cwd, capture_output=True, text=True
    )


def test_a_command_exits_with_its_status_its_output_flushed_and_exit_handlers_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(APP)
    result = console("synth", "app.py", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{Path('out') / 'demo.json'}  (1 resource)\n"
    assert (tmp_path / "out" / "demo.json").read_text().endswith("}\n")
    assert (tmp_path / "exit-handler-ran").read_text() == "yes"


def test_a_refused_command_exits_1_with_its_message(tmp_path: Path) -> None:
    result = console("synth", "missing.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "app file 'missing.py' not found" in result.stderr
