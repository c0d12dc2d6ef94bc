"""nbgrader's exchange, with submissions that must belong to the learner they name.

On a shared machine (JupyterHub with one Unix account per learner) nbgrader's exchange names a
submission after the learner who made it: ``inbound/<student>+<assignment>+<timestamp>+<random>``.
``nbgrader submit --student bob`` lets anyone write a folder that claims to be bob's, and
nbgrader's ``collect`` only logs a warning when the folder's owner is someone else, then files it
under bob (nbgrader issues #1097 and #667). :class:`OwnerCheckedCollect` collects only folders
owned by the Unix account of the learner they name; a forged folder is left in the exchange and
reported, and the named learner's own latest submission is collected as if it were not there.

Select it in the grader's nbgrader config::

    c.ExchangeFactory.collect = "autograder.exchange.OwnerCheckedCollect"
"""

from __future__ import annotations

import os
import pwd
from typing import Any

from nbgrader.exchange.default.collect import ExchangeCollect


def owner_name(path: str) -> str | None:
    """Return the name of the Unix account that owns a path, without following a link.

    Args:
        path: A file or folder.

    Returns:
        The account's name, or None when the path is gone or its uid has no account.
    """
    try:
        uid = os.lstat(path).st_uid
        return pwd.getpwuid(uid).pw_name
    except (OSError, KeyError):
        return None


class OwnerCheckedCollect(ExchangeCollect):
    """``nbgrader collect`` that refuses submissions owned by another account than they name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Take nbgrader's arguments; start with no forged submission seen.

        Args:
            *args: As for nbgrader's ``ExchangeCollect``.
            **kwargs: As for nbgrader's ``ExchangeCollect``.
        """
        super().__init__(*args, **kwargs)
        self.forged: list[dict] = []

    def _path_to_record(self, path: str) -> dict:
        """Parse an inbound folder's name and note whether its owner is the learner it names.

        Args:
            path: A folder under the course's ``inbound/``.

        Returns:
            nbgrader's record (``username``, ``filename``, ``timestamp``) plus ``owner`` and
            ``forged`` (the owner is not the named learner).
        """
        record = super()._path_to_record(path)
        record["owner"] = owner_name(path)
        record["forged"] = record["owner"] != record["username"]
        if record["forged"]:
            # Reported in copy_files, whether or not a genuine submission hides it.
            self.forged.append(record)
        return record

    def _sort_by_timestamp(self, records: list[dict]) -> list[dict]:
        """Order one learner's submissions, newest first, leaving out forged ones.

        nbgrader collects the first record this returns (the newest, or the newest before the
        due date), so a forged folder must not hide the learner's own. A learner whose every
        folder is forged keeps them here and loses them in :meth:`copy_files`.

        Args:
            records: Every inbound record that names one learner.

        Returns:
            The records to choose from, newest first.
        """
        genuine = [record for record in records if not record["forged"]]
        return super()._sort_by_timestamp(genuine or records)

    def copy_files(self) -> None:
        """Collect the genuine submissions; log each forged one with its owner."""
        for record in self.forged:
            self.log.error(
                "Refused %s: it claims to be submitted by %s but is owned by %s; "
                "it stays in the exchange and is not collected.",
                os.path.join(self.inbound_path, record["filename"]), record["username"],
                record["owner"] or "an unknown account")
        self.src_records = [record for record in self.src_records if not record["forged"]]
        super().copy_files()
