import * as fs from 'fs';
import * as path from 'path';
import { loadOptimized, NavigatorError, optimize } from '../../src';
import { workspaceError } from '../../src/workspace/fs-errors';
import { Workspace } from '../../src/workspace/workspace';
import { cachedModule } from '../helpers/workspace';

// Issue 11, findings 6 and 11: a status of the wrong shape is "unreadable: re-optimize" with the
// reason, never a TypeError; file-system failures are NavigatorErrors with a fix.
const cache = cachedModule('reread');
let pristine: string;
const workspace = () => new Workspace(cache.workspace);

beforeAll(async () => {
  await cache.optimize();
  pristine = fs.readFileSync(cache.statusFile, 'utf8');
});

const edits: [string, (s: Record<string, unknown>) => unknown, RegExp][] = [
  ['candidates: null', (s) => ({ ...s, candidates: null }), /status\.candidates: candidates must be an array/],
  ['no selected', (s) => ({ ...s, selected: undefined }), /status\.selected/],
  ['no signature', (s) => ({ ...s, signature: undefined }), /status\.signature/],
  ['an older formatVersion', (s) => ({ ...s, formatVersion: 1 }), /formatVersion is 1, this version reads 2/],
  ['no file digests', (s) => ({ ...s, files: undefined }), /status\.files/],
  ['another module', (s) => ({ ...s, module: 'other' }), /status of module "other"/],
  ['a candidate that is not an object', (s) => ({ ...s, candidates: [42] }), /status\.candidates/],
  ['an array', () => [], /not a JSON object/],
  ['null', () => null, /not a JSON object/],
];

describe('a status.json of the wrong shape', () => {
  afterEach(() => fs.writeFileSync(cache.statusFile, pristine));

  it.each(edits)('with %s is unreadable, with the reason', async (_what, edit, reason) => {
    cache.writeStatus(edit(JSON.parse(pristine)));
    const read = workspace().readCache('reread');
    expect(read).toEqual({ unreadable: expect.stringMatching(reason) });
    const loaded = await loadOptimized(cache.run, { workspace: cache.workspace });
    expect(loaded.modules.reread).toMatch(reason);
    expect(cache.module.binding.isSource).toBe(true);
  });

  it('with any field of any other type is unreadable or usable, never a thrown error', () => {
    const status = JSON.parse(pristine);
    const objects = [status, status.selected, status.signature, status.candidates[0], status.candidates[0].variant];
    for (const object of objects) {
      for (const key of Object.keys(object)) {
        for (const value of [null, 42, 'x', [], {}, [null]]) {
          const saved = object[key];
          object[key] = value;
          cache.writeStatus(status);
          const read = workspace().readCache('reread');
          if ('unreadable' in read) expect(read.unreadable).not.toMatch(/could not be checked/);
          object[key] = saved;
        }
      }
    }
  });

  it('with an unknown runner selected names the runner and the file', () => {
    const status = JSON.parse(pristine);
    const selected = status.candidates.find((c: { key: string }) => c.key === status.selected.key);
    selected.runner = 'NoSuchRunner';
    cache.writeStatus(status);
    expect(workspace().readCache('reread')).toEqual({ unreadable: `${cache.statusFile}: its selected candidate runs on "NoSuchRunner", which is not a registered runner` });
  });

  it('truncated, is unreadable as invalid JSON, and optimize rebuilds it', async () => {
    fs.writeFileSync(cache.statusFile, pristine.slice(0, 50));
    expect(workspace().readCache('reread')).toEqual({ unreadable: expect.stringContaining('is not valid JSON') });
    const result = await cache.optimize();
    expect(result.modules.reread.cached).toBe(false);
    pristine = fs.readFileSync(cache.statusFile, 'utf8');
  });

  it('with candidates: null is optimized again by optimize, not a TypeError', async () => {
    cache.writeStatus({ ...JSON.parse(pristine), candidates: null });
    const result = await cache.optimize();
    expect(result.modules.reread.cached).toBe(false);
    pristine = fs.readFileSync(cache.statusFile, 'utf8');
  });

  it('absent, is told apart from unreadable', () => {
    expect(workspace().readCache('never_optimized')).toEqual({ unreadable: `no cached result in ${path.join(cache.workspace, 'never_optimized')}`, absent: true });
  });
});

describe('file-system failures', () => {
  it('status.json replaced by a folder: unreadable, and the commit fails with the fix', async () => {
    fs.rmSync(cache.statusFile);
    fs.mkdirSync(cache.statusFile);
    try {
      expect(workspace().readCache('reread')).toEqual({ unreadable: `${cache.statusFile} is not a regular file` });
      const error = await cache.optimize().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NavigatorError);
      expect((error as NavigatorError).message).toMatch(/module "reread".*cannot write the status of this run \(EISDIR\).*is a folder where a file belongs: remove it/s);
    } finally {
      fs.rmSync(cache.statusFile, { recursive: true });
    }
  });

  it('a full disk (ENOSPC from /dev/full) becomes a NavigatorError with the fix', () => {
    let raw: unknown;
    try {
      fs.writeFileSync('/dev/full', 'x');
    } catch (error) {
      raw = error;
    }
    expect((raw as NodeJS.ErrnoException).code).toBe('ENOSPC');
    const error = workspaceError(raw, 'write the status of this run', '/ws/m/status.json', 'm');
    expect(error).toBeInstanceOf(NavigatorError);
    expect(error.message).toMatch(/module "m".*\(ENOSPC\).*Fix: free disk space where \/ws\/m\/status.json lives/s);
  });

  it('a workspace under a file: createRunDir fails with the fix', () => {
    const file = path.join(cache.dir, 'a-file');
    fs.writeFileSync(file, '');
    expect(() => new Workspace(path.join(file, 'ws')).createRunDir('m')).toThrow(/ENOTDIR.*a file stands where a folder/s);
  });
});

describe('the workspace option', () => {
  it("rejects workspace: '' in the config", async () => {
    await expect(optimize(cache.run, cache.data, { ...cache.config, workspace: '' })).rejects.toThrow(/optimizeConfig\.workspace: workspace should not be empty/);
    expect(() => new Workspace('')).toThrow(NavigatorError);
  });

  it('loadOptimized without a workspace looks where this process optimized the module', async () => {
    await cache.optimize();
    const loaded = await loadOptimized(cache.run);
    expect(loaded.modules.reread).not.toContain('kept the original');
  });

  it("defaults to .nav-cache in the nearest folder up with a package.json, whatever the current folder", () => {
    const app = path.join(cache.dir, 'app');
    fs.mkdirSync(path.join(app, 'src', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(app, 'package.json'), '{}');
    const cwd = process.cwd();
    const env = process.env.NAV_CACHE_DIR;
    delete process.env.NAV_CACHE_DIR;
    try {
      process.chdir(path.join(app, 'src', 'deep'));
      expect(new Workspace().root).toBe(path.join(fs.realpathSync(app), '.nav-cache'));
    } finally {
      process.chdir(cwd);
      if (env !== undefined) process.env.NAV_CACHE_DIR = env;
    }
  });
});
