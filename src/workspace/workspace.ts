import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { NavigatorError } from '../core/errors';
import { checkModuleName } from '../module/module-names';
import { ModuleStatus } from '../core/status';
import { removeStaleTemporaries, writeJsonAtomic } from './atomic';
import { FileDigest, digestFile, digestProblem, rememberIntact } from './file-digest';
import { workspaceError } from './fs-errors';
import { LockOptions, isAlive, lockWorkspace } from './lock';
import { RUN_DIR, relativePathProblem, statusProblem } from './status-schema';

/** A status as stored: with the digest of every file of its run folder, keyed by path relative to the module's folder. */
export type StoredStatus = ModuleStatus & { files: Record<string, FileDigest> };

/** What reading a module's cache found: a usable status, or why there is none (`absent`: no status file at all). */
export type StatusRead = { status: StoredStatus } | { unreadable: string; absent?: true };

/**
 * The cache on disk:
 *   <root>/.nav-lock                 held by the one optimize that writes here (see lock.ts)
 *   <root>/<module>/status.json      what optimize found and selected (replaced atomically)
 *   <root>/<module>/run-<id>/        that run's samples and converted models
 *   <root>/optimize-report.{json,txt}
 * A run writes into a new run folder and only then swaps status.json, so a crash at any point
 * leaves the previous package whole. Everything read back from a status is checked: its shape, that
 * its paths stay inside the module's folder (symlinks resolved) and that its files are the ones
 * written (size, then sha256, once per process per file).
 */
export class Workspace {
  readonly root: string;

  constructor(root?: string) {
    if (root === '') {
      throw new NavigatorError('the workspace is an empty string', {
        subject: 'config.workspace',
        fix: `leave it out for the default (${defaultWorkspaceRoot()}) or give a folder path`,
      });
    }
    this.root = root === undefined ? defaultWorkspaceRoot() : path.resolve(root);
  }

  /** The module's folder; the name is checked, so a status or run folder never lands outside the workspace. */
  moduleDir(module: string): string {
    checkModuleName(module, `workspace ${this.root}`);
    return path.join(this.root, module);
  }

  /** Takes the workspace for one optimize (see lockWorkspace); resolves to the release function. */
  async lock(options: LockOptions = {}): Promise<() => void> {
    const release = await lockWorkspace(this.root, options);
    removeStaleTemporaries(this.root);
    return release;
  }

  /**
   * Where caches shared by every module and run live (e.g. TensorRT's timing cache): beside the
   * module folders, so that commits, which replace run folders, never remove them.
   */
  cacheDir(): string {
    const dir = path.join(this.root, '.cache');
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** A fresh folder for one optimization run of a module; its id is unique per call, not only per millisecond. */
  createRunDir(module: string): string {
    const id = `${Date.now().toString(36)}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    const dir = path.join(this.moduleDir(module), `run-${id}`);
    try {
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.mkdirSync(dir);
    } catch (error) {
      throw workspaceError(error, 'create a run folder in the workspace', dir, module);
    }
    return dir;
  }

  /**
   * The module's cached status, checked: a valid status whose selected files are present and intact,
   * or the reason it cannot be used (to say why the module is optimized again or kept on its source).
   */
  readCache(module: string): StatusRead {
    const dir = this.moduleDir(module);
    const file = path.join(dir, 'status.json');
    let plain: unknown;
    try {
      const stat = fs.lstatSync(file);
      if (!stat.isFile()) return { unreadable: `${file} is not a regular file` };
      plain = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { unreadable: `no cached result in ${dir}`, absent: true };
      if (error instanceof SyntaxError) return { unreadable: `${file} is not valid JSON (${error.message})` };
      return { unreadable: `${file} cannot be read (${code ?? (error as Error).message})` };
    }
    let problem: string | undefined;
    try {
      problem = statusProblem(plain, module) ?? this.selectedProblem(plain as StoredStatus);
    } catch (error) {
      // The schema is meant to catch every shape; should one slip through, it is still only unreadable.
      problem = `it could not be checked (${(error as Error).message})`;
    }
    return problem ? { unreadable: `${file}: ${problem}` } : { status: plain as StoredStatus };
  }

  /** The module's usable cached status, or undefined (readCache says why). */
  readStatus(module: string): StoredStatus | undefined {
    const read = this.readCache(module);
    return 'status' in read ? read.status : undefined;
  }

  /**
   * Why the run folder or the file the status selected is not there as it was written; undefined
   * when binding it would load what optimize checked. This is what makes a cache hit honest.
   */
  selectedProblem(status: ModuleStatus): string | undefined {
    const dir = this.moduleDir(status.module);
    const runDir = confinedProblem(dir, status.runDir);
    if (runDir) return `run folder ${runDir}`;
    const selected = status.candidates.find((c) => c.key === status.selected.key);
    if (!selected) return `its selected candidate "${status.selected.key}" is none of its candidates`;
    // Without a file of its own, a candidate other than the baseline runs the source: for a model given
    // as bytes that is the run's copy, source.onnx.
    const sourceCopy = `${status.runDir}/source.onnx`;
    const file = selected.file ?? (selected.key !== status.baseline && sourceCopy in ((status as StoredStatus).files ?? {}) ? sourceCopy : undefined);
    return file === undefined ? undefined : trustedFileProblem(dir, status, file);
  }

  /**
   * Makes a run's status current, with the digest of every file in its run folder, then removes what
   * it superseded: the previous status's run folder, and run folders left by this process or by
   * processes that are gone. A live process's run folder is never touched. Also removes temporary
   * files of killed commits. Call it holding the lock.
   */
  commit(status: ModuleStatus): StoredStatus {
    const dir = this.moduleDir(status.module);
    const file = path.join(dir, 'status.json');
    const previous = previousRunDir(file);
    let stored: StoredStatus;
    try {
      removeStaleTemporaries(dir);
      const files = digestRunFolder(dir, status.runDir);
      stored = { ...status, files };
      writeJsonAtomic(file, stored);
    } catch (error) {
      throw workspaceError(error, 'write the status of this run', file, status.module);
    }
    for (const entry of fs.readdirSync(dir)) {
      if (!RUN_DIR.test(entry) || entry === status.runDir) continue;
      const pid = Number(entry.split('-')[2]);
      if (entry === previous || pid === process.pid || !(pid > 0 && isAlive(pid))) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
    return stored;
  }

  /** Removes a run folder that was never committed (the run failed or was superseded). */
  discard(runDir: string): void {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

/**
 * The workspace when none is given: NAV_CACHE_DIR, else `.nav-cache` in the application's root (the
 * nearest folder upward from the current one that holds a package.json), so a service started from
 * another folder finds the same cache. Absolute, so messages can state it.
 */
function defaultWorkspaceRoot(): string {
  const fromEnv = process.env.NAV_CACHE_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
  let dir = process.cwd();
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(fs.existsSync(path.join(dir, 'package.json')) ? dir : process.cwd(), '.nav-cache');
}

/**
 * The absolute path of a file a status points to, once it is known to stay inside the module's folder
 * (symlinks resolved) and, for a status read from disk, to match its recorded digest, as do the files
 * beside it (external data). Throws a NavigatorError naming the file otherwise.
 */
export function trustedFile(moduleDir: string, status: ModuleStatus, relative: string): string {
  const problem = trustedFileProblem(moduleDir, status, relative);
  if (problem) {
    throw new NavigatorError(`refused a file of the cached status: ${problem}`, {
      module: status.module,
      subject: path.join(moduleDir, 'status.json'),
      fix: 'run optimize again (force: true) to rebuild the cache',
    });
  }
  return path.join(moduleDir, relative);
}

function trustedFileProblem(moduleDir: string, status: ModuleStatus, relative: string): string | undefined {
  const confined = confinedProblem(moduleDir, relative);
  if (confined) return confined;
  // A status of the run in progress has no digests yet: its files were written by this process.
  const files = (status as Partial<StoredStatus>).files;
  if (!files) return undefined;
  const folder = path.posix.dirname(relative);
  if (!(relative in files)) return `${relative}: no digest is recorded for it`;
  for (const [file, digest] of Object.entries(files)) {
    if (file !== relative && path.posix.dirname(file) !== folder) continue;
    const problem = confinedProblem(moduleDir, file) ?? digestProblem(path.join(moduleDir, file), digest);
    if (problem) return `${path.join(moduleDir, file)} ${problem}`;
  }
  return undefined;
}

/** Why `relative` does not lead to something inside `moduleDir` once symlinks are resolved. */
function confinedProblem(moduleDir: string, relative: string): string | undefined {
  const lexical = relativePathProblem(relative);
  if (lexical) return `${JSON.stringify(relative)} ${lexical}`;
  let real: string;
  let realDir: string;
  try {
    realDir = fs.realpathSync(moduleDir);
    real = fs.realpathSync(path.join(moduleDir, relative));
  } catch {
    return `${path.join(moduleDir, relative)} is missing`;
  }
  if (!real.startsWith(realDir + path.sep)) return `${relative} resolves to ${real}, outside the module's folder ${realDir}`;
  return undefined;
}

/** The run folder the current status.json names, read leniently: only so that the commit can remove it. */
function previousRunDir(file: string): string | undefined {
  try {
    const runDir = (JSON.parse(fs.readFileSync(file, 'utf8')) as { runDir?: unknown }).runDir;
    return typeof runDir === 'string' && RUN_DIR.test(runDir) ? runDir : undefined;
  } catch {
    return undefined;
  }
}

/** sha256 and size of every regular file under the run folder, keyed `run-<id>/sub/file`; remembered as intact. */
function digestRunFolder(moduleDir: string, runDir: string): Record<string, FileDigest> {
  const files: Record<string, FileDigest> = {};
  const walk = (relative: string): void => {
    for (const entry of fs.readdirSync(path.join(moduleDir, relative), { withFileTypes: true })) {
      const child = `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) {
        const full = path.join(moduleDir, child);
        files[child] = digestFile(full);
        rememberIntact(full, files[child]);
      }
    }
  };
  walk(runDir);
  return files;
}
