"""The one error a contract or the catalog's concept list raises: file, field, rule and fix."""

from __future__ import annotations


class ContractError(ValueError):
    """A contract breaks a rule. Names the file, the field and the rule."""

    def __init__(self, file: str, field: str | None, rule: str, fix: str) -> None:
        self.file, self.field, self.rule, self.fix = file, field, rule, fix
        where = f"{file}, field '{field}'" if field else file
        super().__init__(f"{where}: {rule}. Fix: {fix}")
