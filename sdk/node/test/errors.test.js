// Exit codes to typed errors, without a CLI (the CLI-driven cases are in exec.test.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  ApprovalRefusedError,
  CommandFailedError,
  errorForExit,
  OrchestratorError,
  OrchestratorTimeoutError,
  OutputSchemaError,
  ProtocolError,
  RetriesExhaustedError,
  SandboxDeniedError,
  UsageError,
} from '../src/index.js';

const summary = (status, toolStatus, attempts, detail = null) => ({
  status,
  statusDetail: detail,
  run: { id: 'r1', task: 't', pipeline: 'exec', runner: 'cli', manifestPath: '/m.json', artifactRoot: '/' },
  toolRun: toolStatus === null ? null : { status: toolStatus, attempts },
});

test('a success is no error', () => {
  assert.equal(errorForExit({ exitCode: 0, summary: summary('succeeded', 'succeeded', [{ state: 'succeeded', exitCode: 0 }]) }), null);
});

test('each orchestrator exit code has its class, carrying the summary and code', () => {
  const cases = [
    [3, summary('failed', 'refused', [], 'not approved'), ApprovalRefusedError],
    [4, summary('failed', 'denied', [{ state: 'denied', exitCode: 1 }], 'denied'), SandboxDeniedError],
    [5, summary('failed', 'failed', [{ state: 'failed', exitCode: 75 }], 'gave up'), RetriesExhaustedError],
    [6, summary('failed', 'succeeded', [{ state: 'succeeded', exitCode: 0 }], '--output-schema: bad'), OutputSchemaError],
    [124, summary('failed', 'failed', [{ state: 'timed_out', exitCode: null }], 'command timed out'), OrchestratorTimeoutError],
  ];
  for (const [exitCode, s, cls] of cases) {
    const error = errorForExit({ exitCode, summary: s });
    assert.ok(error instanceof cls, `${exitCode}: ${error?.name}`);
    assert.ok(error instanceof OrchestratorError);
    assert.equal(error.exitCode, exitCode);
    assert.equal(error.summary, s);
    assert.equal(error.runId, 'r1');
    assert.equal(error.message, s.statusDetail);
  }
});

test("a command's own exit status of 3, 4 or 5 is the command's failure, not the orchestrator's", () => {
  for (const code of [3, 4, 5, 124]) {
    const s = summary('failed', 'failed', [{ state: 'failed', exitCode: code }], `command exited with status ${code}`);
    assert.ok(errorForExit({ exitCode: code, summary: s }) instanceof CommandFailedError, String(code));
  }
});

test('no summary: exit 2 is a usage error with the CLI message, anything else a protocol error', () => {
  const usage = errorForExit({ exitCode: 2, summary: null, stderr: 'codex-orchestrator: error: bad flag\n' });
  assert.ok(usage instanceof UsageError);
  assert.equal(usage.message, 'codex-orchestrator: error: bad flag');
  const crash = errorForExit({ exitCode: null, signal: 'SIGKILL', summary: null, stderr: '' });
  assert.ok(crash instanceof ProtocolError);
  assert.match(crash.message, /killed by SIGKILL before run:summary/);
});
