import { quantizeDynamic, type DynamicQuantizationOptions } from '../onnx/quantize-dynamic';
import { DEFAULT_MIN_WEIGHT_ELEMENTS } from '../onnx/weight-matmuls';
import { RUNNER_KINDS, type Format } from '../core/plugin';
import { graphRewriteFormat } from './graph-rewrite';

/**
 * Dynamic int8 quantization, as onnxruntime's quantize_dynamic does it: the weights of MatMul and
 * Gemm nodes whose B is a constant initializer are quantized offline (int8, symmetric, per tensor
 * unless `perChannel`), the activations at run time (DynamicQuantizeLinear → MatMulInteger → Cast →
 * Mul by the scales, which onnxruntime's CPU provider fuses into DynamicQuantizeMatMul). Weights
 * under `minWeightElements` (default DEFAULT_MIN_WEIGHT_ELEMENTS) and the nodes in
 * `nodesToExclude` stay float32. A model with nothing to quantize is not applicable.
 */
export function createOnnxInt8Format(options: DynamicQuantizationOptions = {}): Format {
  return graphRewriteFormat({
    name: 'onnx-int8',
    precision: 'int8',
    // MatMulInteger and DynamicQuantizeLinear are CPU kernels.
    loadedBy: [RUNNER_KINDS.onnxruntimeCpu],
    description: `dynamic int8 quantization of MatMul/Gemm weights (${options.perChannel ? 'per channel' : 'per tensor'}, ≥ ${options.minWeightElements ?? DEFAULT_MIN_WEIGHT_ELEMENTS} elements)`,
    rewrite: (model) => quantizeDynamic(model, options),
  });
}

export const onnxInt8Format: Format = createOnnxInt8Format();
