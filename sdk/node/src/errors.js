// Typed errors: one class per way an invocation can end badly.

/** CLI exit codes (a command's own status is passed through otherwise). */
export const EXIT_CODES = Object.freeze({
  USAGE: 2,
  APPROVAL_REFUSED: 3,
  SANDBOX_DENIED: 4,
  RETRIES_EXHAUSTED: 5,
  OUTPUT_SCHEMA: 6,
  TIMEOUT: 124,
  INTERRUPTED: 130,
  TERMINATED: 143,
});

/**
 * The base class: the invocation did not succeed. Carries what is known about it: the exit
 * code (null when the CLI never ran or died by a signal), the signal, the run summary (null
 * when the CLI ended before `run:summary`), its stderr and every event it printed.
 */
export class OrchestratorError extends Error {
  /**
   * @param {string} message
   * @param {{exitCode?: number|null, signal?: string|null, summary?: object|null,
   *          stderr?: string, events?: object[], invalidLines?: object[], argv?: string[],
   *          cause?: unknown}} [details]
   */
  constructor(message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.summary = details.summary ?? null;
    this.stderr = details.stderr ?? '';
    this.events = details.events ?? [];
    this.invalidLines = details.invalidLines ?? [];
    this.argv = details.argv ?? [];
  }

  /** The run's id, when the CLI got as far as starting one. */
  get runId() {
    return this.summary?.run?.id ?? this.events.find((e) => e.runId)?.runId ?? null;
  }

  /** The run's manifest path, when the run got a summary. */
  get manifestPath() {
    return this.summary?.run?.manifestPath ?? null;
  }
}

/** Exit 2: a bad flag, task id or config file; nothing was run or written. */
export class UsageError extends OrchestratorError {}

/** Exit 3: the command needed approval and it was refused. */
export class ApprovalRefusedError extends OrchestratorError {}

/** Exit 4: the sandbox denied the command and escalation was not allowed. */
export class SandboxDeniedError extends OrchestratorError {}

/** Exit 5: the orchestrator's own retries were exhausted. */
export class RetriesExhaustedError extends OrchestratorError {}

/** Exit 6: the command's output failed `--output-schema`. */
export class OutputSchemaError extends OrchestratorError {}

/**
 * The invocation ran out of time: the CLI's `--timeout` (`commandTimeoutMs`, exit 124,
 * `source: 'cli'`) or the SDK's `timeoutMs` (the command tree was killed, `source: 'sdk'`).
 */
export class OrchestratorTimeoutError extends OrchestratorError {
  constructor(message, details = {}) {
    super(message, details);
    this.source = details.source ?? 'cli';
    this.timeoutMs = details.timeoutMs ?? null;
  }
}

/** The command ran and exited non-zero (its own status, or `128+N` for death by signal N). */
export class CommandFailedError extends OrchestratorError {}

/** `run.cancel()` or the AbortSignal: the command tree was killed. `cause` is the reason. */
export class CancelledError extends OrchestratorError {
  constructor(message, details = {}) {
    super(message, details);
    this.code = 'ABORT_ERR';
  }
}

/** The CLI could not be started (`cause` is the spawn error, e.g. ENOENT). */
export class SpawnError extends OrchestratorError {}

/** The CLI broke the protocol: it ended without a `run:summary` (crashed, killed). */
export class ProtocolError extends OrchestratorError {}

function lastLine(text) {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]?.trim() ?? '';
}

function lastAttempt(summary) {
  const attempts = summary?.toolRun?.attempts;
  return Array.isArray(attempts) && attempts.length > 0 ? attempts[attempts.length - 1] : null;
}

/**
 * The error for an exit of the CLI, or null when it succeeded.
 *
 * The orchestrator's codes (2-6, 124) are told apart from a command that exits with the
 * same status by the summary: a refused tool run is an approval refusal, a denied one a
 * sandbox denial, a timed-out attempt a timeout; anything else non-zero is the command's.
 *
 * @param {{exitCode: number|null, signal?: string|null, summary?: object|null,
 *          stderr?: string, events?: object[], invalidLines?: object[], argv?: string[]}} exit
 * @returns {OrchestratorError | null}
 */
export function errorForExit(exit) {
  const { exitCode, summary = null, stderr = '' } = exit;
  const details = { ...exit, signal: exit.signal ?? null, summary, stderr };
  const detail = summary?.statusDetail || lastLine(stderr);
  const toolStatus = summary?.toolRun?.status ?? null;
  const attempt = lastAttempt(summary);

  if (exitCode === 0 && summary?.status === 'succeeded') return null;
  if (!summary) {
    const why = detail ? `: ${detail}` : '';
    if (exitCode === EXIT_CODES.USAGE) return new UsageError(detail || 'usage error (exit 2)', details);
    const how = exitCode === null ? `was killed by ${exit.signal ?? 'a signal'}` : `exited with ${exitCode}`;
    return new ProtocolError(`codex-orchestrator ${how} before run:summary${why}`, details);
  }
  const message = detail || `run ${summary.run?.id ?? '?'} ${summary.status} (exit ${exitCode})`;
  if (toolStatus === 'refused' || (exitCode === EXIT_CODES.APPROVAL_REFUSED && !attempt)) {
    return new ApprovalRefusedError(message, details);
  }
  if (toolStatus === 'denied') return new SandboxDeniedError(message, details);
  if (attempt?.state === 'timed_out' || (exitCode === EXIT_CODES.TIMEOUT && detail === 'command timed out')) {
    return new OrchestratorTimeoutError(message, { ...details, source: 'cli' });
  }
  if (exitCode === EXIT_CODES.RETRIES_EXHAUSTED && attempt && attempt.exitCode !== exitCode) {
    return new RetriesExhaustedError(message, details);
  }
  if (exitCode === EXIT_CODES.OUTPUT_SCHEMA && String(detail).startsWith('--output-schema')) {
    return new OutputSchemaError(message, details);
  }
  // The command's own non-zero status (or an exit 0 whose run did not succeed).
  return new CommandFailedError(message, details);
}
