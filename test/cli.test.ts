import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { validateTritonConfig } from '../src/export/triton-validate';
import { smallOptimize } from './helpers/small-optimize';
import { tempDir } from './helpers/models';

// The compiled CLI, as `npx model-navigator` runs it (`npm test` builds first).
const cli = path.join(__dirname, '..', 'dist', 'src', 'cli.js');

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NAV_CACHE_DIR: '' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('model-navigator CLI on a real workspace', () => {
  let workspace: string;

  beforeAll(async () => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
    ({ workspace } = await smallOptimize());
  });

  it('status prints the table from the cache', () => {
    const { code, stdout } = run('status', workspace);
    expect(code).toBe(0);
    expect(stdout).toMatch(/passed \/ failed \/ skipped/);
    expect(stdout).toMatch(/^encoder \(cached\) .* x 1x16, 2x16 /m);
    expect(stdout).toMatch(/pipeline over the dataloader/);
  });

  it('report --html writes the HTML report and prints its path', () => {
    fs.rmSync(path.join(workspace, 'optimize-report.html'));
    const { code, stdout } = run('report', workspace, '--html');
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(path.join(workspace, 'optimize-report.html'));
    expect(fs.readFileSync(stdout.trim(), 'utf8')).toMatch(/^<!DOCTYPE html>[\s\S]*<svg/);
  });

  it('export triton writes a model repository whose configs pass the validator', () => {
    const repository = path.join(tempDir('nav-triton-'), 'models');
    const { code, stdout } = run('export', 'triton', workspace, repository);
    expect(code).toBe(0);
    expect(stdout).toContain(`tritonserver --model-repository=${repository}`);
    expect(fs.readdirSync(repository).sort()).toEqual(['encoder', 'head']);
    for (const model of ['encoder', 'head']) {
      const dir = path.join(repository, model);
      expect(fs.existsSync(path.join(dir, '1', 'model.onnx'))).toBe(true);
      expect(validateTritonConfig(fs.readFileSync(path.join(dir, 'config.pbtxt'), 'utf8'), dir)).toEqual([]);
    }
  });

  it('clean --keep-last removes only the run folders no selection uses; clean removes the workspace', () => {
    const stale = path.join(workspace, 'encoder', 'run-stale-1');
    fs.mkdirSync(path.join(stale, 'samples'), { recursive: true });
    const kept = run('clean', workspace, '--keep-last');
    expect(kept.code).toBe(0);
    expect(fs.existsSync(stale)).toBe(false);
    expect(run('status', workspace).code).toBe(0);
    expect(run('clean', workspace).code).toBe(0);
    expect(fs.existsSync(workspace)).toBe(false);
  });

  it('devices names every provider, with the reason where it is unavailable', () => {
    const { code, stdout } = run('devices');
    expect(code).toBe(0);
    for (const provider of ['webgpu', 'cuda', 'tensorrt']) expect(stdout).toMatch(new RegExp(`^${provider}: (available|unavailable\\n  \\S)`, 'm'));
  });

  it('answers --help on every command, and uses exit codes 1 for failures and 2 for wrong usage', () => {
    for (const command of ['status', 'report', 'export', 'clean', 'devices']) {
      const { code, stdout } = run(command, '--help');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: model-navigator /);
    }
    expect(run('status', tempDir('nav-empty-'))).toMatchObject({ code: 1, stderr: expect.stringMatching(/holds no optimized module[\s\S]*Fix:/) });
    expect(run('clean', tempDir('nav-not-a-workspace-')).code).toBe(0); // an empty folder is a workspace with nothing in it
    expect(run('status', '--no-such-option').code).toBe(2);
    expect(run('export', 'docker', 'x').code).toBe(2);
    expect(run('frobnicate').code).toBe(2);
    expect(run().code).toBe(2);
  });
});
