import * as fs from 'fs';
import * as path from 'path';
import { navModule, OnnxModule, optimize } from '../../src';
import { writeFileAtomic } from '../../src/workspace/atomic';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();
const modelPath = writeModel(dir, 'cache.onnx', mlpModel({ seed: 5 }));
const cacheModule = navModule(new OnnxModule(modelPath), { name: 'cache_module' });
let fail = false;
const run = async (batch: number) => {
  if (fail) throw new Error('pipeline broke mid-run');
  return cacheModule.run({ x: rows(batch, 16) });
};
const workspace = path.join(dir, 'ws');
const config = { workspace, ...quiet, targetFormats: ['onnx', 'onnx-optimized'] };
const statusFile = path.join(workspace, 'cache_module', 'status.json');
const runDirs = () => fs.readdirSync(path.join(workspace, 'cache_module')).filter((f) => f.startsWith('run-'));

describe('the cache', () => {
  it('is reused for the same model, config and environment, and redone when forced', async () => {
    const first = await optimize(run, [[1, 1], [2, 2]], config);
    expect(first.modules.cache_module.cached).toBe(false);
    const second = await optimize(run, [[1, 1], [2, 2]], config);
    expect(second.modules.cache_module.cached).toBe(true);
    expect(second.modules.cache_module.createdAt).toBe(first.modules.cache_module.createdAt);
    const forced = await optimize(run, [[1, 1], [2, 2]], { ...config, force: true });
    expect(forced.modules.cache_module.cached).toBe(false);
    expect(runDirs()).toEqual([forced.modules.cache_module.runDir]);
  });

  it('is invalidated by a changed config', async () => {
    const changed = await optimize(run, [[1, 1], [2, 2]], { ...config, sampleCount: 3 });
    expect(changed.modules.cache_module.cached).toBe(false);
  });

  it('is invalidated by a changed model', async () => {
    const oldHash = JSON.parse(fs.readFileSync(statusFile, 'utf8')).modelHash;
    fs.writeFileSync(modelPath, mlpModel({ seed: 6 }));
    await cacheModule.release(); // the running process picks up the new file
    const status = await optimize(run, [[1, 1], [2, 2]], config);
    expect(status.modules.cache_module.cached).toBe(false);
    expect(status.modules.cache_module.modelHash).not.toBe(oldHash);
  });

  it('keeps the previous package whole when a run fails', async () => {
    const before = fs.readFileSync(statusFile, 'utf8');
    const dirsBefore = runDirs();
    fail = true;
    try {
      await expect(optimize(run, [[1, 1], [2, 2]], { ...config, force: true })).rejects.toThrow('pipeline broke mid-run');
    } finally {
      fail = false;
    }
    expect(fs.readFileSync(statusFile, 'utf8')).toBe(before);
    expect(runDirs()).toEqual(dirsBefore);
    const cached = await optimize(run, [[1, 1], [2, 2]], config);
    expect(cached.modules.cache_module.cached).toBe(true);
  });

  it('ignores a corrupt status file and optimizes again', async () => {
    fs.writeFileSync(statusFile, '{ "formatVersion": 1, "module": ');
    const status = await optimize(run, [[1, 1]], config);
    expect(status.modules.cache_module.cached).toBe(false);
    expect(JSON.parse(fs.readFileSync(statusFile, 'utf8')).module).toBe('cache_module');
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temporary files', () => {
    const file = path.join(dir, 'atomic', 'a.json');
    writeFileAtomic(file, 'old');
    writeFileAtomic(file, [Buffer.from('ne'), Buffer.from('w')]);
    expect(fs.readFileSync(file, 'utf8')).toBe('new');
    expect(fs.readdirSync(path.dirname(file))).toEqual(['a.json']);
  });

  it('leaves the old file when the new content cannot be written', () => {
    const file = path.join(dir, 'atomic', 'b.json');
    writeFileAtomic(file, 'old');
    const poisoned = { [Symbol.iterator]: function* () { yield Buffer.from('partial'); throw new Error('disk full'); } } as unknown as Uint8Array[];
    expect(() => writeFileAtomic(file, poisoned)).toThrow('disk full');
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['a.json', 'b.json']);
  });
});
