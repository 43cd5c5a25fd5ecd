// The line splitter and the envelope parser, without a CLI.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LineSplitter, parseEnvelope } from '../src/index.js';

const envelope = (over = {}) =>
  JSON.stringify({
    v: 1,
    type: 'exec:chunk',
    timestamp: '2026-11-24T02:31:19.779Z',
    seq: 1,
    runId: '2026-11-24T02-31-19-775Z-7d8c207f',
    payload: { data: 'x' },
    ...over,
  });

test('a line split across chunks comes out once, whole', () => {
  const splitter = new LineSplitter();
  const line = envelope();
  assert.deepEqual(splitter.push(Buffer.from(line.slice(0, 10))), []);
  assert.deepEqual(splitter.push(Buffer.from(line.slice(10, 40))), []);
  assert.equal(splitter.pending, line.slice(0, 40));
  assert.deepEqual(splitter.push(Buffer.from(`${line.slice(40)}\n{"v"`)), [line]);
  assert.deepEqual(splitter.push(Buffer.from(':1}\n')), ['{"v":1}']);
  assert.deepEqual(splitter.flush(), []);
});

test('several lines in one chunk, CRLF endings and blank lines', () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push('a\r\n\nb\n  \nc'), ['a', 'b']);
  assert.deepEqual(splitter.flush(), ['c']);
});

test('a multi-byte UTF-8 character cut between chunks is kept intact', () => {
  const splitter = new LineSplitter();
  const bytes = Buffer.from('é€😀\n', 'utf8');
  const out = [];
  for (const byte of bytes) out.push(...splitter.push(Buffer.from([byte])));
  assert.deepEqual(out, ['é€😀']);
});

test('the last line without a newline is returned by flush', () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push('{"partial": '), []);
  assert.deepEqual(splitter.flush(), ['{"partial": ']);
  assert.deepEqual(splitter.flush(), []);
});

test('parseEnvelope accepts an envelope and explains everything else without throwing', () => {
  assert.equal(parseEnvelope(envelope()).event.type, 'exec:chunk');
  assert.match(parseEnvelope('Traceback (most recent call last):').error, /^not JSON/);
  assert.match(parseEnvelope('[1, 2]').error, /not a JSON object/);
  assert.match(parseEnvelope(envelope({ v: 2 })).error, /version 2/);
  assert.match(parseEnvelope(envelope({ seq: 'one', payload: null })).error, /seq, payload/);
});
