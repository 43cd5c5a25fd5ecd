// The CLI is never found in the workspace: a `codex-orchestrator` a command planted in the
// repository's .venv/bin (first on PATH) would run outside the sandbox.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { trustedOnPath } from '../src/client.js';
import { resolveBin } from '../src/index.js';

function fakeCli(dir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'codex-orchestrator');
  writeFileSync(file, '#!/bin/sh\nexit 0\n');
  chmodSync(file, 0o755);
  return file;
}

test('a codex-orchestrator inside the working directory or on a relative PATH entry is skipped', () => {
  const base = mkdtempSync(join(tmpdir(), 'codex-node-bin-'));
  const repo = join(base, 'repo');
  fakeCli(join(repo, '.venv', 'bin'));
  fakeCli(join(repo, 'bin'));
  const installed = fakeCli(join(base, 'tools', 'bin'));
  const PATH = [join(repo, '.venv', 'bin'), 'bin', '', installed.replace(/\/codex-orchestrator$/, '')].join(':');
  // (resolveBin takes CODEX_ORCHESTRATOR_BIN first; the PATH lookup is what it falls back to)
  assert.equal(trustedOnPath('codex-orchestrator', { cwd: repo, env: { PATH } }), installed);
  // Nothing outside the workspace: the bare name (spawn then reports it missing).
  assert.equal(
    trustedOnPath('codex-orchestrator', { cwd: repo, env: { PATH: join(repo, '.venv', 'bin') } }),
    'codex-orchestrator',
  );
  // An explicit bin is the caller's choice.
  assert.deepEqual(resolveBin({ bin: '/opt/x/codex-orchestrator', env: { PATH } }), [
    '/opt/x/codex-orchestrator',
  ]);
});
