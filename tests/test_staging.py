"""What leaves a kernel's stage: only small regular files with the names the grader reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autograder.grading import staging


@pytest.fixture()
def stage(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def test_plain_exports_are_copied(stage: Path, tmp_path: Path) -> None:
    (stage / "answer-shape.json").write_text(json.dumps({"value": [None, 10]}))
    (stage / "arrays-split.npz").write_bytes(b"PK")
    target = tmp_path / "target"
    assert staging.collect_exports(stage, target) == []
    assert sorted(os.listdir(target)) == ["answer-shape.json", "arrays-split.npz"]
    assert staging.refusals(target) == []


def test_links_devices_odd_names_and_big_files_are_refused_with_reasons(
        stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("grader only")
    (stage / "answer-shape.json").symlink_to(secret)
    os.mkfifo(stage / "answer-loss.json")
    (stage / "notes.txt").write_text("hello")
    monkeypatch.setitem(staging._MAX_BYTES, ".keras", 10)
    (stage / "model-model.keras").write_bytes(bytes(11))
    target = tmp_path / "target"
    refused = staging.collect_exports(stage, target)
    assert os.listdir(target) == [staging.REFUSED_FILE]
    text = " | ".join(refused)
    assert "answer-shape.json was refused: it is a link" in text
    assert "answer-loss.json was refused: it is not a regular file" in text
    assert "'notes.txt' is not an export the grader reads" in text
    assert "model-model.keras was refused" in text
    assert staging.refusals(target) == refused


def test_too_many_exports_stop_at_the_cap(stage: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "MAX_EXPORTS", 3)
    for index in range(5):
        (stage / f"answer-a{index}.json").write_text("{}")
    refused = staging.collect_exports(stage, tmp_path / "target")
    assert len(os.listdir(tmp_path / "target")) == 3 + 1
    assert refused == ["more than 3 files were exported; the rest were ignored"]


def test_submission_copy_leaves_links_out_and_refuses_huge_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "submission"
    (source / "data").mkdir(parents=True)
    (source / "a1.ipynb").write_text("{}")
    (source / "data" / "rows.csv").write_text("1,2\n")
    (source / "passwd").symlink_to("/etc/passwd")
    staging.copy_submission(source, tmp_path / "work")
    copied = sorted(str(p.relative_to(tmp_path / "work")) for p in (tmp_path / "work").rglob("*"))
    assert copied == ["a1.ipynb", "data", "data/rows.csv"]
    monkeypatch.setattr(staging, "MAX_SUBMISSION_BYTES", 3)
    with pytest.raises(OSError, match="more than"):
        staging.copy_submission(source, tmp_path / "again")


def test_folder_size_counts_files_and_gives_up_on_a_flood(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(bytes(64 * 1024))
    assert staging.folder_size(tmp_path) >= 64 * 1024
    for index in range(30):
        (tmp_path / f"f{index}").write_text("")
    assert staging.folder_size(tmp_path, limit_files=10) >= 2**62


def test_remove_deletes_what_a_kernel_locked(tmp_path: Path) -> None:
    locked = tmp_path / "stage" / "work"
    locked.mkdir(parents=True)
    (locked / "file").write_text("x")
    locked.chmod(0o500)
    staging.remove(tmp_path / "stage")
    assert not (tmp_path / "stage").exists()


def _readable_by_sandbox(path: Path) -> bool:
    """Whether the sandbox's account (the verifier, a kernel) can read ``path`` and open the
    folders above it up to the grader's folder (the sandbox makes its own parents above that)."""
    from autograder.grading import sandbox

    uid = (sandbox.sandbox_ids() or (os.getuid(), 0))[0]
    info = path.stat()
    return info.st_uid == uid and bool(info.st_mode & 0o400) and all(
        folder.stat().st_uid == uid and folder.stat().st_mode & 0o500 == 0o500
        for folder in path.parents[:2])


def test_what_the_sandbox_reads_is_readable_under_any_umask(stage: Path, tmp_path: Path) -> None:
    (stage / "answer-shape.json").write_text("{}")
    source = tmp_path / "submitted"
    (source / "data").mkdir(parents=True)
    (source / "data" / "notes.csv").write_text("a,b\n")
    target = staging.new_folder(tmp_path, "run-")
    previous = os.umask(0o077)
    try:
        staging.collect_exports(stage, target / "exports")
        staging.copy_submission(source, target / "work")
    finally:
        os.umask(previous)
    # The verifier reads the collected exports; a kernel reads its copied notebook folder.
    assert _readable_by_sandbox(target / "exports" / "answer-shape.json")
    assert _readable_by_sandbox(target / "work" / "data" / "notes.csv")


def test_a_stage_root_too_deep_for_a_kernels_sockets_is_refused_by_name() -> None:
    from autograder.errors import UsageError

    staging.check_socket_room(Path("/var/tmp"))
    deep = Path("/var/tmp") / ("d" * 60)
    with pytest.raises(UsageError, match="AUTOGRADER_STAGE_ROOT") as refused:
        staging.check_socket_room(deep)
    assert str(deep) in str(refused.value)
