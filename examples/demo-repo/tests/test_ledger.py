import pytest

from ledger import Ledger, UnbalancedEntryError


def test_balanced_entry_moves_money():
    ledger = Ledger()
    ledger.post({"cash": -500, "groceries": 500})
    assert ledger.balance("cash") == -500
    assert ledger.balance("groceries") == 500


def test_unbalanced_entry_is_refused():
    ledger = Ledger()
    with pytest.raises(UnbalancedEntryError):
        ledger.post({"cash": -500, "groceries": 400})
    assert ledger.balances == {}


@pytest.mark.parametrize("amount", [1, 99, 10_000])
def test_round_trip_returns_to_zero(amount):
    ledger = Ledger()
    ledger.post({"a": -amount, "b": amount})
    ledger.post({"a": amount, "b": -amount})
    assert ledger.balance("a") == ledger.balance("b") == 0


def test_run_records_evidence(codex_run):
    # Downstream tests can add their own events to the run's manifest evidence.
    codex_run.emit("demo:checked", {"what": "ledger invariants"})
    assert codex_run.task_id == "0303-orchestrator-autonomy"
