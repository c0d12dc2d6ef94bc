"""The sandbox and a kernel's own namespaces, checked from a real confined process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.errors import SandboxUnavailable
from autograder.grading import sandbox

CONFINED = """\
import json, os, resource, sys
from autograder.grading import confine
from autograder.grading.sandbox import Limits

confine.leave_root()

def look():
    seen = {"uid": os.getuid(), "pid": os.getpid()}
    try:
        with open("/tmp/fill", "wb") as handle:
            for _ in range(16):
                handle.write(bytes(2**20))
        seen["scratch"] = "not limited"
    except OSError as exc:
        seen["scratch"] = exc.strerror
    seen["nproc"] = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    seen["fsize"] = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    seen["capabilities"] = [line.split()[1] for line in open("/proc/self/status")
                            if line.startswith(("CapEff", "CapBnd"))]
    seen["no_new_privs"] = [line.split()[1] for line in open("/proc/self/status")
                            if line.startswith("NoNewPrivs")][0]
    seen["root"] = sorted(os.listdir("/"))
    seen["folder"] = sorted(os.listdir(sys.argv[1]))
    seen["beside"] = sorted(os.listdir(os.path.dirname(sys.argv[1])))
    print(json.dumps(seen), flush=True)
    return 0

if os.fork() == 0:
    # The reported pid goes to stderr: it is printed by the parent and may come after the
    # child's own line, which the test reads from stdout.
    confine.spawn(look, limits=Limits(scratch_mb=4, processes=64, file_mb=8),
                  report=lambda pid: print(pid, file=sys.stderr, flush=True),
                  folder=sys.argv[1], hide=os.path.dirname(sys.argv[1]))
os.wait()
"""


def test_this_machine_can_confine() -> None:
    assert sandbox.probe() is None


def test_a_confined_process_has_its_limits_and_no_privileges(tmp_path: Path) -> None:
    from autograder.grading import staging

    base = staging.new_folder(None, "test-sandbox-")
    try:
        mine = staging.new_folder(base, "k-")
        (mine / "notebook.ipynb").write_text("{}")
        staging.new_folder(base, "k-other-")
        done = subprocess.run(sandbox.command([sys.executable, "-c", CONFINED, str(mine)],
                                              writable=[base]),
                              capture_output=True, text=True, timeout=120, check=False)
    finally:
        staging.remove(base)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["pid"] == 1
    assert seen["uid"] == (sandbox.SANDBOX_UID if os.geteuid() == 0 else os.getuid())
    assert seen["scratch"] == "No space left on device"
    assert seen["nproc"] == 64 and seen["fsize"] == 8 * 2**20
    assert seen["capabilities"] == ["0000000000000000", "0000000000000000"]
    assert seen["no_new_privs"] == "1"
    # Of the worker's staging folder, only this kernel's own folder is there.
    assert seen["folder"] == ["notebook.ipynb"] and seen["beside"] == [mine.name]
    # The root holds the system, the way to the Python environment and to the stage: no more.
    expected = {"usr", "etc", "dev", "proc", "tmp"}
    expected |= {name.strip("/") for name in sandbox._USR_LINKS if os.path.lexists(name)}
    expected |= {Path(path).parts[1] for path in (*sandbox.python_paths(), str(base))}
    assert set(seen["root"]) == expected


def test_the_sandbox_binds_the_python_environment_and_nothing_of_the_course(
        tmp_path: Path) -> None:
    command = sandbox.command(["true"], writable=[tmp_path / "stage"])
    binds = {command[i + 2] for i, arg in enumerate(command) if arg in ("--bind", "--ro-bind")}
    assert {os.path.realpath(sys.prefix), str(tmp_path / "stage")} <= binds | {sys.prefix}
    assert str(Path.home()) not in binds and "/" not in binds
    assert "--unshare-net" in command and "--die-with-parent" in command


def test_missing_bubblewrap_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTOGRADER_BWRAP", str(tmp_path / "no-bwrap"))
    with pytest.raises(SandboxUnavailable, match="no-bwrap"):
        sandbox.bwrap_path()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root grader's kernels change account")
def test_a_module_closed_to_the_sandbox_account_is_named() -> None:
    import shutil
    import tempfile

    from autograder.grading import confine

    # A folder anyone may list (pytest's own temporary folders are closed to other users),
    # holding a module only root may read, as an installation made under umask 077 does.
    folder = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="closed-module-"))
    try:
        folder.chmod(0o755)
        module = folder / "numpy.py"
        module.write_text("")
        module.chmod(0o600)
        read, write = os.pipe()
        child = os.fork()
        if child == 0:
            try:
                os.close(read)
                sys.modules.pop("numpy", None)
                sys.path.insert(0, str(folder))
                confine.leave_root()
                os.write(write, json.dumps(confine._unreadable_module(("numpy",))).encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            found = json.loads(answer.read() or "null")
        os.waitpid(child, 0)
    finally:
        shutil.rmtree(folder)
    assert found == str(module)


# Run by the test in a fresh session keyring of its own holding one key, as a grader's would:
# a confined process must neither see that key nor reach keyrings at all, and it gets a small
# /dev/shm of its own.
KEYS_AND_SHM = """\
import ctypes, errno, json, os, platform, sys
from autograder.grading import confine
from autograder.grading.sandbox import Limits

libc = ctypes.CDLL(None, use_errno=True)
add_key, _, keyctl = confine._KEY_SYSCALLS[platform.machine()][1]
assert libc.syscall(keyctl, 1, None) > 0
description = sys.argv[1].encode()
assert libc.syscall(add_key, b"user", description, b"payload", 7, -3) > 0
before = os.stat("/dev/shm").st_dev
confine.leave_root()

def look():
    seen = {"listed": sys.argv[1] in open("/proc/keys").read()}
    libc.syscall(keyctl, 10, -3, b"user", description, 0)
    seen["search"] = os.strerror(ctypes.get_errno())
    libc.syscall(add_key, b"user", b"mine", b"x", 1, -3)
    seen["add"] = os.strerror(ctypes.get_errno())
    shm = os.statvfs("/dev/shm")
    seen["shm_bytes"] = shm.f_blocks * shm.f_frsize
    seen["shm_own"] = os.stat("/dev/shm").st_dev != before
    seen["shm_files"] = os.listdir("/dev/shm")
    print(json.dumps(seen), flush=True)
    return 0

if os.fork() == 0:
    confine.spawn(look, limits=Limits(shm_mb=8), report=lambda pid: None)
os.wait()
"""


@pytest.mark.parametrize("filtered", [True, False])
def test_a_confined_process_reaches_no_keyring_and_has_its_own_dev_shm(filtered: bool) -> None:
    import uuid

    description = f"ag-test-{uuid.uuid4().hex[:8]}"
    script = KEYS_AND_SHM
    if not filtered:
        # The fresh session keyring alone, without the seccomp filter on top of it.
        script = script.replace("confine.leave_root()\n",
                                "confine.leave_root()\nconfine._forbid_keyrings = lambda: None\n")
    done = subprocess.run(sandbox.command([sys.executable, "-c", script, description]),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["listed"] is False
    if filtered:
        assert seen["search"] == seen["add"] == "Operation not permitted"
    else:
        # Its session keyring is new: the key of the process that started it is not in it.
        assert seen["search"] == "Required key not available"
    assert seen["shm_own"] and seen["shm_bytes"] == 8 * 2**20 and seen["shm_files"] == []


def test_a_sandboxed_environment_is_made_from_the_allow_list() -> None:
    from autograder.grading import provisioner

    grader = {"AWS_SECRET_ACCESS_KEY": "key", "GITHUB_TOKEN": "token", "LD_PRELOAD": "x.so",
              "PYTHONPATH": "/course", "PATH": "/home/me/bin:/usr/bin", "LC_ALL": "C.UTF-8",
              "LANG": "C.UTF-8", "COURSE_EPOCHS": "3", "OMP_NUM_THREADS": "1"}
    made = sandbox.environment(grader, HOME="/tmp")
    assert made == {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "COURSE_EPOCHS": "3",
                    "OMP_NUM_THREADS": "1", "HOME": "/tmp",
                    "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/sbin",
                                             "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin",
                                             "/bin"])}
    kernel = provisioner.kernel_environment(grader, Path("/stage"))
    assert not {"AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "LD_PRELOAD", "PYTHONPATH"} & set(kernel)
    assert kernel[provisioner.EXPORT_ENV] == "/stage/exports" and kernel["HOME"] == "/tmp/home"
