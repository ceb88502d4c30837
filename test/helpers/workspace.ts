import * as fs from 'fs';
import * as path from 'path';
import { navModule, OnnxModule, optimize } from '../../src';
import type { StoredStatus } from '../../src/workspace/workspace';
import { mlpModel, quiet, rows, tempDir, writeModel } from './models';

/**
 * One module optimized into a fresh workspace, with the helpers the cache tests share: read and edit
 * its status.json as an attacker or a crash would, and find which candidates have files.
 */
export function cachedModule(name: string, seed = 5) {
  const dir = tempDir();
  const modelPath = writeModel(dir, `${name}.onnx`, mlpModel({ seed }));
  const module = navModule(new OnnxModule(modelPath), { name });
  const workspace = path.join(dir, 'ws');
  const moduleDir = path.join(workspace, name);
  const statusFile = path.join(moduleDir, 'status.json');
  const config = { workspace, ...quiet, targetFormats: ['onnx', 'onnx-optimized'] };
  const run = async (batch: number) => module.run({ x: rows(batch, 16) });
  const data: [number, number][] = [[1, 1], [2, 2]];
  const readStatus = (): StoredStatus => JSON.parse(fs.readFileSync(statusFile, 'utf8'));
  const writeStatus = (status: unknown): void => fs.writeFileSync(statusFile, JSON.stringify(status));
  return {
    dir,
    modelPath,
    module,
    workspace,
    moduleDir,
    statusFile,
    config,
    run,
    data,
    readStatus,
    writeStatus,
    optimize: (extra: object = {}) => optimize(run, data, { ...config, ...extra }),
    /** Edits status.json so that it selects a candidate with a file of its own; returns that file, absolute. */
    selectFileCandidate(): string {
      const status = readStatus();
      const candidate = status.candidates.find((c) => c.file && c.status === 'passed')!;
      status.selected.key = candidate.key;
      writeStatus(status);
      return path.join(moduleDir, candidate.file!);
    },
    runDirs: () => fs.readdirSync(moduleDir).filter((f) => f.startsWith('run-')),
  };
}
