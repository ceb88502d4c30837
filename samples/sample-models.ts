import * as fs from 'fs';
import * as path from 'path';

/**
 * The samples build their models (no model hub is reachable) and write them as files, as a user's
 * exported models would be. The bytes are deterministic, so a second run hits the cache.
 */
export function sampleModelPath(name: string, build: () => Uint8Array): string {
  const dir = path.resolve(process.env.NAV_SAMPLE_MODELS ?? '.nav-sample-models');
  const file = path.join(dir, `${name}.onnx`);
  const bytes = build();
  if (!fs.existsSync(file) || !fs.readFileSync(file).equals(Buffer.from(bytes))) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${file}.tmp`, bytes);
    fs.renameSync(`${file}.tmp`, file);
  }
  return file;
}
