import { NavigatorError } from '../core/errors';

/**
 * A module name is a folder name in the workspace: letters, digits, '_', '-' and inner dots only.
 * No separators, no leading dot (so never '.', '..' or a hidden folder), at most 100 characters.
 */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$/;

/** Throws where `name` could not safely name a folder of its own in the workspace. */
export function checkModuleName(name: unknown, subject: string): asserts name is string {
  if (typeof name !== 'string' || !SAFE_NAME.test(name)) {
    throw new NavigatorError(
      `module name ${JSON.stringify(name)} is not allowed: names are 1-100 letters, digits, '_', '-' or '.', not starting with '.'`,
      { subject, fix: "use a name such as 'unet' or 'text_encoder.v2': it names the module's folder in the workspace" },
    );
  }
}

/** Who claimed each module name: names are unique within the process, since they name workspaces. */
const owners = new Map<string, string>();

export function claimModuleName(name: string, owner: string): void {
  checkModuleName(name, owner);
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

/** The name a declaration (`@navModule`, `navModule(model, options)`) gives, checked where it is written. */
export function checkDeclaredName(options: { name?: unknown } | undefined, call: string): void {
  const name = options?.name;
  if (typeof name !== 'string' || !SAFE_NAME.test(name)) {
    throw new NavigatorError(`${call} needs a name made of letters, digits, '_', '.' or '-', not starting with '.'; got ${JSON.stringify(name)}`, {
      subject: 'name',
      fix: "pass a name such as { name: 'unet' }: it also names the module's workspace folder",
    });
  }
}

