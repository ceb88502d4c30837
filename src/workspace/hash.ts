import * as crypto from 'crypto';
import * as fs from 'fs';

/** sha256 of a model given as a path (read in chunks, so large files are not held in memory) or bytes. */
export function hashModel(model: string | Uint8Array): string {
  const hash = crypto.createHash('sha256');
  if (typeof model !== 'string') return hash.update(model).digest('hex');
  const fd = fs.openSync(model, 'r');
  try {
    const chunk = Buffer.allocUnsafe(1 << 22);
    for (let read = fs.readSync(fd, chunk); read > 0; read = fs.readSync(fd, chunk)) hash.update(chunk.subarray(0, read));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** sha256 of a config; functions count by their source text, so editing a verifyFunc re-optimizes. */
export function hashConfig(config: object): string {
  return crypto.createHash('sha256').update(stableJson(config)).digest('hex');
}

/** JSON with sorted keys and functions as their source, for hashing and for status files. */
function stableJson(value: unknown): string {
  return JSON.stringify(toPlain(value));
}

export function toPlain(value: unknown): unknown {
  if (typeof value === 'function') return `function: ${value.toString().slice(0, 500)}`;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .map((key) => [key, toPlain((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
