import * as fs from 'fs';
import * as crypto from 'crypto';
import * as path from 'path';
import { isAlive } from './lock';

/**
 * Writes a file so that a reader (or a crash) sees either the old content or the new one, never a
 * half-written file: the data goes to a temporary file in the same directory, is flushed, and is
 * renamed over the target.
 */
export function writeFileAtomic(target: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temporary = `${target}.${process.pid}.${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}.tmp`;
  const fd = fs.openSync(temporary, 'w');
  try {
    const parts = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    for (const part of parts) fs.writeFileSync(fd, part);
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  fs.renameSync(temporary, target);
}

export function writeJsonAtomic(target: string, value: unknown): void {
  writeFileAtomic(target, `${JSON.stringify(value, null, 2)}\n`);
}

/** `<target>.<pid>.<id>.tmp`, as writeFileAtomic names its temporary files. */
const TEMPORARY = /\.(\d+)\.[0-9a-z]+\.tmp$/;

/**
 * Removes the temporary files that killed writers left in `dir`: those of processes that are gone,
 * and this process's own (its writes are synchronous, so none is in progress). Called under the
 * workspace lock, so no other optimize is writing there.
 */
export function removeStaleTemporaries(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return; // no folder yet: nothing left over
  }
  for (const entry of entries) {
    const pid = Number(TEMPORARY.exec(entry)?.[1]);
    if (pid && (pid === process.pid || !isAlive(pid))) fs.rmSync(path.join(dir, entry), { force: true });
  }
}
