"""A run: one task id, one run id, one directory, one event bus, one manifest.

Everything a run does is an event on its bus; the manifest and ``events.jsonl`` are sinks.
Start one with :meth:`Run.start`, add to it with :meth:`Run.emit`, end it with
:meth:`Run.finish` (or use it as a context manager), and come back to it with
:meth:`Run.resume`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from . import schemas
from .atomic import locked, make_dirs
from .context import Context
from .errors import CodexError, RunNotFoundError, UnsafePathError, UsageError
from .events import Event, EventBus, Redactor, Sink, last_seq
from .handle import RunIdentity
from .ids import new_run_id, validate_task_id
from .instructions import InstructionSet, instructions_config_from_mapping, load_instructions
from .manifest import (
    TERMINAL_STATUSES,
    RunLock,
    load_manifest,
    mark_abandoned,
    new_manifest,
    update_task_metrics,
    write_state,
)
from .manifest import find_manifest as find_manifest  # re-exported: it lived here
from .manifest import iter_manifests as iter_manifests  # re-exported: it lived here
from .paths import RunPaths, confine_manifest
from .sinks import configured_sinks
from .sinks.jsonl import JsonlFileSink
from .sinks.manifest import Heartbeat, ManifestSink
from .timeutil import now_iso, parse_timestamp

VALIDATE_ENV = "CODEX_ORCHESTRATOR_VALIDATE"


class RecordingRefusedError(UsageError):
    """No run can be recorded here (inside a sandbox, or a runs directory this process cannot
    write); the message says why in one line."""


def recording_refusal(context: Context) -> str | None:
    """Why no run can be recorded here, or None.

    Inside a sandbox (``CODEX_ORCHESTRATOR_IN_SANDBOX``, set by every enforced sandbox) the run
    that started the command records it, output and exit status; the runs directory is
    read-only there anyway. Set outside a sandbox, the variable only makes this process record
    less. A runs directory (or its nearest existing parent) this process cannot write is
    refused too, before anything is half-written."""
    import os

    from .sandbox.policy import SANDBOX_ENV

    label = context.env.get(SANDBOX_ENV)
    runs = Path(context.roots.runs_dir)
    if label:
        return (
            f"running inside a {label} sandbox ({SANDBOX_ENV} is set): the run that started "
            "this command records it; nothing is recorded here"
        )
    existing = runs
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return (
            f"the runs directory {runs} is not writable here (read-only in a sandbox?): "
            "nothing is recorded"
        )
    return None


class Run(RunIdentity):
    """One run of a task. Implements :class:`~pytest_codex.emitter.Emitter`."""

    def __init__(
        self,
        *,
        context: Context,
        paths: RunPaths,
        runner: str,
        bus: EventBus,
        manifest: ManifestSink,
        heartbeat: Heartbeat | None,
    ) -> None:
        self.context = context
        self.paths = paths
        self.runner = runner
        self.bus = bus
        self.manifest = manifest
        self._heartbeat = heartbeat
        self._finished: dict[str, Any] | None = None
        self._run_lock: RunLock | None = None
        self._reporters: list[Sink] = []

    @property
    def status(self) -> str:
        """The run's current status."""
        return str(self.manifest.document["status"])

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` has run."""
        return self._finished is not None

    # -- lifecycle ------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        context: Context,
        *,
        task_id: str | None = None,
        runner: str = "cli",
        pipeline_id: str | None = None,
        pipeline_title: str | None = None,
        parent_run_id: str | None = None,
        sinks: Iterable[Sink] = (),
        heartbeat: bool = True,
        run_id: str | None = None,
        check_recording: bool = True,
    ) -> Run:
        """Create the run directory, write the first manifest, emit ``run:start``.

        Refused (:class:`RecordingRefusedError`, one line) inside a sandbox or where the runs
        directory is not writable: see :func:`recording_refusal`. ``check_recording=False``
        skips the sandbox marker (a temporary run in a private directory of its own)."""
        if check_recording:
            refusal = recording_refusal(context)
            if refusal is not None:
                raise RecordingRefusedError(refusal)
        task = validate_task_id(task_id) if task_id is not None else context.task_id()
        # Everything that can be refused is checked before the run directory exists.
        instructions = load_run_instructions(context)
        paths = context.roots.run_paths(task, run_id or new_run_id())
        mark_abandoned(paths.task_dir, by=f"run {paths.run_id}")
        make_dirs(paths.run_dir, exist_ok=False)  # refuses a symlink on the way
        lock = RunLock(paths.run_dir).acquire()
        config = context.config
        interval = config.settings().heartbeat_interval_seconds
        document = new_manifest(
            task_id=task,
            run_id=paths.run_id,
            runner=runner,
            pipeline_id=pipeline_id,
            pipeline_title=pipeline_title,
            parent_run_id=parent_run_id,
            approval_policy=str(config.get("approval_policy")),
            sandbox_mode=str(config.get("sandbox")),
            config=config.to_manifest(),
            environment=context.environment_defaults(),
            paths=_paths_record(paths),
            heartbeat_interval=interval,
        )
        try:
            run = cls._assemble(context, paths, runner, document, sinks, heartbeat, 0, "run:start")
        except BaseException:
            lock.release()
            raise
        run._run_lock = lock
        run.emit("instructions:loaded", {"instructions": instructions.to_manifest()})
        return run

    @classmethod
    def resume(
        cls,
        context: Context,
        run_ref: str,
        *,
        task_id: str | None = None,
        reopen: bool = False,
        reason: str = "resume",
        sinks: Iterable[Sink] = (),
        heartbeat: bool = True,
    ) -> Run:
        """Append to an existing run (``latest`` = the newest run of the task)."""
        manifest_path = find_manifest(context, run_ref, task_id=task_id)
        # Every path comes from the validated location, never from the file's own ids.
        task, run_id = confine_manifest(context.roots, manifest_path, task_id)
        # One writer at a time: a concurrent resume waits here, then sees what ours wrote.
        lock = RunLock(manifest_path.parent).acquire()
        try:
            run = cls._reopened(context, manifest_path, task, run_id, reopen, sinks, heartbeat)
        except BaseException:
            lock.release()
            raise
        run._run_lock = lock
        run.emit(
            "run:resume",
            {"resume": {"resumedAt": now_iso(), "reason": reason, "reopened": reopen}},
        )
        return run

    @classmethod
    def _reopened(
        cls,
        context: Context,
        manifest_path: Path,
        task: str,
        run_id: str,
        reopen: bool,
        sinks: Iterable[Sink],
        heartbeat: bool,
    ) -> Run:
        """The run of ``manifest_path`` assembled again (its lock already held)."""
        document = load_manifest(manifest_path)
        if (document.get("taskId"), document.get("runId")) != (task, run_id):
            raise UnsafePathError(
                f"manifest {manifest_path} names task {document.get('taskId')!r} run "
                f"{document.get('runId')!r}, not its own location {task}/{run_id}; refusing it"
            )
        if document["status"] in TERMINAL_STATUSES and not reopen:
            raise UsageError(
                f"run {document['runId']} already finished ({document['status']}); "
                "pass --reopen to append to it anyway"
            )
        if document["status"] == "in_progress" and not reopen:
            # Its writer held this lock until it finished; in progress with the lock free,
            # the writer died (killed) mid-way: appending would finish it as if it had not.
            raise UsageError(
                f"run {document['runId']} was killed mid-way (its writer is gone; last "
                f"heartbeat {document['heartbeatAt']}); pass --reopen to append to it anyway"
            )
        paths = context.roots.run_paths(task, run_id)
        document["status"] = "in_progress"
        document["completedAt"] = None
        document["statusDetail"] = None
        start_seq = last_seq(paths.events)
        return cls._assemble(
            context, paths, document["runner"], document, sinks, heartbeat, start_seq, None
        )

    @classmethod
    def _assemble(
        cls,
        context: Context,
        paths: RunPaths,
        runner: str,
        document: dict[str, Any],
        sinks: Iterable[Sink],
        heartbeat: bool,
        start_seq: int,
        first_event: str | None,
    ) -> Run:
        validate = context.env.get(VALIDATE_ENV, "") not in ("", "0")
        journal = JsonlFileSink(paths.events)
        manifest = ManifestSink(
            paths.manifest, document, validate=validate, before_write=journal.flush
        )
        manifest.write()
        bus = EventBus(
            paths.run_id,
            start_seq=start_seq,
            redactor=Redactor.for_env(context.env, extra=context.config.secret_values()),
            on_sink_failure=_sink_failed(manifest),
        )
        # The journal first: the manifest is derived from events, so it must never hold an
        # event that events.jsonl does not (a kill between the two writes loses neither).
        bus.subscribe(journal)
        bus.subscribe(manifest)
        reporters = list(sinks)
        for sink in [*configured_sinks(context, paths), *reporters]:
            bus.subscribe(sink)
            manifest.record_health(sink.name, {"state": "active", "error": None}, write=False)
        beat = None
        if heartbeat:
            beat = Heartbeat(manifest, float(document["heartbeatIntervalSeconds"]))
        run = cls(
            context=context, paths=paths, runner=runner, bus=bus, manifest=manifest, heartbeat=beat
        )
        run._reporters = reporters
        if first_event is not None:
            run.emit(
                first_event,
                {
                    "taskId": paths.task_id,
                    "runner": runner,
                    "pipelineId": document.get("pipelineId"),
                    "manifestPath": str(paths.manifest),
                },
            )
        if beat is not None:
            beat.start()
        return run

    def emit(self, type: str, payload: Mapping[str, Any] | None = None) -> Event:
        """Emit an event on the run's bus."""
        return self.bus.emit(type, payload)

    @property
    def wants_chunk_data(self) -> bool:
        """Whether a sink reads the text of chunks past the inline limit (a live stream or
        terminal); sinks that do not say are assumed to."""
        return any(getattr(sink, "wants_chunk_data", True) for sink in self.bus.sinks)

    def add_sink(self, sink: Sink) -> None:
        """Attach another sink (JSONL to stdout, OTEL, notifications, ...)."""
        self.bus.subscribe(sink)
        self.emit("sink:status", {"name": sink.name, "state": "active", "error": None})

    def summary_base(self, status: str, detail: str | None) -> dict[str, Any]:
        """The common part of ``run:summary`` (status and the ``run`` block)."""
        document = self.manifest.document
        completed = now_iso() if status in TERMINAL_STATUSES else None
        started = parse_timestamp(str(document["startedAt"]))
        duration = None
        if completed is not None:
            duration = round((parse_timestamp(completed) - started).total_seconds() * 1000, 3)
        return {
            "status": status,
            "statusDetail": detail,
            "run": {
                "id": self.run_id,
                "task": self.task_id,
                "pipeline": document.get("pipelineId"),
                "runner": self.runner,
                "manifestPath": str(self.paths.manifest),
                "artifactRoot": str(self.paths.run_dir),
                "startedAt": document["startedAt"],
                "completedAt": completed,
                "durationMs": duration,
            },
        }

    def finish(
        self,
        status: str,
        *,
        detail: str | None = None,
        summary: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """End the run: emit ``run:summary``, write manifest, state and task metrics.

        Everything is on disk (manifest, ``events.jsonl``, attestation, ``state.json``,
        ``metrics.json``, the OTEL export and notification records, each within its bound)
        before the caller's reporting sinks (the ``sinks=`` given to :meth:`start` /
        :meth:`resume`: stdout, terminal) see ``run:summary``: a client that kills the
        process as soon as it reads the final event loses nothing. SIGTERM and SIGINT
        arriving meanwhile are held and re-delivered once the run is finished.

        Idempotent: a second call returns the first summary.
        """
        if self._finished is not None:
            return self._finished
        if status not in TERMINAL_STATUSES:
            raise UsageError(f"cannot finish a run as {status!r}; use one of {TERMINAL_STATUSES}")
        with signals_held():
            return self._finish(status, detail, summary)

    def _finish(
        self, status: str, detail: str | None, summary: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if self._heartbeat is not None:
            self._heartbeat.stop()
        body = self.summary_base(status, detail)
        body.update(summary or {})
        # Sinks that contribute to the summary (notification delivery results, ...) do so
        # before it is emitted; their bounded waits happen here, never in a producer.
        for sink in self.bus.sinks:
            finalize = getattr(sink, "finalize", None)
            if finalize is None:
                continue
            try:
                extra = finalize(body)
            except Exception as exc:
                self.manifest.record_sink(sink.name, "failed", f"{type(exc).__name__}: {exc}")
                continue
            if extra:
                body.update(extra)
        body.setdefault("notifications", {"targets": [], "delivered": [], "failures": []})
        # The reporters see the final event last, after everything else is written.
        reporters = [sink for sink in self.bus.sinks if sink in self._reporters]
        for sink in reporters:
            self.bus.unsubscribe(sink)
            self.manifest.record_health(sink.name, {"state": "closed", "error": None}, write=False)
        event = self.emit("run:summary", body)
        # What was emitted is what every writer keeps: the bus's redacted copy.
        body = dict(event.payload)
        self._close_sinks()
        from .attestation import attest_run

        attest_run(
            self.paths.run_dir,
            root=self.paths.root,
            env=self.context.env,
            settings=self.context.config.get("evidence"),
        )
        # Aggregates and the state mirror come after the manifest is final on disk.
        write_state(self.paths.state, body)
        update_task_metrics(self.paths.metrics, self.manifest.document)
        self._finished = body
        if self._run_lock is not None:
            self._run_lock.release()
        for sink in reporters:
            try:
                sink.handle(event)
                sink.close()
            except (OSError, ValueError):  # stdout gone (the client hung up): all is on disk
                continue
        return body

    def _close_sinks(self) -> None:
        # Other sinks first (bounded flushes), recording their final health; the manifest
        # last, so that health is in the final write.
        for sink in self.bus.sinks:
            if sink is self.manifest:
                continue
            self.bus.unsubscribe(sink)
            try:
                sink.close()
            except Exception as exc:
                self.manifest.record_sink(sink.name, "failed", f"{type(exc).__name__}: {exc}")
                continue
            health = getattr(sink, "health", None)
            state = dict(health()) if health is not None else {"state": "closed", "error": None}
            self.manifest.record_health(sink.name, state)
        self.bus.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.finish("succeeded")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("cancelled", detail="interrupted")
        else:
            self.finish("failed", detail=f"{exc_type.__name__}: {exc}")


def append_event(
    manifest_path: Path,
    type: str,
    payload: Mapping[str, Any],
    *,
    validate: bool = True,
) -> Event:
    """Add one event to a run that may have ended long ago (a review, ...).

    It goes the way every event goes: through a bus (so the redactor scrubs it) to the
    journal, then the manifest sink, which folds it in; ``seq`` continues the run's, and
    the status is left as it is. Writers are serialised on the journal's lock. Raises a
    CodexError naming the sink that could not write.
    """
    if not manifest_path.is_file():
        raise RunNotFoundError(f"no manifest at {manifest_path}; pass a run's manifest.json")
    events_path = manifest_path.with_name("events.jsonl")
    with locked(events_path):
        document = load_manifest(manifest_path)
        if validate:
            schemas.validate("manifest", document, what=f"manifest {manifest_path}")
        # A manifest naming another run or task than its location is forged: refuse it.
        location = (manifest_path.parent.parent.parent.name, manifest_path.parent.name)
        if (document.get("taskId"), document.get("runId")) != location:
            raise UnsafePathError(
                f"manifest {manifest_path} names task {document.get('taskId')!r} run "
                f"{document.get('runId')!r}, not its location {location[0]}/{location[1]}"
            )
        journal = JsonlFileSink(events_path)
        manifest = ManifestSink(
            manifest_path, document, validate=validate, before_write=journal.flush
        )
        bus = EventBus(str(document["runId"]), start_seq=last_seq(events_path))
        bus.subscribe(journal)
        bus.subscribe(manifest)
        try:
            event = bus.emit(type, payload)
            manifest.flush()
        finally:
            journal.close()
    if bus.failures:
        name, error = next(iter(bus.failures.items()))
        raise CodexError(f"could not record {type} in {manifest_path} ({name}: {error})")
    return event


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT for the duration of the block (main thread only; elsewhere a
    no-op) and re-deliver the first one that arrived after it, to the handler that was in
    place before: the run's final writes are never cut short, the signal is not lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def _hold(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    previous: dict[int, Any] = {}
    for held_signal in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(held_signal)
        if handler is None or handler == signal.SIG_IGN:
            continue
        previous[held_signal] = signal.signal(held_signal, _hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if held:
            signal.raise_signal(held[0])


def _sink_failed(manifest: ManifestSink) -> Any:
    def record(name: str, exc: BaseException) -> None:
        if name != manifest.name:
            manifest.record_sink(name, "detached", f"{type(exc).__name__}: {exc}")

    return record


def _paths_record(paths: RunPaths) -> dict[str, str]:
    return {
        "root": str(paths.root),
        "runDir": str(paths.run_dir),
        "manifest": str(paths.manifest),
        "events": str(paths.events),
        "commands": str(paths.commands_dir),
        "artifactRoot": str(paths.run_dir),
        "metrics": str(paths.metrics),
        "state": str(paths.state),
    }


def load_run_instructions(context: Context) -> InstructionSet:
    """The instructions a run of ``context`` records (config ``instructions:``)."""
    config = instructions_config_from_mapping(context.config.get("instructions") or {})
    return load_instructions(context.roots.root, cwd=Path.cwd(), config=config, env=context.env)
