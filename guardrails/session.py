"""Running guardrails inside a run: fingerprint, cache, run, record.

:class:`GuardrailSession` holds what every guardrail of one run shares (the repository, the
task, the configuration, the event emitter, one ToolOrchestrator, the result cache) and runs
one guardrail at a time: ``guardrail:start``, then either the cached result or a fresh
one, then ``guardrail:result`` carrying the ``guardrails[]`` record (findings, duration,
cache status, and the approvals its commands used).

Guardrails run as a batch (:meth:`GuardrailSession.run_all`, or any runs inside
:meth:`GuardrailSession.shared_inputs`) share one :class:`~guardrails.snapshot.InputSnapshot`
of the repository for their fingerprints until one of them actually runs: on an unchanged
repository every file is stat'ed once and git asked once for all of them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_codex.errors import CodexError
from pytest_codex.events import Redactor
from pytest_codex.redact import secret_values

from .api import Finding, Guardrail, Inputs, Result
from .cache import FileDigests, ResultCache, fingerprint
from .context import GuardrailCommandError, GuardrailContext
from .snapshot import InputSnapshot

if TYPE_CHECKING:
    from pytest_codex.approvals import Approver
    from pytest_codex.context import Context
    from pytest_codex.emitter import Emitter
    from pytest_codex.handle import RunHandle
    from pytest_codex.orchestrator import ToolOrchestrator


@dataclass
class GuardrailSession:
    """Runs guardrails for one task in one repository and records their results."""

    root: Path
    task_id: str | None
    config: Mapping[str, Any]
    emitter: Emitter
    runs_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    use_cache: bool = True
    dry_run: bool = False
    today: dt.date = field(default_factory=dt.date.today)
    orchestrator_factory: Callable[[], ToolOrchestrator] | None = None
    _orchestrator: ToolOrchestrator | None = field(default=None, repr=False)
    _cache: ResultCache = field(init=False, repr=False)
    _digests: FileDigests = field(init=False, repr=False)
    _shared: InputSnapshot | None = field(default=None, init=False, repr=False)
    _batches: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._cache = ResultCache.for_task(self.runs_dir, self.task_id)
        self._digests = FileDigests(self.root, self._cache.digests_path)

    @classmethod
    def for_run(
        cls, run: RunHandle, *, approver: Approver | None = None, **options: Any
    ) -> GuardrailSession:
        """A session whose events go to ``run`` (a Run, or its xdist stand-in) and whose
        commands go through a ToolOrchestrator bound to it."""
        from pytest_codex.orchestrator import ToolOrchestrator

        def factory() -> ToolOrchestrator:
            from pytest_codex.sandbox import protected_paths

            # The runs and out directories stay read-only to guardrail commands too.
            return ToolOrchestrator.for_run(
                run,
                approver=approver,
                protected=protected_paths(run.paths, config=getattr(run, "config", None)),
            )

        context = run.context
        return cls(
            root=Path(run.paths.root),
            task_id=run.task_id,
            config=context.config.settings().guardrails,
            emitter=run,
            runs_dir=Path(run.paths.runs_dir),
            env=context.env,
            run_id=run.run_id,
            orchestrator_factory=factory,
            **options,
        )

    @classmethod
    def standalone(
        cls,
        context: Context,
        task_id: str | None,
        *,
        emitter: Emitter,
        approver: Approver | None = None,
        **options: Any,
    ) -> GuardrailSession:
        """A session outside any run (``checklist verify``): events go to ``emitter``."""
        from pytest_codex.approvals import ApprovalCache
        from pytest_codex.config import OrchestratorSettings
        from pytest_codex.orchestrator import ToolOrchestrator
        from pytest_codex.sandbox import protected_paths

        config = context.config

        def factory() -> ToolOrchestrator:
            # The same settings view as ToolOrchestrator.for_run: one set of defaults.
            return ToolOrchestrator.from_settings(
                emitter,
                OrchestratorSettings.from_config(config),
                workspace=context.roots.root,
                # The runs and out directories stay read-only to guardrail commands.
                protected=protected_paths(context.roots, config=config),
                approver=approver,
                cache=ApprovalCache.for_task(context.roots.runs_dir, task_id)
                if task_id
                else ApprovalCache(),
            )

        return cls(
            root=context.roots.root,
            task_id=task_id,
            config=config.settings().guardrails,
            emitter=emitter,
            runs_dir=context.roots.runs_dir,
            env=context.env,
            orchestrator_factory=factory,
            **options,
        )

    # -- running ------------------------------------------------------------------------
    def settings(self, guardrail: Guardrail) -> Mapping[str, Any]:
        """The settings of ``guardrail``: its ``shared_settings`` sections, then its own
        section (``guardrails: {<name>: {...}}``) over them."""
        return guardrail_settings(self.config, guardrail)

    def context_for(self, guardrail: Guardrail) -> GuardrailContext:
        """The context one guardrail runs with (sharing this session's orchestrator)."""
        return GuardrailContext(
            name=guardrail.name,
            root=self.root,
            task_id=self.task_id,
            settings=self.settings(guardrail),
            emitter=self.emitter,
            runs_dir=self.runs_dir,
            env=self.env,
            today=self.today,
            dry_run=self.dry_run,
            orchestrator_factory=self._shared_orchestrator,
        )

    def _shared_orchestrator(self) -> ToolOrchestrator:
        if self._orchestrator is None:
            if self.orchestrator_factory is None:
                raise CodexError("this guardrail session cannot run commands")
            self._orchestrator = self.orchestrator_factory()
        return self._orchestrator

    def _artifact_dirs(self) -> list[str]:
        """The runs directory, relative to the root when inside it: what guardrails and
        their cache write must not count as a change of the repository."""
        try:
            return [self.runs_dir.resolve().relative_to(self.root.resolve()).as_posix()]
        except ValueError:
            return []

    # -- batches ---------------------------------------------------------------------------
    @contextmanager
    def shared_inputs(self) -> Iterator[None]:
        """Guardrails run (or looked up with :meth:`cached`) inside share one look at the
        repository for their fingerprints (see :mod:`guardrails.snapshot`), renewed after
        each guardrail that actually runs. Only for runs with nothing else between them:
        a change made by anything but a guardrail inside the block is not seen."""
        self._batches += 1
        try:
            yield
        finally:
            self._batches -= 1
            if not self._batches:
                self._shared = None
                self._digests.save()

    def run_all(self, guardrails: Iterable[Guardrail]) -> list[dict[str, Any]]:
        """Run each guardrail in turn (see :meth:`run`) as one batch; their records."""
        batch = list(guardrails)
        with self.shared_inputs():
            self.prepare(batch)
            return [self.run(guardrail) for guardrail in batch]

    def prepare(self, guardrails: Iterable[Guardrail]) -> None:
        """Inside a batch, compute the fingerprints of ``guardrails`` (in the order they
        will run) ahead and look them up, under the batch's snapshot (they serve until a
        guardrail actually runs): git is asked in a thread while the files of the others
        are hashed. A guardrail after one that will run is left for later (its fingerprint
        is taken again then anyway). Nothing is run or emitted; a guardrail whose inputs
        cannot be declared is left to :meth:`run` to report."""
        if not self._batches or not self.use_cache:
            return
        snapshot = self.snapshot()
        declared: list[tuple[int, Guardrail, Inputs]] = []
        for position, guardrail in enumerate(guardrails):
            try:
                inputs = guardrail.inputs(self._declaring(guardrail, snapshot))
            except Exception:
                continue
            if inputs.git_range:
                snapshot.start_git()
            declared.append((position, guardrail, inputs))
        first_to_run = len(declared)
        # The ones that need no git first: git answers meanwhile.
        for position, guardrail, inputs in sorted(declared, key=lambda d: d[2].git_range):
            if position > first_to_run:
                continue
            try:
                key = self._fingerprint(guardrail, inputs, snapshot)
            except Exception:
                continue
            entry = self._cache.load(guardrail.name, key)
            snapshot.remember(guardrail, key, entry)
            if entry is None:
                first_to_run = min(first_to_run, position)

    def snapshot(self) -> InputSnapshot:
        """The batch's snapshot of the repository, or a new one outside a batch."""
        if self._batches and self._shared is not None:
            return self._shared
        snapshot = InputSnapshot(
            self.root, env=self.env, exclude=self._artifact_dirs(), digest_files=self._digests.many
        )
        if self._batches:
            self._shared = snapshot
        return snapshot

    def inputs_hash(self, guardrail: Guardrail, ctx: GuardrailContext | None = None) -> str:
        """The key a result of ``guardrail`` is cached under: a hash of its declared inputs
        as they are now."""
        snapshot = self.snapshot()
        if ctx is None:
            kept = snapshot.remembered(guardrail)
            if kept is not None:
                return kept[0]
        inputs = guardrail.inputs(self._declaring(guardrail, snapshot, ctx))
        return self._fingerprint(guardrail, inputs, snapshot)

    def _declaring(
        self, guardrail: Guardrail, snapshot: InputSnapshot, ctx: GuardrailContext | None = None
    ) -> GuardrailContext:
        # inputs() sees the snapshot (ctx.find, ctx.head_commit, ...); run() never does.
        return replace(ctx or self.context_for(guardrail), shared=snapshot)

    def _fingerprint(self, guardrail: Guardrail, inputs: Inputs, snapshot: InputSnapshot) -> str:
        return fingerprint(
            guardrail, inputs, root=self.root, task_id=self.task_id, env=self.env, snapshot=snapshot
        )

    def cached(self, guardrail: Guardrail) -> dict[str, Any] | None:
        """The cached entry a run of ``guardrail`` would reuse now (``{"runId", "record"}``),
        or None; runs nothing and emits nothing."""
        if not self.use_cache:
            return None
        try:
            key = self.inputs_hash(guardrail)
        except Exception:  # a guardrail whose inputs cannot be read runs (and reports)
            return None
        return self._stored(guardrail, key)

    def _stored(self, guardrail: Guardrail, key: str) -> dict[str, Any] | None:
        """The cache entry of ``guardrail`` under ``key`` (as the batch looked it up)."""
        kept = self._shared.remembered(guardrail) if self._shared is not None else None
        if kept is not None and kept[0] == key:
            return kept[1]
        return self._cache.load(guardrail.name, key)

    def run(self, guardrail: Guardrail) -> dict[str, Any]:
        """Run one guardrail (or reuse its cached result); returns its ``guardrails[]``
        record after emitting ``guardrail:result``."""
        ctx = self.context_for(guardrail)
        self.emitter.emit("guardrail:start", {"name": guardrail.name, "version": guardrail.version})
        started = time.monotonic()
        cache = self._cache
        key: str | None = None
        entry: dict[str, Any] | None = None
        try:
            key = self.inputs_hash(guardrail)
        except Exception as exc:  # a guardrail whose inputs cannot be read still reports
            result = _crashed(guardrail, exc, "declaring its inputs")
        else:
            entry = self._stored(guardrail, key) if self.use_cache else None
            if entry is not None:
                stored = entry["record"]
                result = Result(
                    stored.get("rawStatus") or stored["status"],
                    tuple(Finding.from_record(f) for f in stored.get("findings", [])),
                    stored.get("rawSummary", stored.get("summary")),
                )
            else:
                # Its commands may change the repository: later fingerprints look again.
                self._shared = None
                result = _safe_run(guardrail, ctx)
        if not self._batches:
            self._digests.save()
        raw_status, raw_summary = result.status, result.summary
        # A dry run: the session's (--dry-run, a stage's dryRun) or the guardrail's own
        # ``dry_run: true`` setting.
        dry_run = self.dry_run or ctx.settings.get("dry_run") is True
        if dry_run:
            result = result.as_dry_run()
        record: dict[str, Any] = {
            "name": guardrail.name,
            "version": guardrail.version,
            "status": result.status,
            "summary": result.summary,
            "findings": [f.to_record() for f in result.findings],
            "durationMs": round((time.monotonic() - started) * 1000, 3),
            "cached": entry is not None,
            "cachedFrom": entry.get("runId") if entry is not None else None,
            "inputsHash": key,
            "dryRun": dry_run,
            "rawStatus": raw_status,
            "rawSummary": raw_summary,
            "approvals": list(entry["record"].get("approvals", [])) if entry else ctx.tool_runs,
        }
        # Findings quote files and command output: no secret value reaches the cache file
        # (the run's bus redacts what it emits too, but the cache is written here).
        record = Redactor(secret_values(self.env))(record)
        if entry is None and key is not None and not _is_crash(result):
            try:
                cache.store(guardrail.name, key, record, self.run_id)
            except OSError as exc:  # a read-only checkout or a full disk: no cache, same result
                record["cacheError"] = f"{type(exc).__name__}: {exc}"
        self.emitter.emit("guardrail:result", {"guardrail": record})
        return record


def guardrail_settings(config: Mapping[str, Any], guardrail: Guardrail) -> Mapping[str, Any]:
    """The settings of ``guardrail`` in the ``guardrails`` section ``config``: its
    ``shared_settings`` sections, then its own section over them."""
    merged: dict[str, Any] = {}
    for name in (*guardrail.shared_settings, guardrail.name):
        value = config.get(name)
        if isinstance(value, Mapping):
            merged.update(value)
    return merged


CRASH_RULE = "guardrail/crashed"
COMMAND_RULE = "guardrail/command-failed"
ERROR_RULE = "guardrail/error"


def _is_crash(result: Result) -> bool:
    return any(f.rule in (CRASH_RULE, COMMAND_RULE, ERROR_RULE) for f in result.findings)


def _crashed(guardrail: Guardrail, exc: BaseException, doing: str) -> Result:
    if isinstance(exc, GuardrailCommandError):
        finding = Finding(
            rule=COMMAND_RULE,
            message=str(exc),
            hint="check the command, the approval policy and the sandbox settings",
        )
    elif isinstance(exc, CodexError):
        finding = Finding(rule=ERROR_RULE, message=str(exc))
    else:
        finding = Finding(
            rule=CRASH_RULE,
            message=f"{guardrail.name} raised {type(exc).__name__} while {doing}: {exc}",
            hint=f"this is a bug in guardrail {guardrail.name!r}; report it to its authors",
        )
    return Result("failed", (finding,), f"{guardrail.name} could not finish")


def _safe_run(guardrail: Guardrail, ctx: GuardrailContext) -> Result:
    try:
        result = guardrail.run(ctx)
    except Exception as exc:
        return _crashed(guardrail, exc, "running")
    if not isinstance(result, Result):
        return _crashed(
            guardrail, TypeError(f"run() returned {type(result).__name__}, not Result"), "running"
        )
    return result
