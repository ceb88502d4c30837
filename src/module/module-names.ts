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

/** Modules wrapped with `navModule(model, options)`: what `optimize(fn, ...)` optimizes. */
export const standaloneModules = new Set<OnnxModule<unknown, unknown>>();
