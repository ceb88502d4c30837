import { IsArray, IsOptional, IsString } from 'class-validator';
import { RUNNER_KINDS, type Format } from '../core/plugin';
import { convertToFloat16, DEFAULT_FP16_KEEP_OPS } from '../onnx/float16';
import { graphRewriteFormat } from './graph-rewrite';

/** `formatOptions: { 'onnx-fp16': { keepOps, keepNodes } }` in a module's config. */
export class OnnxFp16Options {
  /** Ops kept in float32 besides DEFAULT_FP16_KEEP_OPS. */
  @IsOptional() @IsArray() @IsString({ each: true }) keepOps?: string[];
  /** Names of nodes kept in float32. */
  @IsOptional() @IsArray() @IsString({ each: true }) keepNodes?: string[];
}

/**
 * The model in float16 (weights, constants and computation), with graph inputs and outputs kept in
 * their types by Casts, so callers feed and read the same tensors as before. Ops that are unsafe in
 * float16 or lack float16 kernels (DEFAULT_FP16_KEEP_OPS, ai.onnx.ml, unknown custom ops, If/Loop/Scan
 * bodies) stay float32, extended by the options' `keepOps`. Models already holding float16 are
 * not applicable. A candidate for the GPU providers: on the CPU provider onnxruntime only adds casts
 * around float16, so the CPU runner does not load it.
 */
export const onnxFp16Format: Format<OnnxFp16Options> = graphRewriteFormat({
  name: 'onnx-fp16',
  precision: 'fp16',
  description: `float16 weights and compute, IO types kept; ${DEFAULT_FP16_KEEP_OPS.length} ops kept in float32 (plus formatOptions keepOps)`,
  loadedBy: [RUNNER_KINDS.onnxruntimeGpu],
  options: OnnxFp16Options,
  rewrite: (model, { options }) => convertToFloat16(model, { keepOps: options.keepOps ?? [], keepNodes: options.keepNodes }),
});
