"""Evaluation fixtures: scenarios the ledger must get right (run by the eval guardrail)."""

from ledger import Ledger


def test_month_of_groceries_balances() -> None:
    ledger = Ledger()
    for day in range(30):
        ledger.post({"cash": -(100 + day), "groceries": 100 + day})
    assert -ledger.balance("cash") == ledger.balance("groceries") == 3435


def test_refund_restores_the_balance() -> None:
    ledger = Ledger()
    ledger.post({"card": -2500, "shoes": 2500})
    ledger.post({"card": 2500, "shoes": -2500})
    assert ledger.balance("card") == 0
