import * as path from 'path';
import { errorText } from '../core/errors';
import type { ModelArtifact, Runner, RunnerSession, SessionContext, VariantSettings } from '../core/plugin';
import { BASELINE, sameRunnerSource, type CandidateStatus, type Decision, type ModuleStatus } from '../core/status';
import { controlOf, type OnnxModule } from '../module/onnx-module';
import { runnerRegistry } from '../plugins';
import { withFallback } from '../runners/ort-session';
import { trustedFile } from '../workspace/workspace';
import { candidateOf, isPlainSource } from './choices';

/** What binding a module did: bound to the candidate, or kept on its original model (and why). */
export type BindOutcome = { bound: true; description: string } | { bound: false; description: string };

/**
 * Binds a module to the candidate a decision names, with `extra` runner settings laid over the
 * decision's. The baseline without extra settings means the module's own original session. Never
 * leaves the module half-bound: on any failure it keeps its original model, and the outcome says why.
 */
export async function bindDecision(
  module: OnnxModule<unknown, unknown>,
  status: ModuleStatus,
  decision: Decision,
  moduleDir: string,
  extra: VariantSettings = {},
): Promise<BindOutcome> {
  const control = controlOf(module);
  const candidate = candidateOf(status, decision);
  const kept = async (reason: string, description: string): Promise<BindOutcome> => {
    await control.unbind(reason);
    return { bound: false, description };
  };
  if (!candidate) return kept('its status names no valid selection', 'kept the original: the status names no valid selection');
  const settings = { ...candidate.variant.settings, ...decision.settings, ...extra };
  if (isPlainSource(status, decision) && Object.keys(extra).length === 0) {
    return kept(`source selected (${decision.reason})`, 'the original model was the best');
  }
  const runner = runnerRegistry.get(candidate.runner);
  const availability = await runner.availability();
  if (!availability.available) {
    return kept(`${candidate.runner} unavailable`, `kept the original: runner ${candidate.runner} is not available here (${availability.reason})`);
  }
  try {
    // Paths from a status are confined to the module's folder and checked against their digests.
    const artifact: ModelArtifact = {
      format: candidate.format,
      path: candidate.file ? trustedFile(moduleDir, status, candidate.file) : sourcePath(module, status, moduleDir),
      precision: candidate.precision,
      sizeBytes: candidate.sizeBytes ?? 0,
      fixedShapes: candidate.fixedShapes,
    };
    const context = { module: status.module, signature: status.signature, workDir: path.join(moduleDir, status.runDir) };
    const chosen = await runner.createSession(artifact, { id: candidate.variant.id, settings }, context);
    const session = chosen.fixedShapes ? await withSameDeviceFallback(chosen, { runner, candidate, status, source: sourcePath(module, status, moduleDir), extra, context }) : chosen;
    await control.bind(session, { format: candidate.format, runner: candidate.runner, variant: candidate.variant.id, isSource: false, reason: decision.reason }, status.signature);
    return { bound: true, description: `bound to ${candidate.key}` };
  } catch (error) {
    return kept('loading the selected candidate failed', `kept the original: loading ${candidate.key} failed (${errorText(error)})`);
  }
}

/** Where the module's original model is: the user's file, or the copy of the bytes they gave. */
function sourcePath(module: OnnxModule<unknown, unknown>, status: ModuleStatus, moduleDir: string): string {
  return typeof module.model === 'string' ? path.resolve(module.model) : trustedFile(moduleDir, status, `${status.runDir}/source.onnx`);
}

/**
 * A session that takes only some shapes (a fixed-shape model, a captured GPU graph) leaves the
 * others to the original model on onnxruntime's CPU provider. Where the candidate's runner also ran the source
 * model and it passed, those inputs go there instead, so that a fixed-shape GPU choice does not
 * fall off the GPU on a batch size capture never saw (measured on the H200: a text-to-image
 * pipeline optimized at batch 16 ran batch 12 at 0.66x plain WebGPU before this).
 */
async function withSameDeviceFallback(
  chosen: RunnerSession,
  on: { runner: Runner; candidate: CandidateStatus; status: ModuleStatus; source: string; extra: VariantSettings; context: SessionContext },
): Promise<RunnerSession> {
  const sourceThere = sameRunnerSource(on.status, on.candidate);
  if (!sourceThere) return chosen;
  try {
    const artifact: ModelArtifact = { format: BASELINE.format, path: on.source, precision: sourceThere.precision, sizeBytes: sourceThere.sizeBytes ?? 0 };
    return withFallback(chosen, await on.runner.createSession(artifact, { id: sourceThere.variant.id, settings: { ...sourceThere.variant.settings, ...on.extra } }, on.context));
  } catch {
    return chosen; // the original model on the CPU still takes the other shapes
  }
}
