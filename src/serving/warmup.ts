import * as fs from 'fs';
import * as path from 'path';
import { readSample } from '../capture/sample-store';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import type { ModuleStatus } from '../core/status';

/** The inputs of the calls optimize recorded for a module (its run folder's samples/), in file order. */
export function recordedInputs(status: ModuleStatus, moduleDir: string, limit = 1): Feeds[] {
  const dir = path.join(moduleDir, status.runDir, 'samples');
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  return files.slice(0, limit).map((file) => readSample(path.join(dir, file)).inputs);
}

/**
 * Runs a session once on each of these inputs before it takes traffic: onnxruntime allocates and
 * plans on the first call of a shape, which made the first request about twice as slow as the
 * next. A served session warms every one of its workers. Returns how many calls it made.
 */
export async function warmUp(session: RunnerSession & { warmUp?(feeds: Feeds): Promise<void> }, inputs: Feeds[]): Promise<number> {
  for (const feeds of inputs) {
    if (!session.accepts(feeds)) continue;
    await (session.warmUp ? session.warmUp(feeds) : session.run(feeds));
  }
  return inputs.length;
}
