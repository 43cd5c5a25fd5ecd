// runWithRetry against the real CLI: each attempt is a run of its own, waits grow by factor.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { CancelledError, CommandFailedError, runWithRetry } from '../src/index.js';
import { BIN, cleanEnv, workspace } from './helpers.js';

// Fails on its first two runs, succeeds on the third (a counter file in the workspace).
const FLAKY = ['sh', '-c', 'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ "$n" -ge 3 ]'];

test('a command that fails twice succeeds on the third attempt, with exponential backoff', async (t) => {
  const { dir, client } = await workspace(t);
  const attempts = [];
  const result = await client.runWithRetry(FLAKY, {
    retries: 3,
    backoffMs: 20,
    factor: 2,
    onAttempt: (info) => attempts.push(info),
  });
  assert.equal(result.status, 'succeeded');
  assert.equal(readFileSync(join(dir, 'count'), 'utf8').trim(), '3');
  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.error?.exitCode ?? 0, a.delayMs]),
    [
      [1, 1, 20],
      [2, 1, 40],
      [3, 0, null],
    ],
  );
  assert.ok(attempts[0].error instanceof CommandFailedError);
  const runs = new Set(attempts.map((a) => (a.result ?? a.error).runId));
  assert.equal(runs.size, 3, 'each attempt is a run of its own');
});

test('retries exhausted: the last error, with the number of attempts', async (t) => {
  const { client } = await workspace(t);
  const error = await client
    .runWithRetry(['sh', '-c', 'exit 75'], { retries: 1, backoffMs: 1, retryOn: [75] })
    .catch((e) => e);
  assert.ok(error instanceof CommandFailedError, error.name);
  assert.equal(error.exitCode, 75);
  assert.equal(error.attempts, 2);
});

test('a failure retryOn does not name is not retried; maxBackoffMs caps the wait', async (t) => {
  const { dir } = await workspace(t);
  const attempts = [];
  const error = await runWithRetry(FLAKY, {
    bin: BIN,
    cwd: dir,
    env: cleanEnv({ MCP_RUNNER_TASK_ID: 'retry-task' }),
    retries: 5,
    backoffMs: 50,
    maxBackoffMs: 10,
    retryOn: (err, attempt) => attempt < 2 && err.exitCode === 1,
    onAttempt: (info) => attempts.push([info.attempt, info.delayMs]),
  }).catch((e) => e);
  assert.ok(error instanceof CommandFailedError);
  assert.equal(error.attempts, 2);
  assert.deepEqual(attempts, [
    [1, 10],
    [2, null],
  ]);
});

test('aborting while waiting to retry rejects with CancelledError', async (t) => {
  const { client } = await workspace(t);
  const controller = new AbortController();
  const error = await client
    .runWithRetry(['false'], {
      retries: 3,
      backoffMs: 60_000,
      signal: controller.signal,
      onAttempt: () => controller.abort(),
    })
    .catch((e) => e);
  assert.ok(error instanceof CancelledError, error.name);
  assert.match(error.message, /waiting to retry/);
});
