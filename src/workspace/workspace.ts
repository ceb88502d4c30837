import * as fs from 'fs';
import * as path from 'path';
import { NavigatorError } from '../core/errors';
import { ModuleStatus, STATUS_FORMAT_VERSION } from '../core/status';
import { writeJsonAtomic } from './atomic';

/**
 * The cache on disk:
 *   <root>/<module>/status.json      what optimize found and selected (replaced atomically)
 *   <root>/<module>/run-<id>/        that run's samples and converted models
 *   <root>/optimize-report.{json,txt}
 * A run writes into a new run folder and only then swaps status.json, so a crash at any point
 * leaves the previous package whole.
 */
export class Workspace {
  readonly root: string;

  constructor(root?: string) {
    this.root = path.resolve(root ?? process.env.NAV_CACHE_DIR ?? '.nav-cache');
  }

  moduleDir(module: string): string {
    return path.join(this.root, module);
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

  /** A fresh folder for one optimization run of a module. */
  createRunDir(module: string): string {
    const dir = path.join(this.moduleDir(module), `run-${Date.now().toString(36)}-${process.pid}`);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (error) {
      throw new NavigatorError('cannot create a folder in the workspace', {
        module,
        subject: dir,
        cause: error,
        fix: 'point config.workspace (or NAV_CACHE_DIR) at a writable folder',
      });
    }
    return dir;
  }

  /** The module's cached status, or undefined where there is none (or it is unreadable or outdated). */
  readStatus(module: string): ModuleStatus | undefined {
    const file = path.join(this.moduleDir(module), 'status.json');
    if (!fs.existsSync(file)) return undefined;
    try {
      const status = JSON.parse(fs.readFileSync(file, 'utf8')) as ModuleStatus;
      if (status.formatVersion !== STATUS_FORMAT_VERSION) return undefined;
      if (!fs.existsSync(path.join(this.moduleDir(module), status.runDir))) return undefined;
      return status;
    } catch {
      return undefined;
    }
  }

  /** Makes a run's status current, then removes the runs it replaced. */
  commit(status: ModuleStatus): void {
    const dir = this.moduleDir(status.module);
    writeJsonAtomic(path.join(dir, 'status.json'), status);
    for (const entry of fs.readdirSync(dir)) {
      if (entry.startsWith('run-') && entry !== status.runDir) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }

  /** Removes a run folder that was never committed (the run failed or was superseded). */
  discard(runDir: string): void {
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}
