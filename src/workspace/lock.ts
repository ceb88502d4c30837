import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NavigatorError } from '../core/errors';
import { workspaceError } from './fs-errors';

/** Who holds a workspace: written into the lock file, read by whoever waits for it. */
export interface LockHolder {
  pid: number;
  /** The process's start time (Linux clock ticks since boot), so a reused pid is not taken for the holder. */
  processStart?: string;
  host: string;
  since: string;
  token: string;
}

export interface LockOptions {
  /** How long to wait for another optimize of the same workspace. @default 600000 (10 minutes) */
  timeoutMs?: number;
  /** Told once, when the lock is held by someone else and this call starts to wait. */
  onWait?: (message: string) => void;
}

export const LOCK_FILE = '.nav-lock';
const POLL_MS = 100;
/** A lock file still empty after this long belongs to a process killed between creating and writing it. */
const UNWRITTEN_STALE_MS = 5000;

/** Per workspace root: the tail of this process's queue of optimize calls. */
const queues = new Map<string, Promise<void>>();

/**
 * Takes the workspace for one optimize: first in this process (calls queue in order), then across
 * processes through a lock file created exclusively. A lock whose process is gone is taken over.
 * Resolves to the function that releases it.
 */
export async function lockWorkspace(root: string, options: LockOptions = {}): Promise<() => void> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const deadline = Date.now() + timeoutMs;
  const previous = queues.get(root) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  queues.set(root, tail);
  void tail.then(() => queues.get(root) === tail && queues.delete(root));
  try {
    let told = false;
    if (!(await settlesWithin(previous, 0))) {
      options.onWait?.(`waiting for another optimize of workspace ${root} in this process to finish`);
      told = true;
      if (!(await settlesWithin(previous, deadline - Date.now()))) {
        throw timeoutError(root, timeoutMs, `another optimize call in this process (pid ${process.pid})`);
      }
    }
    const release = await lockAcrossProcesses(root, deadline, timeoutMs, told ? undefined : options.onWait);
    return () => {
      release();
      done();
    };
  } catch (error) {
    done();
    throw error;
  }
}

async function lockAcrossProcesses(root: string, deadline: number, timeoutMs: number, onWait?: (message: string) => void): Promise<() => void> {
  const file = path.join(root, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, processStart: processStart(process.pid), host: os.hostname(), since: new Date().toISOString(), token: crypto.randomBytes(8).toString('hex') };
  try {
    fs.mkdirSync(root, { recursive: true });
  } catch (error) {
    throw workspaceError(error, 'create the workspace folder', root);
  }
  for (;;) {
    if (tryCreate(file, me)) break;
    const holder = readHolder(file);
    if (holder === 'gone') continue;
    if (isStale(holder)) {
      takeOver(file, holder);
      continue;
    }
    if (Date.now() >= deadline) throw timeoutError(root, timeoutMs, describe(holder));
    onWait?.(`workspace ${root} is locked by ${describe(holder)}; waiting up to ${Math.round(timeoutMs / 1000)} s (config.lockTimeoutMs)`);
    onWait = undefined;
    await sleep(POLL_MS);
  }
  const releaseOnExit = () => release(file, me.token);
  process.once('exit', releaseOnExit);
  return () => {
    process.removeListener('exit', releaseOnExit);
    release(file, me.token);
  };
}

function tryCreate(file: string, me: LockHolder): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw workspaceError(error, 'create the workspace lock', file);
  }
  try {
    fs.writeFileSync(fd, JSON.stringify(me));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** The holder as written; 'gone' if the file disappeared meanwhile; its age if it is empty, partial or not a holder. */
function readHolder(file: string): LockHolder | 'gone' | { unwrittenMs: number } {
  try {
    const text = fs.readFileSync(file, 'utf8');
    let holder: Partial<LockHolder> | null = null;
    try {
      holder = JSON.parse(text) as Partial<LockHolder> | null;
    } catch {
      // Partial or foreign content: judged by its age below.
    }
    if (holder && typeof holder === 'object' && Number.isInteger(holder.pid) && typeof holder.token === 'string') return holder as LockHolder;
    return { unwrittenMs: Date.now() - fs.statSync(file).mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw workspaceError(error, 'read the workspace lock', file);
  }
}

function isStale(holder: LockHolder | { unwrittenMs: number }): boolean {
  if ('unwrittenMs' in holder) return holder.unwrittenMs > UNWRITTEN_STALE_MS;
  // Another machine's process (a shared folder) cannot be checked: it is taken as alive.
  if (holder.host !== os.hostname()) return false;
  if (!isAlive(holder.pid)) return true;
  const start = processStart(holder.pid);
  return start !== undefined && holder.processStart !== undefined && start !== holder.processStart;
}

/**
 * Removes a stale lock, making sure it is the one judged stale: the file is first renamed to a name of
 * our own, so two processes taking over at once cannot remove a lock that a third just created.
 */
function takeOver(file: string, stale: LockHolder | { unwrittenMs: number }): void {
  const aside = `${file}.stale.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // someone else took it over first: try again
  }
  const moved = readHolder(aside);
  const same = 'token' in stale ? typeof moved === 'object' && 'token' in moved && moved.token === stale.token : !(typeof moved === 'object' && 'token' in moved);
  if (!same) {
    // A live lock was created between the check and the rename: put it back (link never overwrites).
    try {
      fs.linkSync(aside, file);
    } catch {
      // Another process holds the lock file now; the one moved aside loses it, which its owner notices on release.
    }
  }
  fs.rmSync(aside, { force: true });
}

function release(file: string, token: string): void {
  try {
    const holder = JSON.parse(fs.readFileSync(file, 'utf8')) as LockHolder;
    if (holder.token === token) fs.rmSync(file, { force: true });
  } catch {
    // Already gone: nothing to release.
  }
}

/** Whether a process of this machine with that pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (start time since boot); undefined where there is no /proc. */
function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function describe(holder: LockHolder | { unwrittenMs: number }): string {
  if ('unwrittenMs' in holder) return 'a process that is still writing the lock file';
  return `pid ${holder.pid} on ${holder.host} since ${holder.since}`;
}

function timeoutError(root: string, timeoutMs: number, holder: string): NavigatorError {
  return new NavigatorError(`the workspace is being optimized by ${holder}; gave up after ${timeoutMs} ms`, {
    subject: root,
    fix: `wait for that optimize to finish, raise config.lockTimeoutMs, or, if that process is gone, delete ${path.join(root, LOCK_FILE)}`,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settles within `ms`; the timer is cleared either way, so it keeps nothing alive. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
