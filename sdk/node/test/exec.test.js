// exec and resume against the real CLI: streaming, the summary, typed errors.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  ApprovalRefusedError,
  CommandFailedError,
  exec,
  OrchestratorError,
  OrchestratorTimeoutError,
  SandboxDeniedError,
  SpawnError,
  UsageError,
} from '../src/index.js';
import { BIN, cleanEnv, waitForOutput, workspace } from './helpers.js';

test('events arrive while the command still runs, and the run ends with its summary', async (t) => {
  const { dir, client } = await workspace(t);
  // The command waits for a file the test writes only after it has seen the first line:
  // without streaming it would never finish.
  const run = client.start(['sh', '-c', 'echo first; while [ ! -f go ]; do sleep 0.05; done; echo second']);
  const seen = [];
  run.on('event', (event) => seen.push(event.type));
  const iterated = [];
  for await (const event of run.events()) {
    iterated.push(event);
    if (event.type === 'exec:chunk' && event.payload.data.includes('first')) {
      assert.equal(run.done, false);
      assert.ok(!seen.includes('exec:end'), 'exec:end before the command was released');
      await writeFile(join(dir, 'go'), '');
    }
  }
  const result = await run.result();
  assert.equal(result.exitCode, 0);
  assert.equal(result.status, 'succeeded');
  assert.deepEqual(iterated, result.events);
  assert.deepEqual(seen, result.events.map((e) => e.type));
  assert.deepEqual(result.events.map((e) => e.seq), result.events.map((_, i) => i + 1));
  assert.equal(result.events[0].type, 'run:start');
  assert.equal(result.events.at(-1).type, 'run:summary');
  assert.equal(result.summary.outputs.stdout.text, 'first\nsecond\n');
  assert.equal(result.summary.run.task, 'node-sdk-task');
  assert.equal(result.runId, run.runId);
  const manifest = JSON.parse(readFileSync(result.manifestPath, 'utf8'));
  assert.equal(manifest.runId, result.runId);
  // A second iterator, after the end, replays everything.
  const replay = [];
  for await (const event of run) replay.push(event);
  assert.deepEqual(replay, result.events);
});

test('the task id: the task option over MCP_RUNNER_TASK_ID over the config file', async (t) => {
  const { client } = await workspace(t, { task: 'from-config' });
  const result = await client.exec(['true'], { env: cleanEnv({ MCP_RUNNER_TASK_ID: 'from-env' }) });
  assert.equal(result.summary.run.task, 'from-env');
  const flagged = await client.exec('echo "$0"', { task: 'from-flag' });
  assert.equal(flagged.summary.run.task, 'from-flag');
  assert.deepEqual(flagged.summary.command.argv, ['sh', '-c', 'echo "$0"']);
});

test('resume appends to the same run; a finished run needs reopen', async (t) => {
  const { client } = await workspace(t);
  const first = await client.exec(['echo', 'one']);
  await assert.rejects(client.resume(first.runId, ['echo', 'two']), (error) => {
    assert.ok(error instanceof UsageError, error.name);
    assert.match(error.message, /already finished.*--reopen/);
    return true;
  });
  const second = await client.resume(first.runId, ['echo', 'two'], { reopen: true });
  assert.equal(second.runId, first.runId);
  assert.ok(second.events[0].seq > first.events.at(-1).seq, 'seq continues across a resume');
  assert.ok(second.events.some((e) => e.type === 'run:resume' && e.payload.resume.reopened));
  const latest = await client.resume('latest', ['echo', 'three'], { reopen: true });
  assert.equal(latest.runId, first.runId);
  const manifest = JSON.parse(readFileSync(latest.manifestPath, 'utf8'));
  assert.deepEqual(manifest.commands.map((c) => c.argv), [['echo', 'one'], ['echo', 'two'], ['echo', 'three']]);
});

test('a failing command rejects with CommandFailedError carrying the summary and exit code', async (t) => {
  const { client } = await workspace(t);
  const error = await client.exec(['sh', '-c', 'echo bad >&2; exit 7']).catch((e) => e);
  assert.ok(error instanceof CommandFailedError, error.name);
  assert.ok(error instanceof OrchestratorError);
  assert.equal(error.exitCode, 7);
  assert.equal(error.summary.status, 'failed');
  assert.equal(error.summary.outputs.stderr.text, 'bad\n');
  assert.equal(error.message, 'command exited with status 7');
  assert.ok(existsSync(error.manifestPath));
  assert.equal(error.runId, error.summary.run.id);
});

test('the CLI timeout (exit 124) rejects with OrchestratorTimeoutError from the cli', async (t) => {
  const { client } = await workspace(t);
  const error = await client.exec(['sleep', '30'], { commandTimeoutMs: 300 }).catch((e) => e);
  assert.ok(error instanceof OrchestratorTimeoutError, error.name);
  assert.equal(error.exitCode, 124);
  assert.equal(error.source, 'cli');
  assert.equal(error.summary.statusDetail, 'command timed out');
});

test('a sandbox denial (exit 4) rejects with SandboxDeniedError', async (t) => {
  const { dir, client } = await workspace(t);
  const error = await client
    .exec(['touch', 'written'], { sandbox: 'read-only', approvalPolicy: 'never' })
    .catch((e) => e);
  const backend = error.events?.find((e) => e.type === 'sandbox:backend')?.payload.backend;
  if (backend !== 'bubblewrap') {
    t.skip(`no enforcing sandbox here (backend ${backend})`);
    return;
  }
  assert.ok(error instanceof SandboxDeniedError, `${error.name}: ${error.message}`);
  assert.equal(error.exitCode, 4);
  assert.equal(error.summary.toolRun.status, 'denied');
  assert.match(error.message, /denied by the read-only sandbox/);
  assert.ok(!existsSync(join(dir, 'written')));
});

test('an approval refusal (exit 3) rejects with ApprovalRefusedError', async (t) => {
  const { dir, client } = await workspace(t);
  const error = await client.exec(['touch', 'x'], { approvalPolicy: 'untrusted' }).catch((e) => e);
  assert.ok(error instanceof ApprovalRefusedError, `${error.name}: ${error.message}`);
  assert.equal(error.exitCode, 3);
  assert.match(error.message, /not approved/);
  assert.ok(!existsSync(join(dir, 'x')));
});

test('a usage error (exit 2) and a missing CLI are typed too', async (t) => {
  const { client } = await workspace(t);
  const usage = await client.exec(['true'], { extraArgs: ['--no-such-flag'] }).catch((e) => e);
  assert.ok(usage instanceof UsageError, usage.name);
  assert.equal(usage.exitCode, 2);
  assert.equal(usage.summary, null);
  assert.match(usage.message, /unknown option '--no-such-flag'/);
  const missing = await exec(['true'], { bin: join(t.name, 'no-such-cli') }).catch((e) => e);
  assert.ok(missing instanceof SpawnError, missing.name);
  assert.equal(missing.cause.code, 'ENOENT');
  assert.match(missing.message, /not found.*CODEX_ORCHESTRATOR_BIN/);
});

test('a stdout line that is not an envelope is surfaced, not fatal', async (t) => {
  const { client } = await workspace(t);
  // A wrapper prints junk on stdout (half a line, then the rest) before handing over to the CLI.
  const bin = ['sh', '-c', 'printf "not json "; printf "at all\\n"; exec "$0" "$@"', BIN];
  const run = client.start(['echo', 'ok'], { bin });
  const invalid = [];
  run.on('invalid-line', (line) => invalid.push(line));
  const result = await run.result();
  assert.equal(result.status, 'succeeded');
  assert.equal(invalid.length, 1);
  assert.equal(invalid[0].line, 'not json at all');
  assert.equal(invalid[0].lineNumber, 1);
  assert.match(invalid[0].error, /^not JSON/);
  assert.deepEqual(result.invalidLines, invalid);
  assert.equal(result.events[0].type, 'run:start');
});

test('waitForOutput sees chunks as they come', async (t) => {
  const { client } = await workspace(t);
  const run = client.start(['sh', '-c', 'echo value=42']);
  const [, value] = await waitForOutput(run, /value=(\d+)/);
  assert.equal(value, '42');
  await run.result();
});
