"""A real JupyterHub for the round-trip test: Unix accounts, the hub, its proxy, tokens.

Everything runs on 127.0.0.1 with free ports, from ``deploy/jupyterhub/jupyterhub_config.py``
and a settings file written for the test. The accounts are created with ``useradd`` under
unique names (``aghub`` and a random tag) and removed afterwards with their processes, which
only this test starts as them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
PROXY = REPO / "tests" / "browser" / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
# Generous: a single-user server imports JupyterLab and nbgrader on a machine other tests load.
START_TIMEOUT = 240.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = START_TIMEOUT) -> Any:
    """Call ``probe`` until it returns something true; fail with ``what`` after ``timeout``.

    Args:
        what: What is awaited, for the failure message.
        probe: Returns a true value when done; may raise ``requests.ConnectionError``.
        timeout: Seconds to wait.

    Returns:
        The probe's first true value.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except requests.ConnectionError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.5)


def create_account(name: str, homes: Path) -> pwd.struct_passwd:
    """Create a Unix account with its own group and a private home folder under ``homes``.

    Args:
        name: The account's name.
        homes: The folder that holds the home folder.

    Returns:
        The new account.
    """
    # Homes closed to other accounts, as the deploy README asks (Debian's default is 0755).
    subprocess.run(["useradd", "--create-home", "--home-dir", str(homes / name),
                    "--key", "HOME_MODE=0700", "--user-group", "--shell", "/bin/sh", name],
                   check=True, capture_output=True, text=True)
    return pwd.getpwnam(name)


def remove_account(name: str) -> None:
    """End every process of an account this test created, then remove it and its group."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for _ in range(20):
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()
                and _uid_of(int(entry)) == uid]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.25)
    subprocess.run(["userdel", name], check=False, capture_output=True)
    subprocess.run(["groupdel", name], check=False, capture_output=True)


def _uid_of(pid: int) -> int | None:
    """The real uid of a process, or None when it is gone."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return None


def closed_folder(path: Path) -> Path | None:
    """The outermost folder on the way to ``path`` that other accounts cannot enter.

    A Python installed under root's home (pyenv in /root, mode 0700) runs for root alone;
    the hub's servers run as other accounts and must start it too.

    Args:
        path: A folder every account must reach.

    Returns:
        The folder, or None when every folder on the way may be entered by anyone.
    """
    for folder in reversed(path.parents):
        if not folder.stat().st_mode & 0o001:
            return folder
    return None


def _opened_installation(base: Path) -> list[str]:
    """A command prefix that runs the hub where the Python installation is reachable by all.

    Where a folder on the way to the installation is closed (see :func:`closed_folder`), the
    hub runs in a mount namespace of its own: an empty tmpfs (mode 0755) over the closed
    folder, and the installation's folder below it bound back in. Nothing changes for the
    rest of the machine, and every server the hub starts inherits the namespace.

    Args:
        base: The test's folder, for the mount point that holds the installation meanwhile.

    Returns:
        The prefix (empty when nothing is closed).
    """
    installation = Path(sys.base_prefix).resolve()
    closed = closed_folder(installation)
    if closed is None:
        return []
    below = closed / installation.relative_to(closed).parts[0]
    stash = base / "installation"
    stash.mkdir()
    script = ('set -e; mount --bind "$1" "$3"; mount -t tmpfs -o mode=0755 tmpfs "$2"; '
              'mkdir -p "$1"; mount --bind "$3" "$1"; shift 3; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            str(below), str(closed), str(stash)]


@dataclass
class Hub:
    """A running hub and the accounts of one course.

    Attributes:
        base: The test's folder (homes, course, exchange, the hub's state).
        url: The hub's public address.
        course_id: The nbgrader course id (also the formgrader service's name).
        course: The course folder, owned by the grader account.
        exchange: nbgrader's exchange folder.
        grader: The account the formgrader and grading run as.
        instructor: An instructor's account name.
        learners: The learners' account names.
        process: The ``jupyterhub`` process.
        log: The hub's log file.
        tokens: Each user's API token.
        namespace: The command prefix that gave the hub its mount namespace, if any.
        api_url: The hub's own API, as servers reach it (``$JUPYTERHUB_API_URL``).
    """

    base: Path
    url: str
    course_id: str
    course: Path
    exchange: Path
    grader: pwd.struct_passwd
    instructor: str
    learners: list[str]
    process: subprocess.Popen | None = None
    log: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    namespace: list[str] = field(default_factory=list)
    api_url: str = ""

    def run_as(self, account: pwd.struct_passwd, command: list[str], cwd: Path,
               env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
        """Run a command as an account, as its terminal on the hub would: its uid, its group.

        Args:
            account: Who runs it.
            command: The command line.
            cwd: Where it runs.
            env: Variables besides HOME, USER and LOGNAME.
            timeout: Seconds before it is stopped.

        Returns:
            The finished process (output captured).
        """
        # In the hub's mount namespace (where the Python installation is reachable), if any.
        enter = ["nsenter", f"--target={self.process.pid}", "--mount", f"--wd={cwd}", "--"] \
            if self.namespace else []
        drop = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                "--clear-groups", "--"]
        return subprocess.run(
            [*enter, *drop, *command], cwd=cwd, umask=0o022, capture_output=True, text=True,
            timeout=timeout, check=False,
            env={**env, "HOME": account.pw_dir, "USER": account.pw_name,
                 "LOGNAME": account.pw_name})

    def settings(self, service_port: int, hub_port: int, proxy_port: int) -> str:
        """The hub's settings file (``courses.toml``) for this test."""
        quoted = ", ".join(f'"{name}"' for name in self.learners)
        return (
            "[hub]\n"
            f'ip = "127.0.0.1"\nport = {self.url.rsplit(":", 1)[1]}\n'
            f"hub_port = {hub_port}\nproxy_api_port = {proxy_port}\n"
            f'state_dir = "{self.base / "state"}"\nexchange = "{self.exchange}"\n'
            f'python = "{sys.prefix}"\nproxy = "{PROXY}"\nadmins = []\n\n'
            f"[courses.{self.course_id}]\n"
            f'root = "{self.course}"\ngrader = "{self.grader.pw_name}"\n'
            f'port = {service_port}\ninstructors = ["{self.instructor}"]\n'
            f"learners = [{quoted}]\n")

    def environment(self) -> dict[str, str]:
        """The environment the hub gives the grader's service, for the grader's commands."""
        return {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
                "JUPYTER_CONFIG_PATH": str(CONFIG.parent / "nbgrader" / "exchange"),
                "KERAS_CLASSROOM_EXCHANGE": str(self.exchange),
                "LANG": "C.UTF-8"}

    def start(self) -> None:
        """Start ``jupyterhub`` with the deploy config and wait until its API answers."""
        state = self.base / "state"
        state.mkdir(mode=0o700)
        settings = self.base / "courses.toml"
        hub_port = free_port()
        self.api_url = f"http://127.0.0.1:{hub_port}/hub/api"
        settings.write_text(self.settings(free_port(), hub_port, free_port()))
        self.log = self.base / "jupyterhub.log"
        env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
               "HOME": "/root", "KERAS_CLASSROOM_HUB": str(settings)}
        with self.log.open("w") as log:
            self.namespace = _opened_installation(self.base)
            self.process = subprocess.Popen(
                [*self.namespace, str(BIN / "jupyterhub"), "-f", str(CONFIG)], cwd=state, env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for("the hub's API", self._answers)
        for name in [self.instructor, *self.learners]:
            self.tokens[name] = self._token(name, env)

    def _answers(self) -> bool:
        """Whether the hub answers (and has not died)."""
        if self.process.poll() is not None:
            raise AssertionError(f"jupyterhub exited:\n{self.log_tail()}")
        return requests.get(f"{self.url}/hub/api/", timeout=10).ok

    def _token(self, name: str, env: dict[str, str]) -> str:
        """A new API token of a user, from ``jupyterhub token`` (what an admin would run)."""
        done = subprocess.run([str(BIN / "jupyterhub"), "token", "-f", str(CONFIG), name],
                              cwd=self.base / "state", env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1]

    def api(self, user: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a hub URL (``/hub/api/...``, ``/user/...``, ``/services/...``) as a user.

        Args:
            user: Whose token authorises the call.
            method: The HTTP method.
            path: The path after the hub's address.
            **kwargs: Passed to ``requests`` (redirects are not followed unless asked).

        Returns:
            The response (never raised on status).
        """
        headers = {"Authorization": f"token {self.tokens[user]}", **kwargs.pop("headers", {})}
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.url + path, headers=headers, timeout=300, **kwargs)

    def start_server(self, user: str) -> None:
        """Ask the hub for a user's server and wait until it is ready."""
        started = self.api(user, "POST", f"/hub/api/users/{user}/server")
        assert started.status_code in (201, 202, 400), started.text
        wait_for(f"{user}'s server", lambda: self._ready(user))

    def _ready(self, user: str) -> bool:
        """Whether a user's server is up, through the proxy."""
        if self.process.poll() is not None:
            raise AssertionError(f"jupyterhub exited:\n{self.log_tail()}")
        model = self.api(user, "GET", f"/hub/api/users/{user}").json()
        server = model.get("servers", {}).get("")
        return bool(server and server.get("ready")) and self.api(
            user, "GET", f"/user/{user}/api/status").ok

    def log_tail(self, chars: int = 6000) -> str:
        """The end of the hub's log (it includes the servers' and the service's output)."""
        return self.log.read_text(errors="replace")[-chars:] if self.log else ""

    def stop(self) -> None:
        """Stop the hub (it stops its proxy, the service and the servers) and wait for it.

        A hub that died on its own (a service that failed to start) leaves its proxy running:
        that proxy, named by the pid file the hub wrote, is stopped here.
        """
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        pid_file = self.base / "state" / "jupyterhub-proxy.pid"
        try:
            pid = int(pid_file.read_text().strip())
            # Only the proxy this hub started: the pid file may outlive it, its pid reused.
            if str(PROXY) in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass


def new_hub(base: Path, course_id: str, learners: int) -> Hub:
    """Create the accounts of one course and describe its hub (not started yet).

    Args:
        base: An empty folder every account can traverse.
        course_id: The nbgrader course id.
        learners: How many learner accounts.

    Returns:
        The hub, with accounts made and the exchange folder ready.
    """
    tag = uuid.uuid4().hex[:6]
    homes = base / "home"
    homes.mkdir()
    grader = create_account(f"aghub{tag}g", homes)
    instructor = create_account(f"aghub{tag}i", homes).pw_name
    names = [create_account(f"aghub{tag}l{index}", homes).pw_name for index in range(learners)]
    exchange = base / "exchange"
    exchange.mkdir()
    # nbgrader's release insists on an exchange root of mode 777; the sticky bit keeps one
    # course's folder safe from another course's accounts.
    exchange.chmod(0o1777)
    return Hub(base, f"http://127.0.0.1:{free_port()}", course_id, base / "course", exchange,
               grader, instructor, names)


def remove_hub(hub: Hub) -> None:
    """Stop the hub, remove its accounts and its folder."""
    hub.stop()
    for name in [hub.grader.pw_name, hub.instructor, *hub.learners]:
        remove_account(name)
    shutil.rmtree(hub.base, ignore_errors=True)
