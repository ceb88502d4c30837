import * as fs from 'fs';
import * as path from 'path';
import { loadOptimized, navModule, NavigatorError, OnnxModule } from '../../src';
import { trustedFile, Workspace } from '../../src/workspace/workspace';
import { cachedModule } from '../helpers/workspace';
import { mlpModel, writeModel } from '../helpers/models';

// Issue 11, findings 1 and 2: paths from status.json and module names stay inside the workspace.
const cache = cachedModule('confined');
const outside = writeModel(cache.dir, 'evil.onnx', mlpModel({ seed: 99 }));

beforeAll(async () => {
  await cache.optimize();
});

/** Loads the cache and returns what the module is bound to, in words, and whether it runs its source. */
async function load(): Promise<{ said: string; isSource: boolean }> {
  const result = await loadOptimized(cache.run, { workspace: cache.workspace });
  return { said: result.modules.confined, isSource: cache.module.binding.isSource };
}

describe('paths read from status.json', () => {
  let pristine: string;
  beforeAll(() => {
    cache.selectFileCandidate();
    pristine = fs.readFileSync(cache.statusFile, 'utf8');
  });
  afterEach(() => fs.writeFileSync(cache.statusFile, pristine));

  it('load the selected file when nothing was changed', async () => {
    const { said, isSource } = await load();
    expect(said).toMatch(/^bound to onnx-optimized/);
    expect(isSource).toBe(false);
  });

  it.each([
    ['a path out of the workspace', '../../evil.onnx'],
    ['a path out through the run folder', 'RUN/../../../evil.onnx'],
    ['an absolute path', 'ABS'],
    ['/etc/passwd', 'RUN/../../../../../../../../etc/passwd'],
  ])('refuse %s', async (_what, file) => {
    const status = cache.readStatus();
    const selected = status.candidates.find((c) => c.key === status.selected.key)!;
    selected.file = file.replace('RUN', status.runDir).replace('ABS', outside);
    cache.writeStatus(status);
    const { said, isSource } = await load();
    expect(isSource).toBe(true);
    expect(said).toContain('kept the original');
    expect(said).toMatch(/relative path|'\.\.'/);
  });

  it('refuse a run folder outside the module folder', async () => {
    cache.writeStatus({ ...cache.readStatus(), runDir: '../..' });
    const { said, isSource } = await load();
    expect(isSource).toBe(true);
    expect(said).toContain('runDir');
  });

  it('refuse a selected file that is a symlink leading out of the module folder', async () => {
    const status = cache.readStatus();
    const file = path.join(cache.moduleDir, status.candidates.find((c) => c.key === status.selected.key)!.file!);
    const saved = `${file}.saved`;
    fs.renameSync(file, saved);
    fs.symlinkSync(outside, file);
    try {
      const { said, isSource } = await load();
      expect(isSource).toBe(true);
      expect(said).toContain(`resolves to ${fs.realpathSync(outside)}, outside the module's folder`);
    } finally {
      fs.rmSync(file);
      fs.renameSync(saved, file);
    }
  });
});

describe('files recorded beside the selected one (external data)', () => {
  it('are confined too: a symlink out is refused before it is hashed', async () => {
    const status = cache.readStatus();
    const selected = status.candidates.find((c) => c.key === status.selected.key)!;
    const sibling = `${path.posix.dirname(selected.file!)}/weights.data`;
    fs.symlinkSync(outside, path.join(cache.moduleDir, sibling));
    cache.writeStatus({ ...status, files: { ...status.files, [sibling]: { sha256: '0'.repeat(64), size: 1 } } });
    try {
      const { said, isSource } = await load();
      expect(isSource).toBe(true);
      expect(said).toContain(`${sibling} resolves to ${fs.realpathSync(outside)}, outside the module's folder`);
    } finally {
      fs.rmSync(path.join(cache.moduleDir, sibling));
      cache.writeStatus(status);
    }
  });
});

describe('module names', () => {
  it.each(['..', '.', '.hidden', 'a/b', 'a\\b', '', 'x'.repeat(101)])('refuse %j where declared', (name) => {
    expect(() => navModule(new OnnxModule(cache.modelPath), { name })).toThrow(NavigatorError);
  });

  it.each(['..', '.', 'a/../..'])('refuse %j where the workspace reads them', (name) => {
    const workspace = new Workspace(cache.workspace);
    expect(() => workspace.moduleDir(name)).toThrow(/module name .* is not allowed/);
    expect(() => workspace.readCache(name)).toThrow(NavigatorError);
    expect(() => workspace.createRunDir(name)).toThrow(NavigatorError);
  });

  it('accept ordinary names with inner dots', () => {
    expect(new Workspace(cache.workspace).moduleDir('text_encoder.v2')).toBe(path.join(cache.workspace, 'text_encoder.v2'));
  });
});

describe('trustedFile (what the binding resolves candidate files through)', () => {
  it('refuses a path out of the module folder in a status of this run too, naming the module', () => {
    const status = cache.readStatus();
    const { files: _files, ...fresh } = status; // a status not yet committed has no digests
    expect(() => trustedFile(cache.moduleDir, fresh, `${status.runDir}/../../evil.onnx`)).toThrow(/module "confined".*refused a file of the cached status/s);
  });
});
