// @pytest-codex/orchestrator: a Node.js SDK for `codex-orchestrator exec --jsonl`.
import { CodexOrchestrator } from './client.js';

export { CodexOrchestrator, cliOptions, resolveBin } from './client.js';
export { OrchestratorRun, DEFAULT_KILL_GRACE_MS } from './run.js';
export { LineSplitter, parseEnvelope, ENVELOPE_VERSION } from './lines.js';
export {
  EXIT_CODES,
  errorForExit,
  OrchestratorError,
  UsageError,
  ApprovalRefusedError,
  SandboxDeniedError,
  RetriesExhaustedError,
  OutputSchemaError,
  OrchestratorTimeoutError,
  CommandFailedError,
  CancelledError,
  SpawnError,
  ProtocolError,
} from './errors.js';

/** `new CodexOrchestrator(options).start(command)`. */
export function start(command, options = {}) {
  return new CodexOrchestrator(options).start(command);
}

/** `new CodexOrchestrator(options).exec(command)`. */
export function exec(command, options = {}) {
  return new CodexOrchestrator(options).exec(command);
}

/** `new CodexOrchestrator(options).resume(runId, command)`. */
export function resume(runId, command, options = {}) {
  return new CodexOrchestrator(options).resume(runId, command);
}

/** `new CodexOrchestrator(options).runWithRetry(command, options)`. */
export function runWithRetry(command, options = {}) {
  return new CodexOrchestrator().runWithRetry(command, options);
}
