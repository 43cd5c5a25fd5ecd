// One invocation of the CLI: its events as they arrive, its result, its cancellation.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import {
  CancelledError,
  errorForExit,
  OrchestratorTimeoutError,
  SpawnError,
} from './errors.js';
import { LineSplitter, parseEnvelope } from './lines.js';
import { pidsWithArgument, TreeTracker } from './tree.js';

/** How long the CLI gets after SIGTERM before the whole tree is killed (ms). */
export const DEFAULT_KILL_GRACE_MS = 5000;
const SCAN_INTERVAL_MS = 100;
const STDERR_CAP = 1024 * 1024;
// After the CLI exits, how long a straggler may hold its stdout open before we stop reading.
const CLOSE_GRACE_MS = 2000;
// How long to wait for killed stragglers to disappear before settling anyway.
const REAP_WAIT_MS = 5000;

// Runs whose CLI still lives: if this program exits (process.exit, the end of the event
// loop), their process groups get SIGTERM on the way out, so no CLI is left orphaned.
const LIVE = new Set();
let exitHook = false;
function track(child) {
  LIVE.add(child);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const live of LIVE) {
        try {
          process.kill(-live.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    });
  }
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref?.());

/**
 * A running `codex-orchestrator exec|resume --jsonl`. Events are delivered three ways, all
 * in order and complete: `for await (const ev of run.events())` (from the first event, for
 * every iterator), `run.on('event', fn)` / `run.on('exec:chunk', fn)` (as they arrive), and
 * `run.events` of the result. `await run.result()` settles once the CLI and everything it
 * started are gone.
 */
export class OrchestratorRun extends EventEmitter {
  #argv;
  #child = null;
  #events = [];
  #invalid = [];
  #stderr = '';
  #waiters = [];
  #ended = false;
  #exit = null;
  #terminating = null;
  #tracker = null;
  #timers = [];
  #scanTimer = null;
  #killGraceMs;
  #timeoutMs;
  #signal;
  #session;
  #onAbort = null;
  #settle;
  #promise;
  #settled = false;
  #splitter = new LineSplitter();
  #lineNumber = 0;

  /**
   * @param {{file: string, args: string[], cwd?: string, env?: NodeJS.ProcessEnv,
   *          timeoutMs?: number, killGraceMs?: number, signal?: AbortSignal}} spec
   */
  constructor(spec) {
    super();
    this.#argv = [spec.file, ...spec.args];
    this.#killGraceMs = spec.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    this.#timeoutMs = spec.timeoutMs ?? null;
    this.#signal = spec.signal ?? null;
    this.#session = spec.session ?? null;
    this.#promise = new Promise((resolve, reject) => {
      this.#settle = (error, value) => (error ? reject(error) : resolve(value));
    });
    // A run nobody awaits must not crash the process with an unhandled rejection.
    this.#promise.catch(() => {});
    if (this.#signal?.aborted) {
      this.#terminating = { kind: 'cancel', reason: this.#signal.reason };
      queueMicrotask(() => this.#finish());
      return;
    }
    this.#spawn(spec);
  }

  #spawn(spec) {
    let child;
    try {
      child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true, // its own process group, so signals reach the CLI and its helpers
        stdio: ['ignore', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (err) {
      this.#spawnFailed(err);
      return;
    }
    this.#child = child;
    child.on('error', (err) => {
      if (child.pid === undefined) this.#spawnFailed(err);
    });
    child.stdout.on('data', (chunk) => this.#lines(this.#splitter.push(chunk)));
    child.stdout.on('end', () => this.#lines(this.#splitter.flush()));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => {
      this.#stderr = (this.#stderr + text).slice(-STDERR_CAP);
      this.emit('stderr', text);
    });
    child.on('exit', (code, signal) => this.#exited(code, signal));
    child.on('close', () => this.#finish());
    if (child.pid === undefined) return; // 'error' follows
    track(child);
    if (this.#timeoutMs !== null && this.#timeoutMs !== undefined) {
      this.#timer(() => this.#terminate('timeout'), this.#timeoutMs);
    }
    if (this.#signal) {
      this.#onAbort = () => this.#terminate('cancel', this.#signal.reason);
      this.#signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  #spawnFailed(err) {
    if (this.#settled) return;
    const file = this.#argv[0];
    const hint =
      err?.code === 'ENOENT'
        ? `${file} not found; install pytest-codex or point the 'bin' option or CODEX_ORCHESTRATOR_BIN at codex-orchestrator`
        : `cannot start ${file}: ${err?.message ?? err}`;
    this.#exit = { code: null, signal: null };
    this.#finishWith(new SpawnError(hint, { argv: this.#argv, cause: err }));
  }

  #timer(fn, ms) {
    const timer = setTimeout(fn, ms);
    this.#timers.push(timer);
    return timer;
  }

  #lines(lines) {
    for (const line of lines) {
      this.#lineNumber += 1;
      const parsed = parseEnvelope(line);
      if (parsed.event) {
        const event = Object.freeze(parsed.event);
        this.#events.push(event);
        this.#wake();
        this.emit('event', event);
        this.emit(event.type, event);
      } else {
        const invalid = Object.freeze({ line, lineNumber: this.#lineNumber, error: parsed.error });
        this.#invalid.push(invalid);
        this.emit('invalid-line', invalid);
      }
    }
  }

  #wake() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  #exited(code, signal) {
    this.#exit = { code, signal };
    LIVE.delete(this.#child);
    this.emit('exit', { exitCode: code, signal });
    if (this.#scanTimer) clearInterval(this.#scanTimer);
    if (this.#terminating) {
      // Whatever the CLI did not end in its grace period goes now.
      this.#tracker?.signalAll('SIGKILL');
    }
    // A straggler holding the CLI's stdout open must not keep us waiting for 'close'.
    this.#timer(() => {
      this.#child?.stdout?.destroy();
      this.#child?.stderr?.destroy();
    }, CLOSE_GRACE_MS).unref?.();
  }

  #terminate(kind, reason) {
    if (this.#settled || this.#exit !== null || this.#terminating || !this.#child) return;
    this.#terminating = { kind, reason };
    const pid = this.#child.pid;
    this.#tracker = new TreeTracker(pid);
    for (const server of this.#sessionServers()) this.#tracker.adopt(server);
    this.#tracker.scan();
    this.#tracker.signalAll('SIGTERM');
    // Keep following the tree while the CLI unwinds, so nothing it starts is missed.
    this.#scanTimer = setInterval(() => this.#tracker.scan(), SCAN_INTERVAL_MS);
    this.#timer(() => {
      if (this.#exit === null) this.#tracker.signalAll('SIGKILL');
    }, this.#killGraceMs);
  }

  // With `--session`, the command runs in the run's session server, which an earlier
  // invocation may have started (so it is not under this CLI): found by its socket, recorded
  // in <run dir>/sessions/ID.json.
  #sessionServers() {
    if (!this.#session) return [];
    const manifest = this.#events.find((e) => e.type === 'run:start')?.payload.manifestPath;
    const log = this.#events.find((e) => e.type === 'exec:begin')?.payload.logPath;
    const runDir = manifest ? dirname(manifest) : log ? dirname(dirname(log)) : null;
    if (!runDir) return [];
    try {
      const record = JSON.parse(readFileSync(join(runDir, 'sessions', `${this.#session}.json`), 'utf8'));
      return typeof record.socket === 'string' ? pidsWithArgument(record.socket) : [];
    } catch {
      return [];
    }
  }

  async #finish() {
    if (this.#settled || this.#ended) return;
    this.#ended = true; // no more events
    for (const timer of this.#timers) clearTimeout(timer);
    if (this.#scanTimer) clearInterval(this.#scanTimer);
    if (this.#onAbort) this.#signal.removeEventListener('abort', this.#onAbort);
    if (this.#terminating && this.#tracker) {
      // Settle only when the tree is really gone.
      const deadline = Date.now() + REAP_WAIT_MS;
      let live = this.#tracker.alive();
      while (live.length > 0 && Date.now() < deadline) {
        this.#tracker.signalAll('SIGKILL');
        await delay(20);
        live = this.#tracker.alive();
      }
    }
    this.#finishWith(this.#outcome());
  }

  #details() {
    return {
      exitCode: this.#exit?.code ?? null,
      signal: this.#exit?.signal ?? null,
      summary: this.summary,
      stderr: this.#stderr,
      events: [...this.#events],
      invalidLines: [...this.#invalid],
      argv: [...this.#argv],
    };
  }

  #outcome() {
    const details = this.#details();
    if (this.#terminating?.kind === 'timeout') {
      return new OrchestratorTimeoutError(
        `timed out after ${this.#timeoutMs} ms; the command tree was killed`,
        { ...details, source: 'sdk', timeoutMs: this.#timeoutMs },
      );
    }
    if (this.#terminating?.kind === 'cancel') {
      const reason = this.#terminating.reason;
      const why = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
      const message = why && !/aborted/i.test(why) ? `cancelled: ${why}` : 'cancelled; the command tree was killed';
      return new CancelledError(message, { ...details, cause: reason });
    }
    const error = errorForExit(details);
    if (error) return error;
    const summary = details.summary;
    return Object.freeze({
      exitCode: details.exitCode,
      signal: details.signal,
      status: summary.status,
      runId: summary.run.id,
      manifestPath: summary.run.manifestPath,
      summary,
      events: details.events,
      invalidLines: details.invalidLines,
      stderr: details.stderr,
      argv: details.argv,
    });
  }

  #finishWith(outcome) {
    if (this.#settled) return;
    this.#settled = true;
    this.#ended = true;
    this.#wake();
    const failed = outcome instanceof Error;
    this.emit('end', failed ? outcome : null, failed ? null : outcome);
    this.#settle(failed ? outcome : null, failed ? undefined : outcome);
  }

  /**
   * The events, from the first one, as they arrive; the iteration ends when the CLI does.
   * It does not throw: how the run ended is `await run.result()`.
   */
  events() {
    let index = 0;
    const next = () =>
      new Promise((resolve) => {
        const attempt = () => {
          if (index < this.#events.length) resolve({ value: this.#events[index++], done: false });
          else if (this.#ended) resolve({ value: undefined, done: true });
          else this.#waiters.push(attempt);
        };
        attempt();
      });
    return {
      next,
      return: async () => {
        index = Number.POSITIVE_INFINITY;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** `for await (const ev of run)` is `run.events()`. */
  [Symbol.asyncIterator]() {
    return this.events();
  }

  /** The result (or the typed error) once the CLI and its command tree are gone. */
  result() {
    return this.#promise;
  }

  /**
   * End the command tree: SIGTERM to the CLI (which ends its command and records the run as
   * cancelled), SIGKILL to whatever is left after the grace period. `result()` then rejects
   * with `CancelledError`. No effect once the CLI has exited.
   */
  cancel(reason) {
    this.#terminate('cancel', reason);
  }

  /** The CLI's process id (undefined if it could not start). */
  get pid() {
    return this.#child?.pid;
  }

  /** The run id, once the first event arrived. */
  get runId() {
    return this.#events[0]?.runId ?? null;
  }

  /** The `run:summary` payload, once it arrived. */
  get summary() {
    for (let i = this.#events.length - 1; i >= 0; i -= 1) {
      if (this.#events[i].type === 'run:summary') return this.#events[i].payload;
    }
    return null;
  }

  /** What the CLI printed on stderr so far (the last MiB). */
  get stderr() {
    return this.#stderr;
  }

  /** The argv that was spawned. */
  get argv() {
    return [...this.#argv];
  }

  /** Whether the run has settled. */
  get done() {
    return this.#settled;
  }
}
