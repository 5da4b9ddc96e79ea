"""Other tools that read what Aviary writes, each in a virtualenv of its own under var/venvs/.

They are checks, not dependencies: Datumaro pins library versions (Pillow, OpenCV) that the
services do not share, so it never enters the project's own environment. A tool is installed
once, from the package index pip is configured with, every dependency held to the version in
its lock file (locks/NAME.txt, a `pip freeze` of an install that passed the tests: a tool's own
pins leave its dependencies open, and a new major release of one, sentry-sdk 3, once stopped
Label Studio from starting); `None` says it could not be.
"""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

from aviary_devkit.processes import ROOT

VENVS = ROOT / "var" / "venvs"
TOOLS = {"datumaro": "datumaro==1.13.12", "labelstudio": "label-studio==1.23.2"}
LOCKS = Path(__file__).parent / "locks"
INSTALL_TIMEOUT_S = 900


def tool_python(name: str) -> tuple[Path | None, str]:
    """The interpreter of the tool's virtualenv (made on first use), or None and why not."""
    folder = VENVS / name
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    lock = LOCKS / f"{name}.txt"
    installed = f"{TOOLS[name]}\n{lock.read_text()}"  # a changed lock remakes the virtualenv
    if stamp.exists() and stamp.read_text() == installed:
        return python, ""
    try:
        venv.create(folder, with_pip=True, clear=True)
        subprocess.run(  # noqa: S603 - our own venv's pip, a pinned requirement
            [str(python), "-m", "pip", "install", "-q", TOOLS[name], "-c", str(lock)],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"{TOOLS[name]} could not be installed: {exc} {detail.decode()[-500:]}"
    stamp.write_text(installed)
    return python, ""


def run_tool(python: Path, script: str, *args: str) -> str:
    """Run `script` (Python source) with the tool's interpreter; its stdout."""
    result = subprocess.run(  # noqa: S603 - our own venv's interpreter
        [str(python), "-c", script, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.stdout


def install_all() -> int:
    """Make every tool's virtualenv at once (`make interop-tools`), so that the tests that
    use them find them ready; 1 if one could not be installed (Datumaro's tests then fail;
    Label Studio's skip, or fail under `AVIARY_REQUIRE_TOOLS=1`, as in CI)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(TOOLS)) as pool:
        results = dict(zip(TOOLS, pool.map(tool_python, TOOLS), strict=True))
    for name, (python, why) in results.items():
        print(f"{name}: {python}" if python is not None else f"{name}: {why}")
    return 0 if all(python is not None for python, _ in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(install_all())
