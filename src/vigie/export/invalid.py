"""The refusal of an archive, naming the member at fault (`verify`, `contents`)."""

from __future__ import annotations


class ArchiveInvalid(ValueError):
    """The archive cannot be trusted; `member` names the file at fault."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member}: {reason}")
        self.member = member
        self.reason = reason
