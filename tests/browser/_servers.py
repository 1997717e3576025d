"""Start a Jupyter-family server for a browser test the way a user starts it (a ``make`` target).

:func:`start` runs ``make -s -C <repo> <target> VAR=…`` in its own process group, with an isolated
Jupyter environment (:func:`isolated_env`: own config, data, runtime and settings folders; the
``python3`` kernel is this interpreter; ``HALIGN_SMOKE=1``; the repository on ``PYTHONPATH``), and
waits until ``probe`` answers HTTP 200. Used by ``test_voila.py`` and ``test_notebook7.py``;
JupyterLab itself is started by ``conftest.py``'s ``lab_server`` fixture.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import lab_overrides  # noqa: E402

_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(base: Path) -> tuple[dict[str, str], dict[str, Path]]:
    """Environment and folders of an isolated Jupyter setup under ``base`` (lab overrides written)."""
    dirs = {name: base / name for name in ("config", "data", "runtime", "app_settings", "user_settings",
                                           "workspaces", "kernels_path")}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    lab_overrides.write(dirs["app_settings"])
    spec_dir = dirs["kernels_path"] / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}), encoding="utf-8")
    env = dict(os.environ, HALIGN_SMOKE="1",
               JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
               JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTER_PATH=str(dirs["kernels_path"]),
               JUPYTERLAB_SETTINGS_DIR=str(dirs["user_settings"]),
               JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return env, dirs


@dataclass
class Server:
    """A running server: base URL, token, log file and process (its own process group)."""

    url: str
    token: str
    log: Path
    process: subprocess.Popen

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start(target: str, make_vars: dict[str, str], env: dict[str, str], cwd: Path, log: Path, port: int,
          token: str, probe: str, timeout: float = 90.0) -> Server:
    """``make <target>`` with ``make_vars``; wait until ``<url><probe>`` answers 200 (fail with the log)."""
    cmd = ["make", "-s", "-C", str(ROOT), target, f"VENV={Path(sys.executable).parents[1]}"]
    cmd += [f"{k}={v}" for k, v in make_vars.items()]
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, log, proc)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"`make {target}` exited with code {proc.returncode}:\n{server.log_tail()}")
        try:
            with _LOCAL.open(f"{server.url}{probe}", timeout=2) as resp:
                if resp.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"`make {target}` did not answer within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.3)
