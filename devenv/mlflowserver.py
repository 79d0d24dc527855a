"""A real MLflow tracking server for tests and the demo, in its own virtualenv.

MLflow's dependency pins and the project's (kubernetes, pydantic...) differ, so
the server lives in a virtualenv of its own under the per-user cache, created
once per MLflow version and reused. mlcp itself only ever talks REST to it.
A pre-migrated empty SQLite database is kept next to that virtualenv and
copied for each start: running MLflow's schema migrations costs seconds that
a warm start cannot afford. The background job runner (GenAI evaluation jobs)
is switched off: it forks a dozen workers that mlcp never uses.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devenv.binaries import cache_home
from devenv.processes import ServerProcess, free_port, http_ok

# 3.18.0 is listed on PyPI but its mlflow-skinny 3.18.0 was not served when this
# was pinned, so 3.17.2 is the newest installable release.
MLFLOW_VERSION = "3.17.2"
ADMIN_USER = "admin"
_READY_STAMP = ".mlcp-ready"
_ENV_DROP = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


class MlflowSetupError(RuntimeError):
    """The MLflow virtualenv could not be created."""


def home(version: str = MLFLOW_VERSION) -> Path:
    """`<XDG cache>/mlcp/mlflow/<version>/`: the virtualenv and the empty database."""
    return cache_home() / "mlcp" / "mlflow" / version


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once wait for one install
        yield


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise MlflowSetupError(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout[-2000:]}{result.stderr[-3000:]}\n"
            "Check that PyPI is reachable and that python3 can create virtualenvs "
            "(Debian: apt-get install python3-venv)."
        )


def requirement(version: str = MLFLOW_VERSION) -> str:
    """What pip installs: the server plus the extras `--app-name basic-auth` needs."""
    return f"mlflow[auth]=={version}"


def ensure_installed(version: str = MLFLOW_VERSION) -> Path:
    """The `mlflow` executable of the cached virtualenv, creating it if needed.

    The stamp records the requirement it was made for, so changing the pin or
    the extras updates the virtualenv in place on the next run.
    """
    root = home(version)
    venv = root / "venv"
    mlflow = venv / "bin" / "mlflow"
    stamp = root / _READY_STAMP
    wanted = requirement(version) + "\n"
    if stamp.is_file() and stamp.read_text() == wanted:
        return mlflow
    with _locked(root):
        if stamp.is_file() and stamp.read_text() == wanted:
            return mlflow
        print(f"devenv: installing {wanted.strip()} into {venv} (once, 1-3 minutes)", file=sys.stderr)
        began = time.monotonic()
        if not (venv / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(venv)], "creating the MLflow virtualenv")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        _run([*pip, "install", "--quiet", wanted.strip()], f"pip install {wanted.strip()}")
        empty_db = root / "empty.db"
        if not empty_db.is_file():
            _run([str(mlflow), "db", "upgrade", f"sqlite:///{empty_db}"], "creating MLflow's empty database")
        stamp.write_text(wanted)
        print(f"devenv: MLflow installed in {time.monotonic() - began:.0f} s", file=sys.stderr)
    return mlflow


def _auth_config(directory: Path, admin_password: str) -> Path:
    config = directory / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{directory / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN_USER}\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    config.chmod(0o600)
    return config


class MlflowServer:
    """One `mlflow server` with SQLite and local artifacts under `directory`."""

    def __init__(
        self,
        directory: Path,
        log_file: Path,
        basic_auth: bool = False,
        admin_password: str = "mlcp-dev-admin-password",
        version: str = MLFLOW_VERSION,
        default_artifact_root: str | None = None,
    ) -> None:
        self.directory = directory
        self.default_artifact_root = default_artifact_root
        """An object store experiments are placed in (`<it>/<id>`) without the artifact proxy; None: the proxy,
        over local files (`mlflow-artifacts:/`)."""
        self.basic_auth = basic_auth
        self.admin_password = admin_password
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._version = version
        self._log_file = log_file
        self.process: ServerProcess | None = None

    def admin_credentials(self) -> dict[str, str] | None:
        """`{"username", "password"}` of the basic-auth admin, or None without auth."""
        return {"username": ADMIN_USER, "password": self.admin_password} if self.basic_auth else None

    def start(self) -> None:
        """Launch the server; call from the main thread (see processes.py)."""
        mlflow = ensure_installed(self._version)
        self.directory.mkdir(parents=True, exist_ok=True)
        database = self.directory / "mlflow.db"
        shutil.copyfile(home(self._version) / "empty.db", database)
        env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        # Registry webhooks reach mlcp's loop on this machine: over http, to a loopback address (MLflow allows
        # only public https by default), and a newly registered webhook is seen within a second.
        env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"] = "http,https"
        env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"] = "true"
        env["MLFLOW_WEBHOOK_CACHE_TTL"] = "1"
        argv = [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{database}",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        if self.default_artifact_root:
            argv += ["--default-artifact-root", self.default_artifact_root, "--no-serve-artifacts"]
        else:
            argv += ["--artifacts-destination", str(self.directory / "artifacts")]
        if self.basic_auth:
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(_auth_config(self.directory, self.admin_password))
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)  # CSRF, required
            argv += ["--app-name", "basic-auth"]
        self.process = ServerProcess("mlflow", argv, self._log_file, env, cwd=self.directory)
        self.process.start()

    def wait_ready(self, timeout: float) -> None:
        if self.process is None:
            raise RuntimeError("MlflowServer.wait_ready() called before start()")
        url = f"{self.uri}/health"
        self.process.wait_until(lambda: http_ok(url, expect=b"OK"), timeout)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
