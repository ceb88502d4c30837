import { convertToFloat16, DEFAULT_FP16_KEEP_OPS } from '../onnx/float16';
import type { Format } from './format';
import { graphRewriteFormat } from './graph-rewrite';

export interface OnnxFp16Options {
  /** Ops kept in float32 besides DEFAULT_FP16_KEEP_OPS and the module's `fp16KeepOps`. */
  keepOps?: readonly string[];
  /** Names of nodes kept in float32. */
  keepNodes?: readonly string[];
}

/**
 * The model in float16 (weights, constants and computation), with graph inputs and outputs kept in
 * their types by Casts, so callers feed and read the same tensors as before. Ops that are unsafe in
 * float16 or lack float16 kernels (DEFAULT_FP16_KEEP_OPS, ai.onnx.ml, unknown custom ops, If/Loop/Scan
 * bodies) stay float32, extended by the module's `fp16KeepOps`. Models already holding float16 are
 * not applicable. A candidate for the GPU providers: on the CPU provider onnxruntime only adds casts
 * around float16, so the CPU runner does not load it.
 */
export function createOnnxFp16Format(options: OnnxFp16Options = {}): Format {
  return graphRewriteFormat({
    name: 'onnx-fp16',
    precision: 'fp16',
    description: `float16 weights and compute, IO types kept; ${DEFAULT_FP16_KEEP_OPS.length} ops kept in float32 (plus fp16KeepOps)`,
    rewrite: (model, { config }) =>
      convertToFloat16(model, { keepOps: [...(options.keepOps ?? []), ...config.fp16KeepOps], keepNodes: options.keepNodes }),
  });
}

export const onnxFp16Format: Format = createOnnxFp16Format();
