import type { Tensor, TypedTensor } from 'onnxruntime-node';

/** Named tensors in or out of a model, as onnxruntime-node's `InferenceSession.run` takes and returns them. */
export type Feeds = Record<string, Tensor>;

/** One recorded call of a module: its inputs and the source model's outputs. */
export interface RecordedCall {
  inputs: Feeds;
  outputs: Feeds;
}

/**
 * Typed named tensors, from names to tensor types: `Tensors<{ input_ids: 'int64'; mask: 'int64' }>`.
 * As a module's `In` or `Out` (`OnnxModule<Tensors<...>, Tensors<...>>`), feeds and results are
 * checked at compile time: a misspelt name or a tensor of another type does not compile.
 */
export type Tensors<T extends Record<string, Tensor.Type>> = { [K in keyof T]: TypedTensor<T[K]> };
