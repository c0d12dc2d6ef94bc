"""Learners' notebooks that try to reach another kernel, the grader's environment or its keys.

Each is the source of a solution cell (see ``_grading_course.plant``). They print one line
``ISOLATION {json}`` that the tests read back from the autograded notebook. ``@GRADER_KEY@``,
``@HOLD@`` and ``@SEEK@`` are filled in when they are planted.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

# Kernel-side helpers: keyrings through the raw system calls (no keyutils needed), System V
# shared memory and POSIX message queues through libc.
TOOLS = """\
import ctypes, json, os, platform, socket, time
_libc = ctypes.CDLL(None, use_errno=True)
_ADD_KEY, _KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
SESSION, USER = -3, -4
def add_key(desc, payload, ring):
    key = _libc.syscall(_ADD_KEY, b"user", desc.encode(), payload, len(payload), ring)
    if key > 0:
        _libc.syscall(_KEYCTL, 5, key, 0x3F3F3F3F)  # SETPERM: anyone may do anything with it
    return key
def read_key(key):
    buf = ctypes.create_string_buffer(4096)
    size = _libc.syscall(_KEYCTL, 11, key, buf, 4096)
    return buf.raw[:size].decode(errors="replace") if size >= 0 else None
def search_key(desc, ring):
    key = _libc.syscall(_KEYCTL, 10, ring, b"user", desc.encode(), 0)
    return (read_key(key) or "found") if key > 0 else None
def listed_keys(prefix):
    try:
        lines = open("/proc/keys").read().splitlines()
    except OSError:
        return {}
    return {line.split(":")[0].split()[-1]: read_key(int(line.split()[0], 16))
            for line in lines if (" " + prefix) in line}
def keys_seen(grader_key):
    seen = {}
    for desc in ("ag-session-key", "ag-user-key", grader_key):
        for ring, name in ((SESSION, "session"), (USER, "user")):
            found = search_key(desc, ring)
            if found:
                seen[f"{desc} in {name}"] = found
    for desc, payload in listed_keys("ag-").items():
        if payload:
            seen[f"{desc} in /proc/keys"] = payload
    return seen
SYSV_KEY = 0x41475348
O_CREAT, O_RDWR = os.O_CREAT, os.O_RDWR
def ipc_seen():
    seen = []
    if os.path.exists("/dev/shm/ag-fill"):
        seen.append("/dev/shm/ag-fill")
    if os.path.exists("/dev/shm/ag-posix"):
        seen.append("POSIX shared memory")
    if _libc.shmget(SYSV_KEY, 0, 0) >= 0:
        seen.append("System V shared memory")
    if _libc.mq_open(b"/ag-mq", os.O_RDONLY) >= 0:
        seen.append("POSIX message queue")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect("\\0ag-abstract")
        seen.append("abstract socket")
    except OSError:
        pass
    probe.close()
    return seen
"""

# Makes every kind of shared thing it can, and holds them while the seeker looks.
HOLDER = TOOLS + """\
made = {"start": time.time()}
fd = os.open("/dev/shm/ag-fill", os.O_WRONLY | os.O_CREAT, 0o666)
written, chunk = 0, b"x" * 2**20
try:
    for _ in range(1200):
        os.write(fd, chunk)
        written += 1
except OSError as exc:
    made["fill_error"] = exc.strerror
os.close(fd)
made["shm_mib"] = written
import _posixshmem
made["posix"] = _posixshmem.shm_open("/ag-posix", O_CREAT | O_RDWR, 0o666) >= 0
made["sysv"] = _libc.shmget(SYSV_KEY, 4096, 0o1000 | 0o666) >= 0
made["mqueue"] = _libc.mq_open(b"/ag-mq", O_CREAT | O_RDWR, 0o666, None) >= 0
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind("\\0ag-abstract")
server.listen()
made["abstract"] = True
for name, ring, payload in (("session", SESSION, b"kernel-secret-1"),
                            ("user", USER, b"kernel-secret-2")):
    added = add_key(f"ag-{name}-key", payload, ring)
    made[f"{name}_key"] = True if added > 0 else os.strerror(ctypes.get_errno())
made["grader_key"] = {key: value for key, value in keys_seen("@GRADER_KEY@").items()
                      if "@GRADER_KEY@" in key}
while time.time() < made["start"] + @HOLD@:
    time.sleep(0.5)
made["end"] = time.time()
print("ISOLATION " + json.dumps(made))
output_shape = (None, 10)
"""

# Runs beside the holder (another worker): looks for what the holder made, the whole time.
SEEKER = TOOLS + """\
seen = {"start": time.time(), "ipc": [], "keys": {}}
while time.time() < seen["start"] + @SEEK@:
    seen["ipc"] = sorted(set(seen["ipc"]) | set(ipc_seen()))
    seen["keys"].update(keys_seen("@GRADER_KEY@"))
    time.sleep(1)
seen["end"] = time.time()
print("ISOLATION " + json.dumps(seen))
output_shape = (None, 10)
"""

# Runs after the holder, forked from the same preloader: looks for what the holder left.
AFTER = TOOLS + """\
seen = {"start": time.time(), "ipc": ipc_seen(), "keys": keys_seen("@GRADER_KEY@"),
        "shm": sorted(os.listdir("/dev/shm"))}
print("ISOLATION " + json.dumps(seen))
output_shape = (None, 10)
"""

# Prints every environment it can find: its own, and what it was started with.
ENVIRON = """\
import json, os
found = {"environ": dict(os.environ)}
for pid in [name for name in os.listdir("/proc") if name.isdigit()] + ["self"]:
    try:
        found[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
    except OSError:
        pass
print("ISOLATION " + json.dumps(found))
import autograder.export
autograder.export.answer("environment", json.dumps(found))
output_shape = (None, 10)
"""

# Uses whatever a linked file gave it: the expected answers, or the course secret.
USE_ANSWERS = """\
import json
expected = json.load(open("answers.json"))
print("ISOLATION " + json.dumps(expected))
output_shape = (None, 10)
"""
PRINT_SECRET = """\
print("ISOLATION " + json.dumps({"secret": open("secret.txt").read()}))
output_shape = (None, 3)
"""


def fill(source: str, grader_key: str, hold: int = 60, seek: int = 100) -> str:
    """An attack's source with the grader's key name and its timings filled in.

    The holder holds for ``hold`` seconds; the seeker looks for ``seek``, longer, so the two
    overlap even when their workers start far apart, and the holder's worker is the first free
    for the submission after it.
    """
    return (source.replace("@GRADER_KEY@", grader_key).replace("@HOLD@", str(hold))
            .replace("@SEEK@", str(seek)))


def reported(notebook: Path) -> dict:
    """The ``ISOLATION`` line an attack printed in an executed notebook."""
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            for line in str(output.get("text", "")).splitlines():
                if line.startswith("ISOLATION "):
                    return json.loads(line[len("ISOLATION "):])
    raise AssertionError(f"the attack printed nothing in {notebook}")


def files_holding(root: Path, value: str) -> list[str]:
    """Every file below ``root`` whose bytes hold ``value`` (links not followed)."""
    found = []
    needle = value.encode()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


# Runs the grader with a key of its own in a fresh session keyring of its own (so the test adds
# nothing to any keyring beyond its own process tree): argv = description, payload, command...
WITH_GRADER_KEY = """\
import ctypes, os, platform, sys
libc = ctypes.CDLL(None, use_errno=True)
add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
assert libc.syscall(keyctl, 1, None) > 0
description, payload = sys.argv[1].encode(), sys.argv[2].encode()
assert libc.syscall(add_key, b"user", description, payload, len(payload), -3) > 0
os.execv(sys.argv[3], sys.argv[3:])
"""
