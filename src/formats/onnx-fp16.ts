import { saveConvertedModel } from '../onnx/converted-model';
import { convertToFloat16, DEFAULT_FP16_KEEP_OPS } from '../onnx/float16';
import { modelSourceDir, readModel } from '../onnx/model-io';
import type { Format } from './format';

/**
 * The model in float16 (weights, constants and computation), with graph inputs and outputs kept in
 * their types by Casts, so callers feed and read the same tensors as before. Ops that are unsafe in
 * float16 or lack float16 kernels (DEFAULT_FP16_KEEP_OPS, ai.onnx.ml, unknown custom ops, If/Loop/Scan
 * bodies) stay float32, extended by the module's `fp16KeepOps`. A candidate for the GPU providers:
 * on the CPU provider onnxruntime only adds casts around float16, so the CPU runner does not load it.
 */
export const onnxFp16Format: Format = {
  name: 'onnx-fp16',
  precision: 'fp16',
  description: `float16 weights and compute, float32 IO; ${DEFAULT_FP16_KEEP_OPS.length} ops kept in float32 (plus fp16KeepOps)`,
  async convert({ source, outputDir, config, log }) {
    const model = readModel(source.path);
    const result = convertToFloat16(model, { keepOps: config.fp16KeepOps, modelDir: modelSourceDir(model) });
    if ('notApplicable' in result) return result;
    log(result.notes);
    const saved = saveConvertedModel(result.model, outputDir, model);
    return {
      artifact: { format: 'onnx-fp16', path: saved.path, precision: 'fp16', sizeBytes: saved.sizeBytes },
      notes: result.notes,
    };
  },
};
