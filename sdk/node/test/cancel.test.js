// cancel, AbortSignal and timeoutMs end the whole command tree, against the real CLI.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

import { CancelledError, OrchestratorTimeoutError, start } from '../src/index.js';
import { pidsWithArgument, trySignal } from '../src/tree.js';
import { BIN, cleanEnv, isAlive, waitForOutput, workspace } from './helpers.js';

// This file's own sleep: the grandchildren are found by it, on the host. (The pid a command
// prints inside the sandbox is a pid of the sandbox's own PID namespace, not the host's.)
const NAP = `${300 + (process.pid % 1000)}.${process.pid % 97}`;
// A command whose child starts a grandchild and waits for it: the grandchild's pid is printed.
const TREE = ['sh', '-c', `sleep ${NAP} & echo grandchild=$!; wait`];

function sleepers() {
  const wanted = `sleep\0${NAP}\0`;
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1') === wanted && isAlive(Number(entry))) {
        found.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function grandchildGone(t, pid) {
  const survivors = sleepers();
  // Leave nothing behind even when the assertion fails.
  for (const survivor of survivors) process.kill(survivor, 'SIGKILL');
  assert.deepEqual(survivors, [], `grandchild ${pid} survived`);
}

for (const pipe of [true, false]) {
  const mode = pipe ? 'pipe' : 'pty';
  test(`run.cancel() kills the grandchild and rejects with CancelledError (${mode})`, async (t) => {
    const { client } = await workspace(t, { pipe });
    const run = client.start(TREE);
    const pid = Number((await waitForOutput(run, /grandchild=(\d+)/))[1]);
    assert.equal(isAlive(pid), true);
    run.cancel('enough');
    const error = await run.result().catch((e) => e);
    assert.ok(error instanceof CancelledError, error.name);
    assert.equal(error.code, 'ABORT_ERR');
    assert.equal(error.cause, 'enough');
    assert.equal(error.message, 'cancelled: enough');
    grandchildGone(t, pid);
    // The CLI unwound: the run is recorded as cancelled, with its summary.
    assert.equal(error.exitCode, 143);
    assert.equal(error.summary?.status, 'cancelled');
    // Settled once: a later cancel changes nothing.
    run.cancel();
    assert.equal(await run.result().catch((e) => e), error);
  });
}

test('an AbortSignal cancels the run and its tree', async (t) => {
  const { client } = await workspace(t);
  const controller = new AbortController();
  const run = client.start(TREE, { signal: controller.signal });
  const pid = Number((await waitForOutput(run, /grandchild=(\d+)/))[1]);
  controller.abort();
  const error = await run.result().catch((e) => e);
  assert.ok(error instanceof CancelledError, error.name);
  assert.equal(error.cause.name, 'AbortError');
  grandchildGone(t, pid);
});

test('an already aborted signal never starts the CLI', async (t) => {
  const { client } = await workspace(t);
  const run = client.start(['true'], { signal: AbortSignal.abort('not today') });
  const error = await run.result().catch((e) => e);
  assert.ok(error instanceof CancelledError);
  assert.equal(run.pid, undefined);
  assert.equal(error.exitCode, null);
  const events = [];
  for await (const event of run.events()) events.push(event);
  assert.deepEqual(events, []);
});

test('timeoutMs kills the tree and rejects with OrchestratorTimeoutError from the sdk', async (t) => {
  const { client } = await workspace(t);
  const run = client.start(TREE, { timeoutMs: 6000 });
  const pid = Number((await waitForOutput(run, /grandchild=(\d+)/))[1]);
  const error = await run.result().catch((e) => e);
  assert.ok(error instanceof OrchestratorTimeoutError, error.name);
  assert.equal(error.source, 'sdk');
  assert.equal(error.timeoutMs, 6000);
  grandchildGone(t, pid);
  assert.equal(error.summary?.status, 'cancelled');
});

test('a CLI that ignores SIGTERM is killed after the grace period, its escaped descendants too', async (t) => {
  // A stand-in for a stuck CLI: it ignores SIGTERM and its child left for a session of its own.
  const { dir } = await workspace(t);
  const bin = ['sh', '-c', `trap "" TERM; setsid sleep ${NAP} & echo "$!"; wait`];
  const run = start(['unused'], { bin, cwd: dir, killGraceMs: 300 });
  const line = await new Promise((resolve) => run.once('invalid-line', resolve));
  const pid = Number(line.line);
  assert.equal(isAlive(pid), true);
  run.cancel();
  const error = await run.result().catch((e) => e);
  assert.ok(error instanceof CancelledError, error.name);
  assert.equal(error.signal, 'SIGKILL');
  assert.equal(error.summary, null);
  grandchildGone(t, pid);
});

test('a program that exits while a run is live takes the command tree with it', async (t) => {
  const { dir } = await workspace(t);
  const entry = new URL('../src/index.js', import.meta.url).href;
  const program = [
    `import { start } from ${JSON.stringify(entry)};`,
    `const run = start(${JSON.stringify(TREE)}, { bin: process.env.BIN, cwd: process.cwd(), pipe: true });`,
    "run.on('exec:chunk', (ev) => { process.stdout.write(ev.payload.data); process.exit(0); });",
  ].join('\n');
  const { spawnSync } = await import('node:child_process');
  const ran = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
    cwd: dir,
    env: cleanEnv({ BIN }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  const pid = Number(/grandchild=(\d+)/.exec(ran.stdout)?.[1]);
  assert.ok(pid > 0, ran.stdout + ran.stderr);
  // The orphaned CLI got SIGTERM as the program exited; it ends the tree on its own time.
  for (let i = 0; i < 400 && isAlive(pid); i += 1) await new Promise((r) => setTimeout(r, 50));
  grandchildGone(t, pid);
});

test('cancelling a --session command ends the session server an earlier exec started', async (t) => {
  const { client } = await workspace(t, { pipe: false, session: 'dev' });
  const first = await client.exec(['export', 'COLOUR=blue']);
  const again = await client.resume(first.runId, ['sh', '-c', 'echo colour=$COLOUR'], { reopen: true });
  assert.match(again.summary.outputs.pty.text, /colour=blue/);
  const run = client.startResume(first.runId, TREE, { reopen: true });
  const pid = Number((await waitForOutput(run, /grandchild=(\d+)/))[1]);
  run.cancel();
  const error = await run.result().catch((e) => e);
  assert.ok(error instanceof CancelledError, error.name);
  grandchildGone(t, pid);
  // The next invocation starts a fresh shell (and a server that the test ends).
  const fresh = await client.resume(first.runId, ['sh', '-c', 'echo colour=$COLOUR.'], { reopen: true });
  const { socket } = JSON.parse(readFileSync(join(dirname(fresh.manifestPath), 'sessions', 'dev.json'), 'utf8'));
  const servers = pidsWithArgument(socket);
  t.after(() => servers.forEach((server) => trySignal(server, 'SIGKILL')));
  assert.equal(servers.length, 1);
  assert.match(fresh.summary.outputs.pty.text, /colour=\./);
});
