"""A tiny double-entry ledger: the code the demo's tests exercise."""

from __future__ import annotations

from dataclasses import dataclass, field


class UnbalancedEntryError(ValueError):
    """Debits and credits of an entry do not add up to zero."""


@dataclass
class Ledger:
    """Accounts and their balances in cents."""

    balances: dict[str, int] = field(default_factory=dict)

    def post(self, lines: dict[str, int]) -> None:
        """Post one entry: account -> signed amount in cents; must sum to zero."""
        if sum(lines.values()) != 0:
            raise UnbalancedEntryError(f"entry does not balance: {lines}")
        for account, amount in lines.items():
            self.balances[account] = self.balances.get(account, 0) + amount

    def balance(self, account: str) -> int:
        """The balance of one account (0 when unknown)."""
        return self.balances.get(account, 0)
