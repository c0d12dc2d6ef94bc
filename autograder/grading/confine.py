"""A kernel's own namespaces, entered by a fork inside the sandbox before learner code runs.

bubblewrap (:mod:`autograder.grading.sandbox`) confines the preloader; this module confines each
process the preloader forks for a kernel, which bubblewrap cannot do because the fork must keep
the memory of a process that has already imported Keras. It makes the system calls that
bubblewrap itself makes (``unshare``, ``mount``, ``prctl``, ``capset``), nothing more:

- ``unshare`` of the user, mount, PID, network, IPC and UTS namespaces; the fork that follows is
  PID 1 of a new PID namespace, so when it ends the kernel (Linux) kills everything it started;
- a private ``/tmp`` (tmpfs with a size limit, also ``$HOME``) and ``/dev/shm`` (smaller), a
  fresh ``/proc`` that shows only its own processes, and of the worker's staging folder only the
  kernel's own subfolder; a new session keyring (``keyctl``), since keyrings have no namespace,
  and then no keyring system calls at all (a seccomp filter);
- limits (``RLIMIT_NPROC``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, no core files), death with its
  parent, every inherited descriptor above stderr closed, and finally no capabilities and
  ``no_new_privs``, so it can neither undo any of this nor gain privileges by ``exec``.

Mounts made before the capabilities are dropped are locked to the kernel: a new user namespace
it creates later sees them but cannot unmount them.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from typing import NoReturn

from autograder.grading.sandbox import SANDBOX_GID, SANDBOX_UID, Limits, python_paths

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_BIND, _MS_REC, _MS_PRIVATE = 0x1000, 0x4000, 1 << 18
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAP_VERSION_3 = 0x20080522
_LAST_CAP = 63

# Per machine: the audit architecture seccomp reports, and the numbers of add_key, request_key
# and keyctl. keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) makes a new anonymous session keyring.
_KEY_SYSCALLS = {
    "x86_64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
    "riscv64": (0xC00000F3, (217, 218, 219)),
    "ppc64le": (0xC0000015, (269, 270, 271)),
    "s390x": (0x80000016, (278, 279, 280)),
}
_KEYCTL_JOIN_SESSION_KEYRING = 1
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_SECCOMP_RET_ALLOW, _SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
# x86_64's x32 system calls carry this bit; no kernel needs them.
_X32_BIT = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


class ConfinementError(OSError):
    """A system call of the confinement failed; the kernel must not start."""


def _call(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise ConfinementError(code, f"{what}: {os.strerror(code)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _call(_libc.mount(source.encode(), target.encode(),
                      fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                      data.encode() if data else None), f"mount {target}")


def leave_root() -> None:
    """Give up root for the sandbox's unprivileged account (only a root grader's sandbox is
    root here); a no-op otherwise. Called before anything else in a sandboxed process."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setgid(SANDBOX_GID)
    os.setuid(SANDBOX_UID)
    # Changing uid makes a process undumpable, which leaves its /proc/self files owned by root
    # and so its forks unable to write their namespaces' uid maps. Nothing outside the sandbox
    # runs as this account, and kernels cannot see this process.
    _call(_libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(DUMPABLE)")
    # A change of uid also clears the parent-death signal that bubblewrap set: set it again, so
    # this process still dies with the sandbox.
    _call(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")


def _key_syscalls() -> tuple[int, tuple[int, int, int]]:
    import platform

    known = _KEY_SYSCALLS.get(platform.machine())
    if known is None:
        raise ConfinementError(errno.ENOSYS, f"keyrings: no system call numbers known for "
                                             f"{platform.machine()}")
    return known


def new_session_keyring() -> None:
    """Give this process (and what it starts) a new, empty session keyring of its own.

    Keyrings belong to no namespace: without this, every process of a batch shares the session
    keyring it inherited from the grader, so a key one kernel adds is found by the next, and a
    kernel can search the grader's own keys. A process that joins a new anonymous keyring
    possesses none of those keys any more.

    Raises:
        ConfinementError: The keyring could not be replaced (a machine whose kernel forbids
            keyrings altogether, as some container runtimes do, is fine: nothing is shared).
    """
    keyctl = _key_syscalls()[1][2]
    if _libc.syscall(keyctl, _KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
            raise ConfinementError(code, f"keyctl(JOIN_SESSION_KEYRING): {os.strerror(code)}")


def _forbid_keyrings() -> None:
    """Refuse the keyring system calls (``EPERM``) to this process and all it starts.

    A fresh session keyring keeps a kernel's keys out of every other's keyrings, but a key
    whose permissions a kernel opens to its own uid can still be read by id from another
    kernel of the same uid, which finds the id in ``/proc/keys``. No kernel needs keyrings
    (container runtimes forbid them by default), so a seccomp filter refuses ``add_key``,
    ``request_key`` and ``keyctl``, and every system call of another architecture's ABI
    (32-bit or x32), through which they could be reached under other numbers.
    """
    arch, numbers = _key_syscalls()

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                    ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    # Instructions: a jump's jt/jf count the instructions it skips; the last two are the
    # verdicts (allow, then deny).
    code = [(load, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, deny), (load, 0, 0, 0),
            (jge, 4, 0, _X32_BIT)]
    code += [(jeq, 3 - index, 0, number) for index, number in enumerate(numbers)]
    code += [(ret, 0, 0, _SECCOMP_RET_ALLOW), (ret, 0, 0, deny)]
    program = (Filter * len(code))(*[Filter(*instruction) for instruction in code])
    _call(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER,
                      ctypes.byref(Program(len(code), program)), 0, 0), "prctl(SECCOMP)")


def _enter_namespaces(limits: Limits, folder: str | None, hide: str | None) -> None:
    uid, gid = os.getuid(), os.getgid()
    _call(_libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET
                        | _CLONE_NEWIPC | _CLONE_NEWUTS), "unshare")
    # The same ids inside as outside: files the kernel writes belong to the sandbox's account.
    with open("/proc/self/setgroups", "w") as out:
        out.write("deny")
    with open("/proc/self/uid_map", "w") as out:
        out.write(f"{uid} {uid} 1\n")
    with open("/proc/self/gid_map", "w") as out:
        out.write(f"{gid} {gid} 1\n")
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, None)
    # A fresh /tmp, keeping visible what lives below it: the Python environment of a checkout
    # under /tmp, or the staging folder when the system's temporary folder holds it.
    visible = [path for path in (*python_paths(), hide or folder) if path]
    _cover("/tmp", visible, f"size={limits.scratch_mb}m,mode=0700,uid={uid},gid={gid}")
    os.makedirs("/tmp/home", mode=0o700, exist_ok=True)
    # A /dev/shm of its own, small: POSIX shared memory and semaphores work, but what one kernel
    # leaves there neither outlives it nor reaches the next kernel of its preloader.
    _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={limits.shm_mb}m,mode=1777,uid={uid},gid={gid}")
    if folder and hide:
        # Cover the worker's whole staging folder, then put back only this kernel's part.
        _cover(hide, [folder], "size=1m,mode=0755")


def _cover(target: str, keep: list[str], options: str) -> None:
    """Mount a fresh tmpfs on ``target``, then bind back those of ``keep`` that were below it."""
    below = [path for path in keep if path.startswith(target.rstrip("/") + "/")
             and os.path.isdir(path)]
    handles = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in below]
    _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    for path, handle in handles:
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{handle}", path, None, _MS_BIND | _MS_REC, None)
        os.close(handle)


def _close_inherited(keep: tuple[int, ...], upto: int) -> None:
    low = 3
    for fd in sorted(set(keep)):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, upto)


def _become_pid_one(limits: Limits, keep: tuple[int, ...]) -> None:
    _call(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    for limit, value in ((resource.RLIMIT_NPROC, limits.processes),
                         (resource.RLIMIT_FSIZE, limits.file_mb * 2**20),
                         (resource.RLIMIT_NOFILE, limits.open_files),
                         (resource.RLIMIT_CORE, 0)):
        soft, hard = resource.getrlimit(limit)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (cap, cap))
    _close_inherited(keep, limits.open_files + 1024)
    _drop_capabilities()


def _drop_capabilities() -> None:
    for cap in range(_LAST_CAP + 1):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != errno.EINVAL:
            raise ConfinementError(ctypes.get_errno(), f"prctl(CAPBSET_DROP, {cap})")
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(_CAP_VERSION_3, 0), (Data * 2)()
    _call(_libc.capset(ctypes.byref(header), data), "capset")
    _call(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _forbid_keyrings()


def spawn(run: Callable[[], int], *, limits: Limits, report: Callable[[int], None],
          folder: str | None = None, hide: str | None = None,
          keep: tuple[int, ...] = ()) -> NoReturn:
    """In a fresh fork of the preloader: start ``run`` confined, and wait for it.

    This process enters the new namespaces and forks the confined process (PID 1 of its own PID
    namespace), reports that process's pid (as the preloader sees it), waits for it and exits
    with its status. It never returns.

    Args:
        run: What the confined process does (become the kernel); its return is the exit code.
        limits: The submission's limits.
        report: Called here with the confined process's pid, or with 0 when it could not start.
        folder: The kernel's own folder inside the staging folder.
        hide: The staging folder, of which only ``folder`` stays visible.
        keep: Descriptors the confined process keeps (a verification's reply channel).
    """
    try:
        # Die with the preloader: nothing of a submission outlives its worker.
        _call(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PDEATHSIG)")
        new_session_keyring()
        _enter_namespaces(limits, folder, hide)
        pid = os.fork()
    except OSError as exc:
        print(f"autograder: the kernel could not be confined: {exc}", file=sys.stderr)
        report(0)
        os._exit(70)
    if pid == 0:
        code = 1
        try:
            _become_pid_one(limits, keep)
            code = run()
        except BaseException:  # noqa: BLE001 - never run learner code unconfined; just leave
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    report(pid)
    # Only this process's own descriptors stay open while it waits.
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _probe() -> int:
    """Enter the confinement once; the confined process prints what it saw, as JSON."""
    leave_root()

    def look() -> int:
        processes = [name for name in os.listdir("/proc") if name.isdigit()]
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(1)
        try:
            probe.connect(("127.0.0.1", 9))
            network = True
        except OSError as exc:
            # Refused would mean a network with a loopback; unreachable means none at all.
            network = exc.errno != errno.ENETUNREACH
        finally:
            probe.close()
        ok = os.getpid() == 1 and len(processes) == 1 and not network
        seen = f"pid {os.getpid()}, {len(processes)} processes, network {network}"
        unreadable = _unreadable_module()
        print(json.dumps({"ok": ok and unreadable is None,
                          "error": None if ok else f"it saw {seen}",
                          "unreadable": unreadable}), flush=True)
        return 0 if ok and unreadable is None else 1

    child = os.fork()
    if child == 0:
        spawn(look, limits=Limits(scratch_mb=8), report=lambda pid: None)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


# Modules every kernel imports, from each place an installation keeps them: the standard
# library, the site-packages of the grading environment, and this package.
_KERNEL_MODULES = ("encodings", "numpy", "ipykernel", "keras", "autograder")


def _unreadable_module(names: tuple[str, ...] = _KERNEL_MODULES) -> str | None:
    """The first module file a kernel needs that this account cannot read, or None.

    A root grader's kernels run as the sandbox's own account, which reads the Python
    environment as any user does: files installed with a umask such as 077 are closed to it.

    Args:
        names: Top-level modules to look for.

    Returns:
        The file that could not be read (or the folder of a module not found), or None.
    """
    import importlib.util

    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, OSError, ValueError):
            spec = None
        if spec is None or not spec.origin:
            return f"the folder that holds the module {name}"
        try:
            with open(spec.origin, "rb") as handle:
                handle.read(1)
        except OSError:
            return spec.origin
    return None


def _start_kernel() -> int:
    """Start one confined kernel (no preloader): read its request from stdin, write its pid."""
    from autograder.grading.forkserver import run_kernel

    leave_root()
    request = json.loads(sys.stdin.readline())
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    # The kernel's own output goes to the log, never into the channel read for its pid.
    os.dup2(2, 1)

    def report(pid: int) -> None:
        replies.write(json.dumps({"pid": pid} if pid else {"error": "not confined"}) + "\n")
        replies.flush()

    # bubblewrap bound only this kernel's stage: there is nothing beside it to hide, but it must
    # stay visible when it lies below /tmp.
    spawn(lambda: run_kernel(request, confined=True), limits=Limits(), report=report,
          folder=request.get("folder"))


if __name__ == "__main__":
    # `python -m` put the start-up folder first on sys.path; a kernel must not import from it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    if sys.argv[1:] == ["--probe"]:
        sys.exit(_probe())
    if sys.argv[1:] == ["--kernel"]:
        sys.exit(_start_kernel())
    print("usage: python -m autograder.grading.confine --probe | --kernel", file=sys.stderr)
    sys.exit(2)
