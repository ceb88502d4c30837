import * as path from 'path';
import { errorText } from '../errors';
import type { ModelArtifact } from '../formats/format';
import type { OnnxModule } from '../module/onnx-module';
import { runnerRegistry } from '../plugins';
import { ModuleStatus, selectedCandidate } from '../status';
import { trustedFile } from '../workspace/workspace';

/**
 * Rebinds a module to the candidate its status selected. The source selected means the module's own
 * original session. Returns what it did, in words, for the load report; never leaves the module
 * half-bound: on any failure the module keeps its original model.
 */
export async function bindSelected(
  module: OnnxModule<unknown, unknown>,
  status: ModuleStatus,
  moduleDir: string,
  settingsOverride: Record<string, string | number | boolean> = {},
): Promise<string> {
  const candidate = selectedCandidate(status);
  if (!candidate) {
    await module.unbind('its status names no valid selection');
    return 'kept the original: the status names no valid selection';
  }
  if (candidate.key === status.baseline && Object.keys(settingsOverride).length === 0) {
    await module.unbind(`source selected (${status.selected.reason})`);
    return 'the original model was the best';
  }
  const runner = runnerRegistry.get(candidate.runner);
  const availability = await runner.availability();
  if (!availability.available) {
    await module.unbind(`${candidate.runner} unavailable`);
    return `kept the original: runner ${candidate.runner} is not available here (${availability.reason})`;
  }
  const variant = { id: candidate.variant.id, settings: { ...candidate.variant.settings, ...settingsOverride } };
  try {
    // Paths from a status are confined to the module's folder and checked against their digests.
    const artifact: ModelArtifact = {
      format: candidate.format,
      path: candidate.file ? trustedFile(moduleDir, status, candidate.file) : sourcePath(module, status, moduleDir),
      precision: candidate.precision,
      sizeBytes: candidate.sizeBytes ?? 0,
      fixedShapes: candidate.fixedShapes,
    };
    const session = await runner.createSession(artifact, variant, { module: status.module, signature: status.signature, workDir: path.join(moduleDir, status.runDir) });
    await module.bind(session, { format: candidate.format, runner: candidate.runner, variant: candidate.variant.id, isSource: false, reason: status.selected.reason });
    return `bound to ${candidate.key}`;
  } catch (error) {
    await module.unbind('loading the selected candidate failed');
    return `kept the original: loading ${candidate.key} failed (${errorText(error)})`;
  }
}

/** Where the module's original model is: the user's file, or the copy of the bytes they gave. */
function sourcePath(module: OnnxModule<unknown, unknown>, status: ModuleStatus, moduleDir: string): string {
  return typeof module.model === 'string' ? path.resolve(module.model) : trustedFile(moduleDir, status, `${status.runDir}/source.onnx`);
}
