// Every ```js example in docs/node-sdk.md runs, against the package installed the documented way.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { BIN, cleanEnv, workspace } from './helpers.js';

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DOC = resolve(PACKAGE, '..', '..', 'docs', 'node-sdk.md');

function blocks(language) {
  const text = readFileSync(DOC, 'utf8');
  return [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

function hasNpm() {
  return spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
}

async function installed(t) {
  const { dir } = await workspace(t, { task: 'node-demo' });
  assert.ok(blocks('sh').some((b) => b.includes('npm install ./sdk/node')));
  if (hasNpm()) {
    // `npm install ./sdk/node`, with the folder's absolute path (the project is a temp dir).
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', PACKAGE], { cwd: dir, stdio: 'pipe' });
  } else {
    mkdirSync(join(dir, 'node_modules', '@pytest-codex'), { recursive: true });
    symlinkSync(PACKAGE, join(dir, 'node_modules', '@pytest-codex', 'orchestrator'));
  }
  return dir;
}

test('the yaml example is the config the examples run with', () => {
  assert.deepEqual(blocks('yaml'), ['# codex.orchestrator.yaml\ntask: node-demo\n']);
});

test('every js example in docs/node-sdk.md runs and exits 0', async (t) => {
  const dir = await installed(t);
  const examples = blocks('js');
  assert.ok(examples.length >= 6, `only ${examples.length} examples`);
  for (const [index, code] of examples.entries()) {
    const file = join(dir, `example-${index + 1}.mjs`);
    writeFileSync(file, code);
    const ran = spawnSync(process.execPath, [file], {
      cwd: dir,
      env: cleanEnv({ CODEX_ORCHESTRATOR_BIN: BIN }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(ran.status, 0, `example ${index + 1} failed:\n${code}\n${ran.stdout}\n${ran.stderr}`);
  }
});
