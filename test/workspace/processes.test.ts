import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LOCK_FILE } from '../../src/workspace/lock';
import { Workspace } from '../../src/workspace/workspace';
import { lcg, mlpModel, tempDir, writeModel } from '../helpers/models';

// Issue 11, finding 4 and the crash test: optimizes in processes of their own, run at once or killed.
const child = path.join(__dirname, 'optimize-child.js');
if (!fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'src', 'index.js'))) {
  throw new Error('these tests run the build: npx tsc -p tsconfig.json first (npm test does)');
}
const dir = tempDir();
const modelPath = writeModel(dir, 'shared.onnx', mlpModel({ seed: 8 }));

interface Run {
  process: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}
function start(workspace: string, force = false): Run {
  const proc = spawn(process.execPath, [child, modelPath, workspace, ...(force ? ['force'] : [])]);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  return { process: proc, done: new Promise((resolve) => proc.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }))) };
}

/** What must hold of a workspace between optimizes: a usable status or none, never a half-written one. */
function expectWhole(workspace: string, context: string): void {
  const read = new Workspace(workspace).readCache('shared');
  if ('unreadable' in read) expect({ context, ...read }).toEqual({ context, unreadable: expect.any(String), absent: true });
}

/** After a finished optimize: one run folder, the status's, and no lock or temporary files. */
function expectClean(workspace: string): void {
  const read = new Workspace(workspace).readCache('shared');
  expect(read).toHaveProperty('status');
  const moduleDir = path.join(workspace, 'shared');
  expect(fs.readdirSync(moduleDir).filter((f) => f.startsWith('run-'))).toEqual([(read as { status: { runDir: string } }).status.runDir]);
  const leftovers = [...fs.readdirSync(workspace), ...fs.readdirSync(moduleDir)].filter((f) => f.endsWith('.tmp') || f.startsWith(LOCK_FILE));
  expect(leftovers).toEqual([]);
}

describe('optimizes in separate processes', () => {
  it('two at once into one workspace: both succeed, the second waits, the cache is whole', async () => {
    const workspace = path.join(dir, 'concurrent');
    const runs = [start(workspace, true), start(workspace, true)];
    const results = await Promise.all(runs.map((r) => r.done));
    for (const result of results) expect(result).toMatchObject({ code: 0 });
    expect(results.filter((r) => r.stderr.includes('is locked by pid'))).toHaveLength(1);
    const runDirs = results.map((r) => JSON.parse(r.stdout).runDir);
    expect(new Set(runDirs).size).toBe(2);
    expectClean(workspace);
    expect(runDirs).toContain((new Workspace(workspace).readCache('shared') as { status: { runDir: string } }).status.runDir);
  });

  it('killed at random points: the cache stays whole and the next optimize works', async () => {
    const workspace = path.join(dir, 'killed');
    const random = lcg(11);
    const endings: string[] = [];
    // Kill points within what one whole run takes on this machine, so that most land inside a run
    // however fast or loaded the machine is. Bounded: six kills.
    const started = Date.now();
    expect(await start(workspace, true).done).toMatchObject({ code: 0 });
    const wholeRunMs = Date.now() - started;
    for (let kill = 0; kill < 6; kill++) {
      const delayMs = Math.round(wholeRunMs * (0.05 + random() * 0.8));
      const run = start(workspace, true);
      const timer = setTimeout(() => run.process.kill('SIGKILL'), delayMs);
      const result = await run.done;
      clearTimeout(timer);
      endings.push(result.signal ?? `exit ${result.code}`);
      expectWhole(workspace, `after a kill at ${delayMs} ms (${endings[kill]})`);
    }
    // Most kills must land inside a run, or the test proves nothing.
    expect(endings.filter((e) => e === 'SIGKILL').length).toBeGreaterThanOrEqual(4);
    // A new optimize (forced: the first run left a cached result) commits and clears what the kills left.
    const last = await start(workspace, true).done;
    expect(last).toMatchObject({ code: 0 });
    expectClean(workspace);
  });
});
