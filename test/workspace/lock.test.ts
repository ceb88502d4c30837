import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { optimize } from '../../src';
import { LOCK_FILE, LockHolder, lockWorkspace } from '../../src/workspace/lock';
import { StoredStatus, Workspace } from '../../src/workspace/workspace';
import { tempDir } from '../helpers/models';
import { cachedModule } from '../helpers/workspace';

// Issue 11, findings 4, 5 and 12 within one process, with other processes as lock holders.
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;
const children: ChildProcess[] = [];
function liveProcess(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  children.push(child);
  return child;
}
const exited = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map(exited));
});

function writeLock(root: string, holder: Partial<LockHolder>): void {
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, LOCK_FILE), JSON.stringify({ host: os.hostname(), since: new Date().toISOString(), token: 'theirs', ...holder }));
}

describe('the workspace lock', () => {
  it('is taken over from a process that is gone', async () => {
    const root = tempDir();
    writeLock(root, { pid: deadPid() });
    const release = await lockWorkspace(root, { timeoutMs: 1000 });
    expect(JSON.parse(fs.readFileSync(path.join(root, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    release();
    expect(fs.existsSync(path.join(root, LOCK_FILE))).toBe(false);
  });

  it('is taken over from a reused pid (another start time)', async () => {
    const root = tempDir();
    writeLock(root, { pid: liveProcess().pid, processStart: '1' });
    (await lockWorkspace(root, { timeoutMs: 1000 }))();
  });

  it.each(['', '{"pi', 'null', '42'])('is taken over when left as %j by a process killed while creating it', async (content) => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, LOCK_FILE), content);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(root, LOCK_FILE), old, old);
    (await lockWorkspace(root, { timeoutMs: 1000 }))();
  });

  it('held by a live process: waits with a message, then fails after lockTimeoutMs naming the holder', async () => {
    const root = tempDir();
    const holder = liveProcess();
    writeLock(root, { pid: holder.pid });
    const messages: string[] = [];
    const started = Date.now();
    await expect(lockWorkspace(root, { timeoutMs: 300, onWait: (m) => messages.push(m) })).rejects.toThrow(
      new RegExp(`being optimized by pid ${holder.pid} on .*gave up after 300 ms.*Fix: .*lockTimeoutMs`, 's'),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(messages).toEqual([expect.stringContaining(`is locked by pid ${holder.pid}`)]);
  });

  it('held by a live process: is taken as soon as that process is gone', async () => {
    const root = tempDir();
    const holder = liveProcess();
    writeLock(root, { pid: holder.pid });
    setTimeout(() => holder.kill('SIGKILL'), 300);
    (await lockWorkspace(root, { timeoutMs: 10_000 }))();
  });

  it('queues calls of one process in order, and times out naming this process', async () => {
    const root = tempDir();
    const order: string[] = [];
    const first = await lockWorkspace(root);
    await expect(lockWorkspace(root, { timeoutMs: 100 })).rejects.toThrow(`another optimize call in this process (pid ${process.pid})`);
    const second = lockWorkspace(root).then((release) => (order.push('second'), release));
    await new Promise((resolve) => setTimeout(resolve, 100));
    order.push('first done');
    first();
    (await second)();
    expect(order).toEqual(['first done', 'second']);
  });

  it('removes temporary files of writers that are gone from the workspace root', async () => {
    const workspace = new Workspace(tempDir());
    const dead = path.join(workspace.root, `optimize-report.json.${deadPid()}.abc.tmp`);
    const live = path.join(workspace.root, `optimize-report.json.${liveProcess().pid}.abc.tmp`);
    fs.writeFileSync(dead, '{');
    fs.writeFileSync(live, '{');
    (await workspace.lock())();
    expect([fs.existsSync(dead), fs.existsSync(live)]).toEqual([false, true]);
  });
});

describe('optimize and commit', () => {
  const cache = cachedModule('locked');

  it('two optimize calls at once in one process both succeed and leave one whole cache', async () => {
    const [a, b] = await Promise.all([cache.optimize({ force: true }), cache.optimize({ force: true })]);
    expect([a.modules.locked.cached, b.modules.locked.cached]).toEqual([false, false]);
    const read = new Workspace(cache.workspace).readCache('locked');
    expect(read).toHaveProperty('status.runDir', b.modules.locked.runDir);
    expect(cache.runDirs()).toEqual([b.modules.locked.runDir]);
  });

  it('gives every run its own folder, even within one millisecond', () => {
    const workspace = new Workspace(tempDir());
    const dirs = Array.from({ length: 200 }, () => workspace.createRunDir('m'));
    expect(new Set(dirs).size).toBe(200);
  });

  it('removes only the run folders it superseded, and stale temporary files', () => {
    const workspace = new Workspace(cache.workspace);
    const status = cache.readStatus();
    const livePid = liveProcess().pid!;
    const folder = (pid: number) => path.join(cache.moduleDir, `run-abc-${pid}-0a`);
    for (const pid of [deadPid(), livePid, process.pid]) fs.mkdirSync(folder(pid));
    const deadTemp = path.join(cache.moduleDir, `status.json.${deadPid()}.x1.tmp`);
    const liveTemp = path.join(cache.moduleDir, `status.json.${livePid}.x1.tmp`);
    fs.writeFileSync(deadTemp, '');
    fs.writeFileSync(liveTemp, '');
    const { files: _files, ...fresh } = status as StoredStatus;
    workspace.commit(fresh);
    expect(cache.runDirs().sort()).toEqual([status.runDir, path.basename(folder(livePid))].sort());
    expect([fs.existsSync(deadTemp), fs.existsSync(liveTemp)]).toEqual([false, true]);
    expect(workspace.readCache('locked')).toHaveProperty('status');
  });

  it('waits for another process holding the workspace, saying so', async () => {
    const holder = liveProcess();
    writeLock(cache.workspace, { pid: holder.pid });
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((line: string) => (lines.push(line), true)) as typeof process.stderr.write;
    try {
      setTimeout(() => holder.kill('SIGKILL'), 500);
      const result = await optimize(cache.run, cache.data, cache.config);
      expect(result.modules.locked.cached).toBe(true);
    } finally {
      process.stderr.write = write;
    }
    expect(lines.join('')).toContain(`workspace ${cache.workspace} is locked by pid ${holder.pid}`);
  });
});
