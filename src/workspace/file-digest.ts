import * as fs from 'fs';
import { hashModel } from './hash';

/** What the status records of each file it points to. */
export interface FileDigest {
  sha256: string;
  size: number;
}

export function digestFile(file: string): FileDigest {
  return { sha256: hashModel(file), size: fs.statSync(file).size };
}

/**
 * Files found intact in this process, keyed by identity (device, inode, size, mtime, ctime): a file is
 * hashed once per process, and a file replaced or rewritten since gets a new key and is hashed again
 * (ctime cannot be set back, so restoring the mtime after a rewrite does not hide it).
 */
const intact = new Map<string, string>();

function identity(stat: fs.Stats, file: string): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${file}`;
}

/** Records a digest just computed, so loading the file right after a commit does not hash it again. */
export function rememberIntact(file: string, digest: FileDigest): void {
  const stat = fs.statSync(file);
  if (stat.size === digest.size) intact.set(identity(stat, file), digest.sha256);
}

/** Why `file` does not match `expected` (the size is compared first, then the hash); undefined when it does. */
export function digestProblem(file: string, expected: FileDigest): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return 'is missing';
  }
  if (!stat.isFile()) return 'is not a regular file';
  if (stat.size !== expected.size) return `has ${stat.size} bytes, ${expected.size} were recorded: it changed since it was optimized`;
  const key = identity(stat, file);
  const sha256 = intact.get(key) ?? hashModel(file);
  if (sha256 !== expected.sha256) return 'has a different sha256 than was recorded: it changed since it was optimized';
  intact.set(key, sha256);
  return undefined;
}
