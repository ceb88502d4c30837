import { NavigatorError } from '../core/errors';

/** What to do about a file-system error code met in the workspace; one table for every operation. */
const FIXES: Readonly<Record<string, (file: string) => string>> = {
  ENOSPC: (file) => `free disk space where ${file} lives, or point config.workspace (or NAV_CACHE_DIR) at a disk with room`,
  EDQUOT: (file) => `free some of your disk quota where ${file} lives, or point config.workspace at another disk`,
  EISDIR: (file) => `${file} is a folder where a file belongs: remove it (the cache is rebuilt by the next optimize)`,
  ENOTDIR: (file) => `a file stands where a folder of ${file} belongs: remove it (the cache is rebuilt by the next optimize)`,
  ENOTEMPTY: (file) => `a folder stands where ${file} belongs: remove it (the cache is rebuilt by the next optimize)`,
  EACCES: (file) => `make ${file} writable by this user, or point config.workspace at a writable folder`,
  EPERM: (file) => `make ${file} writable by this user, or point config.workspace at a writable folder`,
  EROFS: (file) => `${file} is on a read-only file system: point config.workspace at a writable folder`,
};

/**
 * A file-system failure in the workspace as a NavigatorError that names the module, the file and the
 * fix. Errors that are already NavigatorErrors pass through unchanged.
 */
export function workspaceError(error: unknown, action: string, file: string, module?: string): Error {
  if (error instanceof NavigatorError) return error;
  const code = (error as NodeJS.ErrnoException)?.code ?? '';
  const fix = FIXES[code]?.(file) ?? 'check that the workspace folder exists and is writable';
  return new NavigatorError(`cannot ${action}${code ? ` (${code})` : ''}`, { module, subject: file, cause: error, fix });
}
