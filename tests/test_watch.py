"""The grader's watch on a worker's processes: memory readings and the limit."""

from __future__ import annotations

import os

import pytest

from autograder.grading import watch


def test_resident_size_bounds_private_memory() -> None:
    pid = os.getpid()
    assert 0 < watch.private_bytes(pid) <= watch.resident_bytes(pid)


def test_private_memory_is_not_read_while_the_resident_size_is_under_the_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def costly(pid: int) -> int:
        raise AssertionError("private memory read although the resident size was under")

    monkeypatch.setattr(watch, "private_bytes", costly)
    assert not watch.over_memory([os.getpid()], 2 * watch.resident_bytes(os.getpid()))


def test_over_the_limit_is_decided_on_private_memory() -> None:
    pid = os.getpid()
    private, resident = watch.private_bytes(pid), watch.resident_bytes(pid)
    assert watch.over_memory([pid], private // 2)
    # Resident over the limit, private under it: shared pages are not the submission's.
    if private < resident - 2**20:
        assert not watch.over_memory([pid], (private + resident) // 2)


def test_gone_processes_weigh_nothing() -> None:
    assert watch.resident_bytes(2**22 + 1) == 0
    assert not watch.over_memory([2**22 + 1], 0)


def _settled_sleep(shell: int) -> bool:
    """True once the shell's child runs `sleep` and its private memory held still for 0.1 s."""
    import time

    import psutil

    children = psutil.Process(shell).children()
    if not children or children[0].name() != "sleep":
        time.sleep(0.05)
        return False
    before = watch.private_bytes(children[0].pid)
    time.sleep(0.1)
    return children[0].name() == "sleep" and watch.private_bytes(children[0].pid) == before


def test_tree_reads_private_memory_of_the_descendants_it_does_not_leave_out() -> None:
    import subprocess
    import time

    import psutil

    root = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        # Until the forked shell has become `sleep` and that has settled, its memory changes.
        while not _settled_sleep(root.pid):
            assert time.monotonic() < deadline, "the shell started no sleep"
        sleeper = psutil.Process(root.pid).children()[0].pid
        tree = watch.ProcessTree(root.pid)
        own, kernels, over = tree.memory(set(), None)
        assert own > 0 and kernels == watch.private_bytes(sleeper) > 0 and not over
        assert tree.memory(set(), 1)[2]
        assert tree.memory({sleeper}, None)[1] == 0
    finally:
        watch.kill_tree(root.pid)
        root.wait()


def test_growth_of_the_resident_size_makes_the_tree_read_private_memory_again() -> None:
    import subprocess
    import sys
    import time

    # 96 MB written (so resident), after the first readings.
    grow = ("import sys, time; sys.stdin.readline(); b = \"x\" * (96 << 20); "
            "print(1, flush=True); time.sleep(30)")
    root = subprocess.Popen(["sh", "-c", f"{sys.executable} -c '{grow}'"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        tree = watch.ProcessTree(root.pid)
        deadline = time.monotonic() + 10
        while not tree.memory(set())[1]:
            assert time.monotonic() < deadline, "the child never appeared"
            time.sleep(0.05)
        before = tree.memory(set())[1]
        assert root.stdin is not None and root.stdout is not None
        root.stdin.write("\n")
        root.stdin.flush()
        root.stdout.readline()
        # Well within the periodic reading's second: only the growth can trigger this reading.
        assert tree.memory(set())[1] > before + 64 * 2**20
    finally:
        watch.kill_tree(root.pid)
        root.wait()


def test_a_tree_over_the_limit_reports_the_memory_that_passed_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel that keeps allocating has grown between two readings; the one that decides the
    limit is the one reported, so a kernel stopped for its memory never shows less than the
    limit."""
    readings = iter(range(100, 10_000, 100))  # private memory grows at every reading
    monkeypatch.setattr(watch, "private_bytes", lambda pid: next(readings))
    monkeypatch.setattr(watch, "resident_bytes", lambda pid: 10_000)
    tree = watch.ProcessTree(os.getpid())
    # One descendant, listed already (the tree rescans no later than _RESCAN_SECONDS).
    tree.children, tree.scanned = [type("Child", (), {"pid": 2**22 + 1})()], float("inf")
    for _ in range(5):
        _, private, over = tree.memory(set(), 250)
        if over:
            break
    assert over and private > 250


def test_a_zombie_counts_as_dead_without_waiting_for_its_reaping() -> None:
    """Orphans killed below a sandbox stay zombies until the machine's init reaps them; their
    memory and files are already released, so stopping a worker does not wait for that."""
    import subprocess
    import time

    import psutil

    # The shell starts a short sleep, then becomes a long one that never reaps it.
    parent = subprocess.Popen(["sh", "-c", "sleep 0.1 & exec sleep 30"])
    try:
        deadline = time.monotonic() + 10
        while True:
            children = psutil.Process(parent.pid).children()
            if children and children[0].status() == psutil.STATUS_ZOMBIE:
                break
            assert time.monotonic() < deadline, "the short sleep never ended"
            time.sleep(0.05)
        start = time.monotonic()
        assert watch.wait_dead(children, timeout=5) == []
        assert time.monotonic() - start < 2
        # A process that is still running is still waited for, and reported.
        started = time.monotonic()
        assert watch.wait_dead([psutil.Process(parent.pid)], timeout=0.3) != []
        assert time.monotonic() - started >= 0.3
    finally:
        watch.kill_tree(parent.pid)
        parent.wait()
