import type { Tensor } from 'onnxruntime-node';

/** Named tensors in or out of a model, as onnxruntime-node's `InferenceSession.run` takes and returns them. */
export type Feeds = Record<string, Tensor>;

/** One recorded call of a module: its inputs and the source model's outputs. */
export interface RecordedCall {
  inputs: Feeds;
  outputs: Feeds;
}
