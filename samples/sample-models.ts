import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../src/workspace/atomic';

/**
 * The samples build their models (no model hub is reachable) and write them as files, as a user's
 * exported models would be. The bytes are deterministic, so a second run hits the cache.
 */
export function sampleModelPath(name: string, build: () => Uint8Array): string {
  const dir = path.resolve(process.env.NAV_SAMPLE_MODELS ?? '.nav-sample-models');
  const file = path.join(dir, `${name}.onnx`);
  const bytes = build();
  if (!fs.existsSync(file) || !fs.readFileSync(file).equals(Buffer.from(bytes))) writeFileAtomic(file, bytes);
  return file;
}
