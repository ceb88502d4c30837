import * as fs from 'fs';
import { InferenceSession } from 'onnxruntime-node';
import { loadOptimized } from '../../src';
import { digestFile, digestProblem } from '../../src/workspace/file-digest';
import { Workspace } from '../../src/workspace/workspace';
import { cachedModule } from '../helpers/workspace';
import { mlpModel } from '../helpers/models';

// Issue 11, findings 3 and 7: the files a status points to are the ones optimize wrote, and a cache
// hit is reported only when the selected file is there and intact.
const cache = cachedModule('intact');
let pristine: string;
let selectedFile: string;
let selectedBytes: Buffer;

beforeAll(async () => {
  await cache.optimize();
  selectedFile = cache.selectFileCandidate();
  pristine = fs.readFileSync(cache.statusFile, 'utf8');
  selectedBytes = fs.readFileSync(selectedFile);
});

function restore(): void {
  fs.writeFileSync(cache.statusFile, pristine);
  fs.writeFileSync(selectedFile, selectedBytes);
}

describe('a status read back', () => {
  afterEach(restore);

  it('records sha256 and size of every file of its run folder', () => {
    const status = cache.readStatus();
    const selected = status.candidates.find((c) => c.key === status.selected.key)!;
    expect(status.files[selected.file!]).toEqual(digestFile(selectedFile));
    expect(Object.keys(status.files).every((f) => f.startsWith(`${status.runDir}/`))).toBe(true);
  });

  it('refuses a selected model replaced by another valid model, naming the file', async () => {
    fs.writeFileSync(selectedFile, mlpModel({ seed: 99 }));
    const result = await loadOptimized(cache.run, { workspace: cache.workspace });
    expect(cache.module.binding.isSource).toBe(true);
    expect(result.modules.intact).toContain(`${selectedFile} has ${fs.statSync(selectedFile).size} bytes, ${selectedBytes.length} were recorded`);
  });

  it('refuses a selected model of the same size with other weights (sha256)', async () => {
    const tampered = Buffer.from(selectedBytes);
    tampered[Math.floor(tampered.length / 2)] ^= 1;
    fs.writeFileSync(selectedFile, tampered);
    await (await InferenceSession.create(selectedFile)).release(); // still a valid model
    const result = await loadOptimized(cache.run, { workspace: cache.workspace });
    expect(cache.module.binding.isSource).toBe(true);
    expect(result.modules.intact).toContain(`${selectedFile} has a different sha256 than was recorded`);
  });

  it('notices a rewrite whose mtime was set back, though it hashes a file once per process', () => {
    const digest = digestFile(selectedFile);
    expect(digestProblem(selectedFile, digest)).toBeUndefined();
    expect(digestProblem(selectedFile, digest)).toBeUndefined();
    const { atime, mtime } = fs.statSync(selectedFile);
    const tampered = Buffer.from(selectedBytes);
    tampered[10] ^= 1;
    fs.writeFileSync(selectedFile, tampered);
    fs.utimesSync(selectedFile, atime, mtime);
    expect(digestProblem(selectedFile, digest)).toMatch(/different sha256/);
  });
});

describe('optimize over a cache whose selection is not intact', () => {
  afterEach(() => expect(new Workspace(cache.workspace).readCache('intact')).toHaveProperty('status'));

  it.each([
    ['deleted', (file: string) => fs.rmSync(file)],
    ['truncated', (file: string) => fs.truncateSync(file, 100)],
    ['not a known candidate', () => cache.writeStatus({ ...cache.readStatus(), selected: { ...cache.readStatus().selected, key: 'nope/Nope/none' } })],
  ])('re-optimizes (cached: false) when the selected file is %s', async (_what, damage) => {
    damage(cache.selectFileCandidate());
    const result = await cache.optimize();
    expect(result.modules.intact.cached).toBe(false);
  });

  it('reports cached: true when it is intact', async () => {
    cache.selectFileCandidate();
    const result = await cache.optimize();
    expect(result.modules.intact.cached).toBe(true);
  });
});
