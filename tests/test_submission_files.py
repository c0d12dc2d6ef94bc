"""A submitted folder holds regular files and folders only: everything else is named and refused.

The attacks graded end to end (links to the reference notebook, the expected answers and the
course secret, a FIFO, a linked assignment folder) are in ``test_kernel_isolation.py``; these
check the rules themselves on folders made here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from autograder.errors import AutograderError
from autograder.grading import staging, submission


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "submitted" / "learner" / "a1"
    (folder / "data").mkdir(parents=True)
    (folder / "a1.ipynb").write_text("{}")
    (folder / "data" / "rows.csv").write_text("1,2\n")
    return folder


def test_a_plain_folder_has_no_problems(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert submission.problems(folder) == []
    submission.check(folder)
    submission.check_notebook(folder / "a1.ipynb")


def test_links_fifos_and_sockets_are_each_named(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "secret.txt").symlink_to("/course/grader/secret")
    (folder / "data" / "up").symlink_to("..")
    os.mkfifo(folder / "pipe")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "data" / "sock"))
    try:
        found = submission.problems(folder)
    finally:
        server.close()
    assert found == ["a1/data/sock is a socket", "a1/data/up is a symbolic link (to ..)",
                     "a1/pipe is a FIFO",
                     "a1/secret.txt is a symbolic link (to /course/grader/secret)"]
    with pytest.raises(submission.SubmissionRefused, match="refused: a1/data/sock") as caught:
        submission.check(folder)
    assert isinstance(caught.value, AutograderError)
    assert "only regular files and folders" in str(caught.value)


def test_a_linked_notebook_or_folder_refuses_the_submission(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    source = tmp_path / "source" / "a1"
    source.mkdir(parents=True)
    (source / "a1.ipynb").write_text('{"solution": true}')
    (folder / "a1.ipynb").unlink()
    (folder / "a1.ipynb").symlink_to(source / "a1.ipynb")
    assert submission.problems(folder) == [
        f"a1/a1.ipynb is a symbolic link (to {source / 'a1.ipynb'})"]
    with pytest.raises(submission.SubmissionRefused, match="a1.ipynb is a link"):
        submission.check_notebook(folder / "a1.ipynb")
    linked = tmp_path / "submitted" / "other" / "a1"
    linked.parent.mkdir()
    linked.symlink_to(source)
    assert submission.problems(linked) == ["the folder a1 is a symbolic link"]
    student = tmp_path / "submitted" / "third"
    student.symlink_to(folder.parent)
    assert submission.problems(student / "a1") == ["the folder third is a symbolic link"]


def test_a_refusal_names_a_few_files_and_counts_the_rest(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    for index in range(8):
        (folder / f"link{index}").symlink_to("/etc/passwd")
    reason = submission.refusal(submission.problems(folder))
    assert reason.startswith("refused: a1/link0 is a symbolic link")
    assert "and 3 more" in reason and "link7" not in reason


def test_the_stage_copy_never_follows_a_file_swapped_for_a_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("course secret")
    real_walk = os.walk

    def swapping_walk(top: str, **kwargs: object):  # noqa: ANN202 - os.walk's own shape
        # Listed as a regular file, then swapped for a link before it is copied.
        for folder_, dirs, files in real_walk(top, **kwargs):  # type: ignore[arg-type]
            if "a1.ipynb" in files:
                os.unlink(os.path.join(folder_, "a1.ipynb"))
                os.symlink(secret, os.path.join(folder_, "a1.ipynb"))
            yield folder_, dirs, files

    monkeypatch.setattr(staging.os, "walk", swapping_walk)
    staging.copy_submission(folder, tmp_path / "work")
    assert not (tmp_path / "work" / "a1.ipynb").exists()
    assert (tmp_path / "work" / "data" / "rows.csv").read_text() == "1,2\n"


def test_a_device_is_named(tmp_path: Path) -> None:
    import stat

    folder = _folder(tmp_path)
    try:
        os.mknod(folder / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this account cannot make device files")
    assert submission.problems(folder) == ["a1/null is a device"]
