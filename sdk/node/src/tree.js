// The process tree under the CLI, so cancel and timeout can end all of it.
//
// Signalling the CLI's process group is not enough: the CLI runs each command in a session of
// its own (so its own timeouts can kill it), and a persistent `--session` server lives in yet
// another. The tracker therefore follows the tree by parent pid while the CLI lives, remembers
// the process groups and sessions of its members, and can signal every process that still
// belongs to any of them after the CLI has gone (orphans are re-parented, but keep their
// session). Linux reads /proc; elsewhere `ps` gives pid, parent and group.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const HAS_PROC = (() => {
  try {
    readFileSync('/proc/self/stat', 'utf8');
    return true;
  } catch {
    return false;
  }
})();

function parseStat(text) {
  // pid (comm) state ppid pgrp session ... starttime(22nd field); comm may hold spaces and ')'.
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text, 10);
  const rest = text.slice(close + 2).split(' ');
  return {
    pid,
    state: rest[0],
    ppid: Number(rest[1]),
    pgid: Number(rest[2]),
    sid: Number(rest[3]),
    start: rest[19],
  };
}

/** One process's facts, or null when it is gone. */
export function processInfo(pid) {
  if (HAS_PROC) {
    try {
      return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return null;
    }
  }
  return processTable().get(pid) ?? null;
}

/** Whether `pid` is a live process (a zombie waiting to be reaped is not). */
export function isAlive(pid) {
  if (HAS_PROC) {
    const info = processInfo(pid);
    return info !== null && info.state !== 'Z';
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Every process: pid -> {pid, ppid, pgid, sid, start, state} (sid and start: Linux only). */
export function processTable() {
  const table = new Map();
  if (HAS_PROC) {
    for (const name of readdirSync('/proc')) {
      if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
      try {
        const info = parseStat(readFileSync(`/proc/${name}/stat`, 'utf8'));
        table.set(info.pid, info);
      } catch {
        // gone meanwhile
      }
    }
    return table;
  }
  let out = '';
  try {
    out = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
  } catch {
    return table;
  }
  for (const row of out.split('\n')) {
    const [pid, ppid, pgid, stat] = row.trim().split(/\s+/);
    if (!pid) continue;
    const info = { pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), sid: null, start: null, state: (stat ?? '')[0] };
    table.set(info.pid, info);
  }
  return table;
}

const SELF = processInfo(process.pid);

/** The pids whose command line has `arg` as one of its arguments (Linux; else none). */
export function pidsWithArgument(arg) {
  const found = [];
  if (!HAS_PROC) return found;
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').includes(arg)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Follows the processes under `rootPid`; `signalAll` reaches the ones still alive. */
export class TreeTracker {
  #root;
  /** pid -> start time at discovery (guards against pid reuse). */
  #members = new Map();
  #groups = new Set();
  #sessions = new Set();

  constructor(rootPid) {
    this.#root = rootPid;
  }

  /** Follow another process and everything under it (e.g. a session server the CLI uses). */
  adopt(pid) {
    const info = processInfo(pid);
    if (info !== null && info.pid !== process.pid) this.#add(info);
  }

  /** Look for new descendants (call while the root still lives); returns the member count. */
  scan() {
    const table = processTable();
    const children = new Map();
    for (const info of table.values()) {
      if (!children.has(info.ppid)) children.set(info.ppid, []);
      children.get(info.ppid).push(info);
    }
    const queue = [this.#root, ...this.#members.keys()];
    const seen = new Set();
    while (queue.length > 0) {
      const pid = queue.shift();
      if (seen.has(pid)) continue;
      seen.add(pid);
      for (const child of children.get(pid) ?? []) {
        this.#add(child);
        queue.push(child.pid);
      }
    }
    // Orphans that escaped the tree before we looked, but kept a member's session.
    for (const info of table.values()) {
      if (info.sid !== null && this.#sessions.has(info.sid)) this.#add(info);
    }
    return this.#members.size;
  }

  #add(info) {
    if (info.pid === process.pid || info.pid === this.#root) return;
    if (!this.#members.has(info.pid)) this.#members.set(info.pid, info.start);
    if (SELF === null || info.pgid !== SELF.pgid) this.#groups.add(info.pgid);
    if (info.sid !== null && (SELF === null || info.sid !== SELF.sid)) this.#sessions.add(info.sid);
  }

  /** The members (and processes of their sessions) that are still alive. */
  alive() {
    const table = processTable();
    const live = [];
    for (const info of table.values()) {
      if (info.state === 'Z' || info.pid === process.pid) continue;
      const start = this.#members.get(info.pid);
      const member = start !== undefined && (start === null || start === info.start);
      const inSession = info.sid !== null && this.#sessions.has(info.sid);
      if (member || inSession) live.push(info.pid);
    }
    return live;
  }

  /** Send `signal` to the root's group, every live member and their process groups. */
  signalAll(signal) {
    trySignal(-this.#root, signal);
    for (const pgid of this.#groups) trySignal(-pgid, signal);
    for (const pid of this.alive()) trySignal(pid, signal);
  }
}

/** `process.kill`, ignoring a target that is already gone. */
export function trySignal(target, signal) {
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false;
  }
}
