"""Fixtures for downstream test suites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .paths import ROOT_ENV
from .stash_keys import context_key, recorder_key, worker_run_key

TEMPORARY_TASK = "pytest-codex-temporary"


@pytest.fixture
def codex_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The current run: task id, run dir, ``emit(type, payload)``.

    Under ``--codex-task`` this is the session's run (events land in its manifest; under
    xdist they travel with the test's report). Without a task it is a temporary run in a
    temporary directory, finished when the test ends.
    """
    config = request.config
    recorder = config.stash.get(recorder_key, None)
    if recorder is not None and recorder.run is not None:
        yield recorder.run
        return
    worker_run = config.stash.get(worker_run_key, None)
    if worker_run is not None:
        yield worker_run
        return
    from .context import Context
    from .run import Run

    root = tmp_path_factory.mktemp("codex-run")
    context = Context.load(cwd=root, env={ROOT_ENV: str(root)})
    run = Run.start(context, task_id=TEMPORARY_TASK, runner="pytest", heartbeat=False)
    try:
        yield run
    finally:
        run.finish("succeeded")


@pytest.fixture
def codex_instructions(request: pytest.FixtureRequest) -> Any:
    """The merged instructions for the repository under test
    (:class:`~pytest_codex.instructions.InstructionSet`: ``text``, ``sources``,
    ``combined_hash``), loaded as a run records them."""
    from .context import Context
    from .run import load_run_instructions

    context = request.config.stash.get(context_key, None) or Context.load()
    return load_run_instructions(context)
