import { InferenceSession } from 'onnxruntime-node';

/** Marks a replaced `InferenceSession.create` (interceptSessions) with the original it wraps. */
export const ORIGINAL_CREATE = Symbol.for('model-navigator:original-create');

type Create = (model: string | Uint8Array, options: InferenceSession.SessionOptions) => Promise<InferenceSession>;

/**
 * onnxruntime's own `create`, taken when this file loads (before interceptSessions can replace it,
 * and unwrapped if it already was): the navigator's own sessions are never intercepted.
 */
const ortCreate: Create = (() => {
  let create = InferenceSession.create as unknown as Create & { [ORIGINAL_CREATE]?: Create };
  while (create[ORIGINAL_CREATE]) create = create[ORIGINAL_CREATE] as typeof create;
  return create.bind(InferenceSession);
})();

/** A plain onnxruntime-node session, never intercepted. */
export function createInferenceSession(model: string | Uint8Array, options: InferenceSession.SessionOptions): Promise<InferenceSession> {
  return ortCreate(model, options);
}
