// Shared by the tests: the real CLI from the repository's .venv, and throw-away workspaces.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CodexOrchestrator } from '../src/index.js';
import { isAlive } from '../src/tree.js';

const here = dirname(fileURLToPath(import.meta.url));

/** `CODEX_ORCHESTRATOR_BIN` (the Makefile sets it), else the repository's .venv. */
export const BIN =
  process.env.CODEX_ORCHESTRATOR_BIN || resolve(here, '..', '..', '..', '.venv', 'bin', 'codex-orchestrator');

if (!existsSync(BIN)) {
  throw new Error(`${BIN} not found: run 'make install' or set CODEX_ORCHESTRATOR_BIN`);
}

/** This process's environment without the orchestrator's own variables. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('MCP_') && !key.startsWith('CODEX_') && !key.startsWith('OTEL_')) env[key] = value;
  }
  return { ...env, CODEX_ORCHESTRATOR_VALIDATE: '1', ...extra };
}

/**
 * A temp directory with a `codex.orchestrator.yaml` naming the task, as a user would have,
 * and a client for it. `t.after` removes it.
 */
export async function workspace(t, { task = 'node-sdk-task', ...options } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'codex-node-sdk-'));
  await writeFile(join(dir, 'codex.orchestrator.yaml'), `task: ${task}\n`);
  t.after(() => rm(dir, { recursive: true, force: true }));
  const client = new CodexOrchestrator({ bin: BIN, cwd: dir, env: cleanEnv(), pipe: true, ...options });
  return { dir, client };
}

/** The first `exec:chunk` whose text matches `pattern`, as the match. */
export function waitForOutput(run, pattern) {
  return new Promise((resolveMatch, reject) => {
    let text = '';
    const onChunk = (event) => {
      text += event.payload.data;
      const match = pattern.exec(text);
      if (match) {
        run.off('exec:chunk', onChunk);
        resolveMatch(match);
      }
    };
    run.on('exec:chunk', onChunk);
    run.result().then(
      () => reject(new Error(`the run ended without printing ${pattern}: ${text}`)),
      (err) => reject(new Error(`the run ended without printing ${pattern}: ${text}`, { cause: err })),
    );
  });
}

export { isAlive };
