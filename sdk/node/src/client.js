// The client: builds `codex-orchestrator exec|resume --jsonl [options] -- CMD...` and runs it.
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { CancelledError, CommandFailedError, OrchestratorError } from './errors.js';
import { OrchestratorRun } from './run.js';

const APPROVAL_POLICIES = ['never', 'on-request', 'on-failure', 'untrusted'];
const SANDBOXES = ['read-only', 'workspace-write', 'danger-full-access'];

/**
 * The CLI to spawn, as [file, ...leading args]: `options.bin`, else `CODEX_ORCHESTRATOR_BIN`
 * (from `options.env`, then this process's environment), else `codex-orchestrator` on PATH.
 */
export function resolveBin(options = {}) {
  const bin =
    options.bin ?? options.env?.CODEX_ORCHESTRATOR_BIN ?? process.env.CODEX_ORCHESTRATOR_BIN;
  if (Array.isArray(bin)) {
    if (bin.length === 0) throw new TypeError('bin: an empty array; give the CLI path');
    return [...bin];
  }
  return [bin || trustedOnPath('codex-orchestrator', options)];
}

function inside(child, parent) {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function real(p) {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * `name` on PATH, skipping relative entries and entries inside the working directory (the
 * workspace: a `codex-orchestrator` a command planted in the repository's `.venv/bin` would
 * run unsandboxed); the bare name when none is found (spawn then says it is missing).
 */
export function trustedOnPath(name, options = {}) {
  const env = options.env ?? process.env;
  const cwd = real(path.resolve(options.cwd ?? process.cwd()));
  for (const entry of (env.PATH ?? '').split(path.delimiter)) {
    if (!entry || !path.isAbsolute(entry)) continue;
    const candidate = path.join(entry, name);
    if (inside(path.resolve(entry), cwd) || inside(real(candidate), cwd)) continue;
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    return candidate;
  }
  return name;
}

function commandArgv(command) {
  if (typeof command === 'string') {
    if (command.trim() === '') throw new TypeError('command: an empty string');
    return ['sh', '-c', command];
  }
  if (!Array.isArray(command) || command.length === 0 || !command.every((w) => typeof w === 'string')) {
    throw new TypeError('command: give an array of strings (argv) or a shell command line string');
  }
  return [...command];
}

function choice(name, value, allowed) {
  if (!allowed.includes(value)) {
    throw new TypeError(`${name}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
  }
  return value;
}

/** The CLI options for `options` (everything after the sub-command, before `--`). */
export function cliOptions(options = {}) {
  const args = ['--jsonl'];
  if (options.task) args.push('--task', options.task);
  if (options.configFile) args.push('--config-file', options.configFile);
  if (options.commandCwd) args.push('--cwd', options.commandCwd);
  if (options.session) args.push('--session', options.session);
  if (options.commandTimeoutMs !== undefined && options.commandTimeoutMs !== null) {
    args.push('--timeout', String(options.commandTimeoutMs / 1000));
  }
  if (options.approvalPolicy) {
    args.push('--approval-policy', choice('approvalPolicy', options.approvalPolicy, APPROVAL_POLICIES));
  }
  if (options.sandbox) args.push('--sandbox', choice('sandbox', options.sandbox, SANDBOXES));
  if (options.fullAuto) args.push('--full-auto');
  if (options.pipe) args.push('--pipe');
  if (options.outputSchema) args.push('--output-schema', options.outputSchema);
  if (options.otelEndpoint) args.push('--otel-endpoint', options.otelEndpoint);
  for (const target of options.notify ?? []) args.push('--notify', target);
  for (const dir of options.addDirs ?? []) args.push('--add-dir', dir);
  args.push(...(options.extraArgs ?? []));
  return args;
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function retryPredicate(retryOn) {
  if (retryOn === undefined || retryOn === null) {
    return (error) => error instanceof CommandFailedError;
  }
  if (typeof retryOn === 'function') return retryOn;
  if (Array.isArray(retryOn) || retryOn instanceof Set) {
    const codes = new Set(retryOn);
    return (error) => error.exitCode !== null && codes.has(error.exitCode);
  }
  throw new TypeError('retryOn: give exit codes (an array) or a function (error, attempt) => boolean');
}

/**
 * Runs `codex-orchestrator` as a child process and reads its JSONL events. The options given
 * here are the defaults of every call; each call may override them.
 */
export class CodexOrchestrator {
  /** @param {import('../index.js').ClientOptions} [options] */
  constructor(options = {}) {
    this.options = Object.freeze({ ...options });
  }

  #run(head, command, overrides) {
    const options = { ...this.options, ...overrides };
    const [file, ...lead] = resolveBin(options);
    const args = [...lead, ...head, ...cliOptions(options), '--', ...commandArgv(command)];
    return new OrchestratorRun({
      file,
      args,
      cwd: options.cwd,
      env: options.env,
      timeoutMs: options.timeoutMs,
      killGraceMs: options.killGraceMs,
      signal: options.signal,
      session: options.session,
    });
  }

  /** Start `exec -- command` in a new run; iterate or listen to the returned run. */
  start(command, options = {}) {
    return this.#run(['exec'], command, options);
  }

  /** Run `command` in a new run; resolves with the result, rejects with a typed error. */
  exec(command, options = {}) {
    return this.start(command, options).result();
  }

  /** Start `resume RUN [--reopen] -- command` (RUN: a run id or `latest`). */
  startResume(runId, command, options = {}) {
    if (typeof runId !== 'string' || runId === '') {
      throw new TypeError("runId: give a run id or 'latest'");
    }
    const head = ['resume', runId, ...(options.reopen ?? this.options.reopen ? ['--reopen'] : [])];
    return this.#run(head, command, options);
  }

  /** Run `command` in the existing run `runId`; `reopen: true` appends to a finished run. */
  resume(runId, command, options = {}) {
    return this.startResume(runId, command, options).result();
  }

  /**
   * Run `command`, and again (each attempt a run of its own) while it fails retryably, waiting
   * `backoffMs`, then `backoffMs * factor`, ... (at most `maxBackoffMs`) between attempts.
   * `retryOn`: exit codes, or `(error, attempt) => boolean`; by default a command that exited
   * non-zero (`CommandFailedError`) is retried, refusals, denials and usage errors are not,
   * and a cancellation never is. Rejects with the last error (its `attempts` set).
   */
  async runWithRetry(command, options = {}) {
    const {
      retries = 2,
      backoffMs = 250,
      factor = 2,
      maxBackoffMs = Number.POSITIVE_INFINITY,
      retryOn,
      onAttempt,
      ...rest
    } = options;
    if (!Number.isInteger(retries) || retries < 0) throw new TypeError('retries: a whole number >= 0');
    if (!(backoffMs >= 0) || !(factor >= 1)) throw new TypeError('backoffMs >= 0 and factor >= 1');
    const retryable = retryPredicate(retryOn);
    const signal = rest.signal ?? this.options.signal;
    let wait = backoffMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await this.exec(command, rest);
        onAttempt?.({ attempt, result, error: null, delayMs: null });
        return result;
      } catch (error) {
        const again =
          error instanceof OrchestratorError &&
          !(error instanceof CancelledError) &&
          attempt <= retries &&
          Boolean(retryable(error, attempt));
        const delayMs = again ? Math.min(wait, maxBackoffMs) : null;
        onAttempt?.({ attempt, result: null, error, delayMs });
        if (!again) {
          if (error instanceof OrchestratorError) error.attempts = attempt;
          throw error;
        }
        try {
          await sleep(delayMs, signal);
        } catch (reason) {
          throw new CancelledError('cancelled while waiting to retry', {
            cause: reason,
            exitCode: error.exitCode,
            summary: error.summary,
          });
        }
        wait = Math.min(wait * factor, maxBackoffMs);
      }
    }
  }
}
