import { InferenceSession } from 'onnxruntime-node';
import type { ModelArtifact } from '../core/plugin';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import { createInferenceSession } from '../onnx/inference-session';

/**
 * Wraps an onnxruntime-node session as a RunnerSession. Shared by every runner built on an
 * onnxruntime execution provider; they differ only in the SessionOptions they pass. `model` is a
 * candidate's artifact, or a model as a path or bytes (a module's original model: any shapes).
 */
export async function createOrtSession(
  model: ModelArtifact | string | Uint8Array,
  options: InferenceSession.SessionOptions,
): Promise<RunnerSession> {
  const { path: source, fixedShapes } = typeof model === 'object' && 'path' in model ? model : { path: model, fixedShapes: undefined };
  const session = await createInferenceSession(source, options);
  return {
    run: (feeds: Feeds) => session.run(feeds) as Promise<Feeds>,
    accepts: fixedShapes ? (feeds) => shapesMatch(feeds, fixedShapes) : () => true,
    release: () => session.release(),
    ...(fixedShapes && { fixedShapes }),
  };
}

/** `chosen` where it takes the inputs, `fallback` for the rest (a fixed-shape session and a source beside it). */
export function withFallback(chosen: RunnerSession, fallback: RunnerSession): RunnerSession {
  return {
    accepts: (feeds) => chosen.accepts(feeds) || fallback.accepts(feeds),
    run: (feeds) => (chosen.accepts(feeds) ? chosen.run(feeds) : fallback.run(feeds)),
    release: async () => {
      try {
        await chosen.release();
      } finally {
        await fallback.release();
      }
    },
  };
}

/** Whether every fixed input has exactly these dims (inputs not listed may have any shape). */
export function shapesMatch(feeds: Feeds, fixed: Record<string, number[]>): boolean {
  for (const [name, dims] of Object.entries(fixed)) {
    const tensor = feeds[name];
    if (!tensor || tensor.dims.length !== dims.length) return false;
    for (let axis = 0; axis < dims.length; axis++) if (tensor.dims[axis] !== dims[axis]) return false;
  }
  return true;
}

/**
 * Session config entries go through `extra`, which the Node binding flattens into AddConfigEntry
 * keys. Runner variants store them flat ('session.intra_op.allow_spinning': '0'); this nests them.
 */
export function configEntries(settings: Record<string, string | number | boolean>): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (!key.includes('.')) continue;
    const parts = key.split('.');
    let node = extra;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = String(value);
  }
  return extra;
}
