// Type declarations for @pytest-codex/orchestrator (hand-written; the JavaScript is in src/).
/// <reference types="node" />

import { EventEmitter } from 'node:events';

// ---------------------------------------------------------------------------------------------
// Records (the manifest's arrays, as events carry them)
// ---------------------------------------------------------------------------------------------

/** Where a command ran. */
export type SandboxState = 'sandboxed' | 'escalated' | 'unsandboxed';
/** How an approval question was answered. */
export type ApprovalSource = 'cache' | 'prompt' | 'rule' | 'policy' | 'not-required';
/** `--approval-policy`. */
export type ApprovalPolicy = 'never' | 'on-request' | 'on-failure' | 'untrusted';
/** `--sandbox`. */
export type SandboxMode = 'read-only' | 'workspace-write' | 'danger-full-access';
/** A run's status. */
export type RunStatus = 'queued' | 'in_progress' | 'succeeded' | 'failed' | 'cancelled';

/** One attempt of a tool run. */
export interface AttemptRecord {
  attempt?: number;
  sandbox?: SandboxMode;
  network?: boolean;
  state: 'succeeded' | 'denied' | 'failed' | 'timed_out' | (string & {});
  exitCode?: number | null;
  durationMs?: number;
  denialEvidence?: Record<string, unknown> | null;
  error?: string | null;
  [key: string]: unknown;
}

/** A `toolRuns[]` record. */
export interface ToolRunRecord {
  id: string;
  tool: string;
  argv?: string[] | null;
  cwd?: string | null;
  approvalSource: ApprovalSource;
  approvalPolicy?: ApprovalPolicy;
  approvalKey?: string | null;
  retryCount: number;
  sandboxState: SandboxState;
  attempts: AttemptRecord[];
  status: 'succeeded' | 'failed' | 'denied' | 'refused' | (string & {});
  startedAt: string;
  completedAt: string;
  durationMs: number;
  error?: string | null;
  [key: string]: unknown;
}

/** A `commands[]` record. */
export interface CommandRecord {
  id: string;
  correlationId?: string;
  argv: string[] | string;
  cwd: string | null;
  sessionId?: string | null;
  mode?: 'pty' | 'pipe';
  sandboxState?: SandboxState;
  exitCode: number | null;
  /** `kernel`: waitpid of the process the orchestrator started; `shell`: a named session's shell said so (no evidence). */
  exitCodeSource?: 'kernel' | 'shell';
  signal?: number | null;
  timedOut?: boolean;
  startedAt?: string;
  completedAt?: string;
  durationMs: number;
  bytes?: Record<string, number>;
  truncated?: Record<string, boolean>;
  omitted?: Record<string, number>;
  logPath: string | null;
  toolRunId?: string | null;
  attemptLogs?: string[];
  [key: string]: unknown;
}

/** An `approvals[]` record. */
export interface ApprovalRecord {
  key: string;
  tool: string;
  decision: 'approved' | 'denied';
  source: ApprovalSource;
  scope: 'once' | 'session' | 'task';
  approver: string;
  decidedAt: string;
  [key: string]: unknown;
}

/** A `tests[]` record. */
export interface TestRecord {
  nodeid: string;
  outcome: 'passed' | 'failed' | 'skipped' | 'xfailed' | 'xpassed' | 'error';
  durationMs: number;
  markers: string[];
  location: { path: string; line: number | null; domain?: string | null };
  failure: string | null;
  worker?: string | null;
  [key: string]: unknown;
}

/** A finding of a guardrail. */
export interface GuardrailFinding {
  rule: string;
  message: string;
  path?: string | null;
  line?: number | null;
  [key: string]: unknown;
}

/** A `guardrails[]` record. */
export interface GuardrailRecord {
  name: string;
  version?: string;
  status: 'passed' | 'failed' | 'warned' | 'skipped' | 'error';
  summary?: string | null;
  findings: GuardrailFinding[];
  durationMs: number;
  cached: boolean;
  [key: string]: unknown;
}

/** A `stages[]` record. */
export interface StageRecord {
  id: string;
  kind: 'command' | 'guardrail';
  status: string;
  [key: string]: unknown;
}

/** One captured output stream in the summary. */
export interface OutputStream {
  text: string;
  bytes: number;
  omitted: number;
  truncated: boolean;
}

/** The payload of `run:summary` (schemas/summary.schema.json). */
export interface RunSummary {
  status: RunStatus;
  statusDetail?: string | null;
  run: {
    id: string;
    task: string;
    pipeline: string | null;
    runner: 'pytest' | 'cli';
    manifestPath: string;
    artifactRoot: string;
    startedAt?: string;
    completedAt?: string | null;
    durationMs?: number | null;
  };
  result?: {
    exitCode?: number | null;
    signal?: number | null;
    durationMs?: number | null;
    sandboxState?: string | null;
    attempts?: number | null;
  };
  command?: { argv?: string[]; cwd?: string; session?: string | null } | null;
  outputs?: {
    stdout?: OutputStream;
    stderr?: OutputStream;
    pty?: OutputStream;
    structured?: unknown;
    [stream: string]: unknown;
  };
  logs?: { command?: string; attempts?: string[]; [key: string]: unknown };
  toolRun?: ToolRunRecord | null;
  notifications?: { targets?: unknown[]; delivered?: unknown[]; failures?: unknown[] };
  tests?: Record<string, number>;
  guardrails?: Record<string, unknown>;
  stages?: StageRecord[];
  [key: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// The envelope and its payloads (docs/events.md)
// ---------------------------------------------------------------------------------------------

/** One line of `exec --jsonl`: the event envelope (schemas/event.schema.json). */
export interface Envelope<T extends string = string, P = Record<string, unknown>> {
  /** The envelope version (1). */
  readonly v: 1;
  /** `namespace:verb`. */
  readonly type: T;
  /** RFC 3339, UTC, milliseconds. */
  readonly timestamp: string;
  /** 1, 2, 3, ... per run, without gaps (a resumed run continues the sequence). */
  readonly seq: number;
  readonly runId: string;
  readonly payload: P;
}

/** Payloads by event type. */
export interface EventPayloads {
  'run:start': { taskId: string; runner: 'pytest' | 'cli'; pipelineId: string | null; manifestPath: string };
  'run:resume': { resume: { resumedAt: string; reason: string | null; reopened: boolean; [key: string]: unknown } };
  'run:summary': RunSummary;
  'test:result': { test: TestRecord };
  'tool:start': { id: string; tool: string; argv: string[] | null };
  'tool:retry': {
    id: string;
    attempt: number;
    reason: string;
    evidence: Record<string, unknown> | null;
    delayMs: number;
    nextSandbox: string | null;
  };
  'tool:warning': { id: string; message: string };
  'tool:complete': { toolRun: ToolRunRecord; metrics: Record<string, unknown> };
  'approval:requested': { key: string; tool: string; reason: string };
  'approval:decided': { approval: ApprovalRecord };
  'exec:options': {
    codexOverrides: Record<string, unknown>;
    ignoredOverrides: string[];
    model: string | null;
    images: string[];
    addDirs: string[];
    skipGitRepoCheck: boolean;
    outputSchema: string | null;
  };
  'exec:begin': {
    correlationId: string;
    argv: string[];
    cwd: string;
    sessionId: string | null;
    mode: 'pty' | 'pipe';
    sandboxState: SandboxState;
    logPath: string;
    startedAt?: string;
  };
  'exec:chunk': {
    correlationId: string;
    stream: 'stdout' | 'stderr' | 'pty';
    /** The chunk's number within its command, from 0. */
    seq: number;
    /** At most 8 KiB, split on UTF-8 boundaries. */
    data: string;
    bytes?: number;
  };
  'exec:end': { command: CommandRecord };
  'stage:start': { stage: { id: string; kind: 'command' | 'guardrail'; title: string | null } };
  'stage:end': { stage: StageRecord };
  'guardrail:start': { name: string; version: string };
  'guardrail:result': { guardrail: GuardrailRecord };
  'instructions:loaded': { instructions: Record<string, unknown> };
  'review:recorded': {
    review: { actor: string; recordedAt: string; outcome: string; reason: string; manifest: string };
  };
  'sandbox:backend': { backend: string; reason: string | null; executable?: string | null };
  'sink:status': { name: string; state: string; error: string | null };
  'metrics:update': { metrics: Record<string, unknown> };
}

/** A known event type. */
export type EventType = keyof EventPayloads;

/** The event of one type, e.g. `EventOf<'exec:chunk'>`. */
export type EventOf<T extends EventType> = Envelope<T, EventPayloads[T]>;

/**
 * Every known event: a union discriminated by `type`, so `if (ev.type === 'exec:chunk')`
 * narrows `ev.payload`. Tests may emit events of their own `namespace:verb` types
 * (`codex_run.emit(...)`); they are delivered too, so keep a `default:` branch.
 */
export type OrchestratorEvent = { [T in EventType]: EventOf<T> }[EventType];

/** A stdout line that is not an event envelope (surfaced, never fatal). */
export interface InvalidLine {
  readonly line: string;
  /** 1-based, counting the CLI's non-empty stdout lines. */
  readonly lineNumber: number;
  /** Why it is not an envelope. */
  readonly error: string;
}

// ---------------------------------------------------------------------------------------------
// Options and results
// ---------------------------------------------------------------------------------------------

/** Options of the client and of each call (a call's options override the client's). */
export interface ClientOptions {
  /**
   * The CLI: a path, or [path, ...leading args] (e.g. `['python', '-m', 'pytest_codex.cli']`).
   * Default: `CODEX_ORCHESTRATOR_BIN` (from `env`, then `process.env`), else
   * `codex-orchestrator` on PATH.
   */
  bin?: string | string[];
  /** Working directory of the CLI (its repository root and config file are found from it). */
  cwd?: string;
  /** The CLI's whole environment (as in `child_process.spawn`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** `--task` (default: `MCP_RUNNER_TASK_ID`, then `task` in the config file). */
  task?: string;
  /** `--config-file`. */
  configFile?: string;
  /** `--cwd`: the command's working directory, when not the CLI's. */
  commandCwd?: string;
  /** `--session ID`: run in the run's persistent PTY session. */
  session?: string;
  /** `--approval-policy`. */
  approvalPolicy?: ApprovalPolicy;
  /** `--sandbox`. */
  sandbox?: SandboxMode;
  /** `--full-auto`. */
  fullAuto?: boolean;
  /** `--pipe`: no PTY; stdout and stderr kept apart, stdin closed. */
  pipe?: boolean;
  /** `--timeout` (in ms here): the CLI kills the command and exits 124. */
  commandTimeoutMs?: number;
  /** `--output-schema FILE`. */
  outputSchema?: string;
  /** `--otel-endpoint URL`. */
  otelEndpoint?: string;
  /** `--notify TARGET`, repeatable. */
  notify?: string[];
  /** `--add-dir DIR`, repeatable. */
  addDirs?: string[];
  /** More CLI options, placed before `--`. */
  extraArgs?: string[];
  /** End the whole command tree after this many ms; rejects with `OrchestratorTimeoutError` (`source: 'sdk'`). */
  timeoutMs?: number;
  /** After SIGTERM, how long the CLI may take to end its command before SIGKILL (default 5000 ms). */
  killGraceMs?: number;
  /** Aborting it cancels the run (rejects with `CancelledError`). */
  signal?: AbortSignal;
  /** For `resume`: append even though the run already finished (`--reopen`). */
  reopen?: boolean;
}

/** Per-call options: the client's, overridden. */
export type ExecOptions = ClientOptions;

/** Options of `resume`. */
export interface ResumeOptions extends ClientOptions {
  reopen?: boolean;
}

/** What `onAttempt` hears after each attempt of `runWithRetry`. */
export interface AttemptInfo {
  /** 1, 2, ... */
  attempt: number;
  result: RunResult | null;
  error: OrchestratorError | Error | null;
  /** How long until the next attempt; null when there is none. */
  delayMs: number | null;
}

/** Options of `runWithRetry`. */
export interface RetryOptions extends ClientOptions {
  /** Attempts after the first (default 2). */
  retries?: number;
  /** Wait before the first retry (default 250 ms). */
  backoffMs?: number;
  /** Each wait is the previous one times `factor` (default 2). */
  factor?: number;
  /** No wait is longer (default: unbounded). */
  maxBackoffMs?: number;
  /**
   * Exit codes to retry, or a predicate. Default: `CommandFailedError` (the command's own
   * non-zero status). A cancellation is never retried.
   */
  retryOn?: readonly number[] | ReadonlySet<number> | ((error: OrchestratorError, attempt: number) => boolean);
  onAttempt?: (info: AttemptInfo) => void;
}

/** A finished, successful invocation. */
export interface RunResult {
  readonly exitCode: number;
  readonly signal: NodeJS.Signals | null;
  readonly status: RunStatus;
  readonly runId: string;
  readonly manifestPath: string;
  readonly summary: RunSummary;
  /** Every event, in order, the last being `run:summary`. */
  readonly events: readonly OrchestratorEvent[];
  readonly invalidLines: readonly InvalidLine[];
  /** The CLI's stderr (its last MiB). */
  readonly stderr: string;
  /** What was spawned. */
  readonly argv: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The CLI's exit codes. */
export declare const EXIT_CODES: {
  readonly USAGE: 2;
  readonly APPROVAL_REFUSED: 3;
  readonly SANDBOX_DENIED: 4;
  readonly RETRIES_EXHAUSTED: 5;
  readonly OUTPUT_SCHEMA: 6;
  readonly TIMEOUT: 124;
  readonly INTERRUPTED: 130;
  readonly TERMINATED: 143;
};

/** What is known about an invocation that failed. */
export interface ErrorDetails {
  exitCode?: number | null;
  signal?: NodeJS.Signals | string | null;
  summary?: RunSummary | null;
  stderr?: string;
  events?: OrchestratorEvent[];
  invalidLines?: InvalidLine[];
  argv?: string[];
  cause?: unknown;
}

/** The invocation did not succeed. */
export declare class OrchestratorError extends Error {
  constructor(message: string, details?: ErrorDetails);
  /** The CLI's exit code; null when it never ran or died by a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | string | null;
  /** The run summary; null when the CLI ended before `run:summary`. */
  readonly summary: RunSummary | null;
  readonly stderr: string;
  readonly events: readonly OrchestratorEvent[];
  readonly invalidLines: readonly InvalidLine[];
  readonly argv: readonly string[];
  /** Set by `runWithRetry`: how many attempts were made. */
  attempts?: number;
  readonly runId: string | null;
  readonly manifestPath: string | null;
}
/** Exit 2: bad flag, task id or config file; nothing was run. */
export declare class UsageError extends OrchestratorError {}
/** Exit 3: approval refused. */
export declare class ApprovalRefusedError extends OrchestratorError {}
/** Exit 4: sandbox denied and not escalated. */
export declare class SandboxDeniedError extends OrchestratorError {}
/** Exit 5: retries exhausted. */
export declare class RetriesExhaustedError extends OrchestratorError {}
/** Exit 6: the output failed `--output-schema`. */
export declare class OutputSchemaError extends OrchestratorError {}
/** `--timeout` expired (exit 124, `source: 'cli'`) or `timeoutMs` did (`source: 'sdk'`). */
export declare class OrchestratorTimeoutError extends OrchestratorError {
  constructor(message: string, details?: ErrorDetails & { source?: 'cli' | 'sdk'; timeoutMs?: number | null });
  readonly source: 'cli' | 'sdk';
  readonly timeoutMs: number | null;
}
/** The command exited non-zero (its own status, `128+N` for death by signal N). */
export declare class CommandFailedError extends OrchestratorError {}
/** Cancelled by `run.cancel()` or the AbortSignal; the command tree was killed. */
export declare class CancelledError extends OrchestratorError {
  readonly code: 'ABORT_ERR';
}
/** The CLI could not be started (`cause`: the spawn error). */
export declare class SpawnError extends OrchestratorError {}
/** The CLI ended without a `run:summary`. */
export declare class ProtocolError extends OrchestratorError {}

/** The typed error for a CLI exit, or null for a success. */
export declare function errorForExit(exit: ErrorDetails & { exitCode: number | null }): OrchestratorError | null;

// ---------------------------------------------------------------------------------------------
// Runs and the client
// ---------------------------------------------------------------------------------------------

/** The events a run emits (besides each event's own `type`). */
export interface RunEmitterEvents {
  /** Every envelope, as it arrives. */
  event: [event: OrchestratorEvent];
  /** A stdout line that is not an envelope. */
  'invalid-line': [line: InvalidLine];
  /** Text the CLI wrote to stderr. */
  stderr: [text: string];
  /** The CLI exited (its command tree may still be being ended). */
  exit: [info: { exitCode: number | null; signal: NodeJS.Signals | null }];
  /** The run settled: `(error, null)` or `(null, result)`. */
  end: [error: OrchestratorError | null, result: RunResult | null];
}

/** A running `exec`/`resume`. */
export declare class OrchestratorRun extends EventEmitter implements AsyncIterable<OrchestratorEvent> {
  private constructor();
  on<K extends keyof RunEmitterEvents>(name: K, listener: (...args: RunEmitterEvents[K]) => void): this;
  on<T extends EventType>(type: T, listener: (event: EventOf<T>) => void): this;
  on(type: `${string}:${string}`, listener: (event: Envelope) => void): this;
  once<K extends keyof RunEmitterEvents>(name: K, listener: (...args: RunEmitterEvents[K]) => void): this;
  once<T extends EventType>(type: T, listener: (event: EventOf<T>) => void): this;
  once(type: `${string}:${string}`, listener: (event: Envelope) => void): this;
  off<K extends keyof RunEmitterEvents>(name: K, listener: (...args: RunEmitterEvents[K]) => void): this;
  off<T extends EventType>(type: T, listener: (event: EventOf<T>) => void): this;
  off(type: `${string}:${string}`, listener: (event: Envelope) => void): this;
  /** Every event from the first, as they arrive; ends (without throwing) when the CLI does. */
  events(): AsyncIterableIterator<OrchestratorEvent>;
  [Symbol.asyncIterator](): AsyncIterableIterator<OrchestratorEvent>;
  /** Resolves when the CLI and its command tree are gone; rejects with a typed error. */
  result(): Promise<RunResult>;
  /** SIGTERM the CLI, SIGKILL the tree after `killGraceMs`; `result()` rejects with `CancelledError`. */
  cancel(reason?: unknown): void;
  readonly pid: number | undefined;
  readonly runId: string | null;
  readonly summary: RunSummary | null;
  readonly stderr: string;
  readonly argv: string[];
  readonly done: boolean;
}

/** A command: an argv array, or a shell command line (run as `sh -c LINE`). */
export type Command = readonly string[] | string;

/** The client: its options are the defaults of every call. */
export declare class CodexOrchestrator {
  constructor(options?: ClientOptions);
  readonly options: Readonly<ClientOptions>;
  /** Start `exec -- command`. */
  start(command: Command, options?: ExecOptions): OrchestratorRun;
  /** Run `command` in a new run. */
  exec(command: Command, options?: ExecOptions): Promise<RunResult>;
  /** Start `resume RUN [--reopen] -- command`. */
  startResume(runId: string, command: Command, options?: ResumeOptions): OrchestratorRun;
  /** Run `command` in the existing run `runId` (or `'latest'`). */
  resume(runId: string, command: Command, options?: ResumeOptions): Promise<RunResult>;
  /** Run, and again with exponential backoff while the failure is retryable. */
  runWithRetry(command: Command, options?: RetryOptions): Promise<RunResult>;
}

/** `new CodexOrchestrator(options).start(command)`. */
export declare function start(command: Command, options?: ExecOptions): OrchestratorRun;
/** `new CodexOrchestrator(options).exec(command)`. */
export declare function exec(command: Command, options?: ExecOptions): Promise<RunResult>;
/** `new CodexOrchestrator(options).resume(runId, command)`. */
export declare function resume(runId: string, command: Command, options?: ResumeOptions): Promise<RunResult>;
/** `new CodexOrchestrator().runWithRetry(command, options)`. */
export declare function runWithRetry(command: Command, options?: RetryOptions): Promise<RunResult>;

/**
 * The CLI to spawn, as [file, ...leading args]: `bin`, else `CODEX_ORCHESTRATOR_BIN`, else
 * `codex-orchestrator` on PATH outside the working directory (never one a command planted in
 * the workspace's `.venv/bin`) and outside relative PATH entries.
 */
export declare function resolveBin(options?: Pick<ClientOptions, 'bin' | 'env' | 'cwd'>): string[];
/** The CLI options (after the sub-command, before `--`) for `options`. */
export declare function cliOptions(options?: ClientOptions): string[];

/** The kill grace period used when `killGraceMs` is not given. */
export declare const DEFAULT_KILL_GRACE_MS: number;
/** The envelope version this SDK reads. */
export declare const ENVELOPE_VERSION: 1;

/** Splits a byte stream into complete lines (partial lines and UTF-8 characters kept across chunks). */
export declare class LineSplitter {
  /** The lines completed by `chunk`. */
  push(chunk: Buffer | Uint8Array | string): string[];
  /** The last, unterminated line. */
  flush(): string[];
  readonly pending: string;
}

/** Parse one line: `{ event }` for an envelope, `{ error }` otherwise. Never throws. */
export declare function parseEnvelope(
  line: string,
): { event: OrchestratorEvent; error?: undefined } | { event?: undefined; error: string };
