import { NavigatorError } from '../core/errors';
import type { OnnxModule } from './onnx-module';

/** Who claimed each module name: names are unique within the process, since they name workspaces. */
const owners = new Map<string, string>();

export function claimModuleName(name: string, owner: string): void {
  const previous = owners.get(name);
  if (previous !== undefined && previous !== owner) {
    throw new NavigatorError(`module name "${name}" is already used by ${previous}`, {
      subject: owner,
      fix: 'give each navModule a name of its own',
    });
  }
  owners.set(name, owner);
}

/** `base`, or `base-2`, `base-3`, ... : the first name no module has claimed (deterministic for a given order of claims). */
export function freeModuleName(base: string): string {
  let name = base;
  for (let n = 2; owners.has(name); n++) name = `${base}-${n}`;
  return name;
}

/** A module name names a workspace folder: letters, digits, '_', '.' or '-'. */
export function checkModuleName(options: { name?: unknown } | undefined, call: string): void {
  const name = options?.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new NavigatorError(`${call} needs a name made of letters, digits, '_', '.' or '-'; got ${JSON.stringify(name)}`, {
      subject: 'name',
      fix: "pass a name such as { name: 'unet' }: it also names the module's workspace folder",
    });
  }
}

/** Modules declared without a class (`navModule(model, options)`, `OnnxModule.create`, interceptSessions): what `optimize(fn, ...)` optimizes. */
export const standaloneModules = new Set<OnnxModule<unknown, unknown>>();
