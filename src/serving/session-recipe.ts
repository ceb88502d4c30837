import * as path from 'path';
import type { InferenceSession } from 'onnxruntime-node';
import type { ModuleSignature } from '../core/signature';
import { NavigatorError } from '../core/errors';
import type { ModelArtifact } from '../core/plugin';
import { runnerRegistry } from '../plugins';
import { NO_SPIN } from '../runners/onnx-cpu';
import { capturesGraph, GPU_OUTPUTS, staticShapes } from '../runners/onnx-webgpu';
import { createOrtSession, withFallback } from '../runners/ort-session';
import type { RunnerSession, RunnerVariant } from '../core/plugin';
import { BASELINE, type ModuleStatus, sameRunnerSource, selectedCandidate } from '../core/status';

/**
 * Everything a worker thread needs to create a module's session on its own: plain data only, since
 * it crosses threads by structured clone. Either a candidate (a runner from the registry loads the
 * artifact with the variant's settings) or the module's original model with its session options.
 */
export type SessionRecipe = CandidateRecipe | SourceRecipe;

export interface CandidateRecipe {
  kind: 'candidate';
  module: string;
  runner: string;
  artifact: ModelArtifact;
  variant: RunnerVariant;
  signature: ModuleSignature;
  /** The module's run folder (runners keep caches there). */
  workDir: string;
  /** Modules the worker requires before it looks the runner up: where users register their own runners. */
  preload?: string[];
  /**
   * Where the selection takes only some input shapes: what runs the others in the worker, the source
   * on the same runner where it passed, else the original model (so they never land on the event loop).
   */
  fallback?: SessionRecipe;
}

export interface SourceRecipe {
  kind: 'source';
  module: string;
  /** The .onnx path or its bytes (copied into each worker). */
  model: string | Uint8Array;
  /** Only plain options survive the crossing (no functions, no external data loaders). */
  sessionOptions?: InferenceSession.SessionOptions;
  fixedShapes?: Record<string, number[]>;
}

/** The runner device of a recipe: GPU recipes get one worker and one call at a time. */
export function recipeDevice(recipe: SessionRecipe): 'cpu' | 'gpu' {
  if (recipe.kind === 'source') {
    const providers = recipe.sessionOptions?.executionProviders ?? [];
    return providers.every((p) => (typeof p === 'string' ? p : p.name) === 'cpu') ? 'cpu' : 'gpu';
  }
  return runnerRegistry.has(recipe.runner) ? runnerRegistry.get(recipe.runner).device : 'cpu';
}

/** The recipe of the candidate a module's status selected (the source model when the source won). */
export function recipeForSelected(status: ModuleStatus, moduleDir: string, model: string | Uint8Array): SessionRecipe {
  const candidate = selectedCandidate(status);
  if (!candidate) {
    throw new NavigatorError('the status names no valid selection to serve', { module: status.module, fix: 'run optimize again' });
  }
  const sourceFile = typeof model === 'string' ? path.resolve(model) : path.join(moduleDir, status.runDir, 'source.onnx');
  if (candidate.key === status.baseline) return { kind: 'source', module: status.module, model: sourceFile };
  const recipe: CandidateRecipe = {
    kind: 'candidate',
    module: status.module,
    runner: candidate.runner,
    artifact: {
      format: candidate.format,
      path: candidate.file ? path.join(moduleDir, candidate.file) : sourceFile,
      precision: candidate.precision,
      sizeBytes: candidate.sizeBytes ?? 0,
      fixedShapes: candidate.fixedShapes,
    },
    // The runner settings the pipeline steps chose over the candidate's (as binding on the main thread applies them).
    variant: { ...candidate.variant, settings: { ...candidate.variant.settings, ...status.selected.settings } },
    signature: status.signature,
    workDir: path.join(moduleDir, status.runDir),
  };
  if (!acceptedShapes(recipe)) return recipe;
  const sourceThere = sameRunnerSource(status, candidate);
  recipe.fallback = sourceThere
    ? { ...recipe, artifact: { format: BASELINE.format, path: sourceFile, precision: sourceThere.precision, sizeBytes: sourceThere.sizeBytes ?? 0 }, variant: sourceThere.variant }
    : { kind: 'source', module: status.module, model: sourceFile };
  return recipe;
}

/**
 * The only input shapes the recipe's session takes, where it has such, as the runner's own session
 * decides (a fixed-shape artifact; a captured WebGPU graph replays one shape); undefined: any shape.
 */
export function acceptedShapes(recipe: SessionRecipe): Record<string, number[]> | undefined {
  if (recipe.kind === 'source') return recipe.fixedShapes;
  if (recipe.fallback) return undefined;
  if (recipe.runner === 'OnnxWebGPU' && capturesGraph(recipe.variant.settings)) return staticShapes(recipe.signature, recipe.artifact);
  return recipe.artifact.fixedShapes;
}

/**
 * Creates the recipe's session with at most `threads` intra-op threads: what each worker runs. Its
 * idle intra-op threads never spin: a served session shares the cores with the event loop and with
 * the workers of the other modules (measured: one spinning worker per module of a two-model pipeline
 * used 1.7 cores at concurrency 1 for 0.8x the requests of the main thread). GPU-resident outputs
 * are turned off: a `gpu-buffer` tensor cannot cross threads.
 */
export async function createRecipeSession(recipe: SessionRecipe, threads: number): Promise<RunnerSession> {
  if (recipe.kind === 'source') {
    const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], ...recipe.sessionOptions };
    options.intraOpNumThreads = Math.min(options.intraOpNumThreads ?? threads, threads);
    options.extra = { ...options.extra, session: { intra_op: { allow_spinning: '0' } } };
    return createOrtSession(recipe.fixedShapes ? { format: 'onnx', path: String(recipe.model), precision: 'fp32', sizeBytes: 0, fixedShapes: recipe.fixedShapes } : recipe.model, options);
  }
  for (const file of recipe.preload ?? []) require(file);
  const runner = runnerRegistry.get(recipe.runner);
  const settings = { ...recipe.variant.settings };
  delete settings[GPU_OUTPUTS];
  if (runner.device === 'cpu') {
    settings.intraOpNumThreads = Math.min(typeof settings.intraOpNumThreads === 'number' ? settings.intraOpNumThreads : threads, threads);
    if (typeof settings.interOpNumThreads === 'number') settings.interOpNumThreads = Math.max(1, Math.min(settings.interOpNumThreads, threads));
    settings[NO_SPIN] = 0;
  }
  const session = await runner.createSession(recipe.artifact, { id: recipe.variant.id, settings }, { module: recipe.module, signature: recipe.signature, workDir: recipe.workDir });
  if (!recipe.fallback) return session;
  try {
    return withFallback(session, await createRecipeSession(recipe.fallback, threads));
  } catch (error) {
    // Without it the other shapes would reach a session that refuses them: the load fails, and the
    // module stays on the main thread (where binding keeps the choice and routes them to the original).
    await session.release();
    throw error;
  }
}
