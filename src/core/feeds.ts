import type { Tensor } from 'onnxruntime-node';

/** Named tensors in or out of a model, as onnxruntime-node's `InferenceSession.run` takes and returns them. */
export type Feeds = Record<string, Tensor>;
