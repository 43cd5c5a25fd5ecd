// Splitting a byte stream into lines, and lines into envelope events.
import { StringDecoder } from 'node:string_decoder';

/**
 * Turns chunks of a byte (or string) stream into complete lines.
 *
 * A line may arrive in several chunks, and a multi-byte UTF-8 character may be cut between
 * two chunks: `push()` returns only the lines that are complete so far and keeps the rest;
 * `flush()` returns the last, unterminated line at the end of the stream. A trailing `\r` is
 * dropped (`\r\n` line ends); empty lines are skipped.
 */
export class LineSplitter {
  #decoder = new StringDecoder('utf8');
  #pending = '';

  /** @param {Buffer | Uint8Array | string} chunk */
  push(chunk) {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    if (text === '') return [];
    const parts = (this.#pending + text).split('\n');
    this.#pending = parts.pop() ?? '';
    return clean(parts);
  }

  /** The rest of the stream, as a line (if anything is left). */
  flush() {
    const rest = this.#pending + this.#decoder.end();
    this.#pending = '';
    return clean([rest]);
  }

  /** Characters received but not yet returned as a line. */
  get pending() {
    return this.#pending;
  }
}

function clean(lines) {
  const out = [];
  for (const line of lines) {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() !== '') out.push(text);
  }
  return out;
}

/** The envelope version this SDK reads. */
export const ENVELOPE_VERSION = 1;

/**
 * Parse one stdout line of `codex-orchestrator exec --jsonl` into an envelope.
 *
 * Returns `{ event }` for a valid envelope, or `{ error }` (a one-line reason) for anything
 * else: text that is not JSON, JSON that is not an envelope, an unknown envelope version.
 * It never throws.
 *
 * @param {string} line
 */
export function parseEnvelope(line) {
  let value;
  try {
    value = JSON.parse(line);
  } catch (err) {
    return { error: `not JSON (${err.message})` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { error: 'not a JSON object' };
  }
  if (value.v !== ENVELOPE_VERSION) {
    return { error: `envelope version ${JSON.stringify(value.v)} is not ${ENVELOPE_VERSION}` };
  }
  const problems = [];
  if (typeof value.type !== 'string' || !value.type.includes(':')) problems.push('type');
  if (typeof value.timestamp !== 'string') problems.push('timestamp');
  if (!Number.isInteger(value.seq)) problems.push('seq');
  if (typeof value.runId !== 'string') problems.push('runId');
  if (value.payload === null || typeof value.payload !== 'object' || Array.isArray(value.payload)) {
    problems.push('payload');
  }
  if (problems.length > 0) {
    return { error: `not an event envelope (bad or missing: ${problems.join(', ')})` };
  }
  return { event: value };
}
