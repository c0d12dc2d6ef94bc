"""The folders a confined kernel sees, and the one way exports leave them.

A kernel never runs in the course folder. Its provisioner copies the notebook's folder into a
fresh *stage* (``work/``, the kernel's working directory), next to ``exports/`` (where grade
cells hand over plain data) and the kernel's connection file and sockets. Stages live in a
staging folder per worker, outside ``/tmp`` (each kernel gets its own ``/tmp``) and outside the
course. When the kernel is gone, :func:`collect_exports` copies what it exported into a folder
the grader created for this run, refusing anything that is not a small regular file, and the
stage is deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from autograder.grading import sandbox

# What an export may be called and how large each kind may be (the verifier has its own caps).
_EXPORT_NAME = re.compile(r"^(answer|rejected|scaler)-[A-Za-z_][A-Za-z0-9_]{0,63}\.json$"
                          r"|^model-[A-Za-z_][A-Za-z0-9_]{0,63}\.keras$"
                          r"|^arrays-[A-Za-z_][A-Za-z0-9_]{0,63}\.npz$"
                          r"|^classes-[A-Za-z_][A-Za-z0-9_]{0,63}\.pkl$")
# A model's own classes (pickled by value; only the confined evaluator reads them).
_MAX_BYTES = {".json": 2 * 2**20, ".keras": 200 * 2**20, ".npz": 200 * 2**20,
              ".pkl": 20 * 2**20}
MAX_EXPORTS = 200
REFUSED_FILE = "refused.json"
# Notebook folders larger than this are not copied into a stage: a submission is a notebook
# and a few small files.
MAX_SUBMISSION_BYTES = 200 * 2**20


def stage_root() -> Path:
    """Where staging folders go: ``$AUTOGRADER_STAGE_ROOT``, else ``/var/tmp``, else the
    system's temporary folder.

    Returns:
        An existing folder.
    """
    configured = os.environ.get("AUTOGRADER_STAGE_ROOT")
    for candidate in (configured, "/var/tmp", tempfile.gettempdir()):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    raise OSError("no writable folder for grading stages; set AUTOGRADER_STAGE_ROOT")


# A Unix socket's path holds at most 107 bytes, and a kernel's sockets lie deepest of all that a
# batch makes: <stage root>/ag-xxxxxxxx/w99-xxxxxxxx/k-xxxxxxxx/ipc-99.
SOCKET_PATH_MAX = 107
RUN_PREFIX = "ag-"
_BELOW_STAGE_ROOT = len(f"/{RUN_PREFIX}xxxxxxxx/w99-xxxxxxxx/k-xxxxxxxx/ipc-99")


def check_socket_room(root: Path) -> None:
    """Refuse a stage root so deep that a kernel's sockets below it could not be created.

    Args:
        root: The stage root (:func:`stage_root`).

    Raises:
        UsageError: The deepest socket path would be longer than :data:`SOCKET_PATH_MAX`.
    """
    from autograder.errors import UsageError

    longest = len(os.fsencode(root)) + _BELOW_STAGE_ROOT
    if longest > SOCKET_PATH_MAX:
        raise UsageError(f"the stage root {root} is too deep: a kernel's sockets below it would "
                         f"need paths of {longest} bytes, and a Unix socket's path holds at most "
                         f"{SOCKET_PATH_MAX}. Set AUTOGRADER_STAGE_ROOT to a shorter folder, "
                         f"such as /var/tmp.")


def new_folder(parent: Path | None, prefix: str) -> Path:
    """Create a private folder the sandbox's account may write.

    Args:
        parent: Where to create it; :func:`stage_root` when None.
        prefix: Start of its name.

    Returns:
        The new folder.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent or stage_root()))
    sandbox.own_for_sandbox(path)
    return path


def copy_submission(source: Path, target: Path) -> None:
    """Copy a notebook's folder into a stage: regular files and folders only, links left out.

    Nothing is followed: folders are walked without following links, and each file is opened
    with ``O_NOFOLLOW`` and checked to be a regular file on the open descriptor, so a file
    swapped for a link or a FIFO after it was listed is never read.

    Args:
        source: The folder nbgrader prepared (``autograded/<student>/<assignment>``).
        target: The stage's ``work/`` folder (created).

    Raises:
        OSError: The folder is larger than :data:`MAX_SUBMISSION_BYTES`.
    """
    total = 0
    target.mkdir(parents=True, exist_ok=True)
    sandbox.own_for_sandbox(target)
    for folder, dirs, files in os.walk(source, followlinks=False):
        relative = Path(folder).relative_to(source)
        for name in dirs:
            if not os.path.islink(os.path.join(folder, name)):
                made = target / relative / name
                made.mkdir(exist_ok=True)
                sandbox.own_for_sandbox(made)
        for name in files:
            total += _copy_plain(Path(folder) / name, target / relative / name,
                                 MAX_SUBMISSION_BYTES - total, source)


def _copy_plain(path: Path, copied: Path, room: int, source: Path) -> int:
    """Copy one regular file (never a link or a device) into a stage; return its size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return 0  # a link (ELOOP) or gone: left out
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return 0
        out = os.open(copied, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        size = 0
        with os.fdopen(out, "wb") as written:
            sandbox.own_for_sandbox(written.fileno())
            while chunk := handle.read(2**20):
                size += len(chunk)
                if size > room:
                    raise OSError(f"the submission folder {source} holds more than "
                                  f"{MAX_SUBMISSION_BYTES // 2**20} MB")
                written.write(chunk)
    return size


def collect_exports(source: Path, target: Path) -> list[str]:
    """Copy a kernel's exports into the grader's folder, refusing what is not plain files.

    Each refusal is recorded in ``target/refused.json`` (the grader turns it into a note).

    Args:
        source: The stage's ``exports/`` folder (written by learner code: untrusted).
        target: The run's export folder for this submission (created by the grader).

    Returns:
        The refusals, one sentence each.
    """
    if not target.is_dir():
        target.mkdir(mode=0o700, parents=True)
        sandbox.own_for_sandbox(target)
    refused: list[str] = []
    try:
        names = sorted(os.listdir(source))
    except OSError:
        return refused
    for count, name in enumerate(names):
        if count >= MAX_EXPORTS:
            refused.append(f"more than {MAX_EXPORTS} files were exported; the rest were ignored")
            break
        problem = _copy_export(source, name, target)
        if problem:
            refused.append(problem)
    if refused:
        previous = _read_refusals(target)
        (target / REFUSED_FILE).write_text(json.dumps(previous + refused), encoding="utf-8")
    return refused


def _copy_export(source: Path, name: str, target: Path) -> str | None:
    if not _EXPORT_NAME.match(name):
        return f"{name!r} is not an export the grader reads"
    limit = _MAX_BYTES[os.path.splitext(name)[1]]
    try:
        # O_NOFOLLOW + fstat: a link, a device or a file swapped in meanwhile is never read.
        fd = os.open(source / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"{name} was refused: it is a link or cannot be opened ({exc.strerror})"
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return f"{name} was refused: it is not a regular file"
        if info.st_size > limit:
            return f"{name} was refused: {info.st_size // 2**20} MB is over {limit // 2**20} MB"
        data = handle.read(limit + 1)
    if len(data) > limit:
        return f"{name} was refused: it grew past {limit // 2**20} MB while being read"
    write_for_sandbox(target / name, data)
    return None


def write_for_sandbox(path: Path, data: bytes) -> None:
    """Write a new file that the sandbox's account (the verifier) can read, whatever the umask.

    Args:
        path: The file to create; it must not exist yet.
        data: Its content.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        # A umask such as 077 could leave a mode the sandbox's account may not read.
        os.fchmod(out.fileno(), 0o600)
        sandbox.own_for_sandbox(out.fileno())
        out.write(data)


def _read_refusals(target: Path) -> list[str]:
    path = target / REFUSED_FILE
    with contextlib.suppress(OSError, ValueError):
        found = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(found, list):
            return [str(item) for item in found]
    return []


def refusals(target: Path) -> list[str]:
    """The refusals :func:`collect_exports` recorded for a submission.

    Args:
        target: The submission's export folder.

    Returns:
        One sentence per refused file.
    """
    return _read_refusals(target)


def folder_size(path: Path, limit_files: int = 20_000) -> int:
    """Bytes used by a folder's files, without following links.

    Args:
        path: The folder.
        limit_files: Past this many entries the walk stops and reports a size over any limit,
            since a submission that makes that many files is filling the disk.

    Returns:
        Total size in bytes.
    """
    total = seen = 0
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in files + dirs:
            seen += 1
            if seen > limit_files:
                return 2**62
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


def remove(path: Path) -> None:
    """Delete a stage or staging folder, whatever the kernel left in it.

    Args:
        path: The folder.
    """
    def unlock(function, target, info):  # noqa: ANN001 - shutil's onerror signature
        # A kernel may have removed write permission from its folders; the owner can restore it.
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            function(target)

    shutil.rmtree(path, onerror=unlock)
