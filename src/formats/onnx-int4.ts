import { quantizeMatMulNBits, type NBitsOptions } from '../onnx/quantize-nbits';
import { DEFAULT_MIN_WEIGHT_ELEMENTS } from '../onnx/weight-matmuls';
import { RUNNER_KINDS, type Format } from '../core/plugin';
import { graphRewriteFormat } from './graph-rewrite';

/**
 * 4-bit weight-only quantization: MatMul and Gemm nodes whose B is a constant initializer of at
 * least `minWeightElements` (default DEFAULT_MIN_WEIGHT_ELEMENTS) become com.microsoft:MatMulNBits
 * (blocks of 32 rows, symmetric, accuracy_level 4: int8 compute on onnxruntime's CPU provider).
 * Activations stay float32. A model with nothing to quantize is not applicable.
 */
export function createOnnxInt4Format(options: NBitsOptions = {}): Format {
  return graphRewriteFormat({
    name: 'onnx-int4',
    precision: 'int4',
    // MatMulNBits with accuracy_level 4 is a CPU kernel.
    loadedBy: [RUNNER_KINDS.onnxruntimeCpu],
    description: `4-bit block-wise MatMulNBits weights (block ${options.blockSize ?? 32}, ${options.symmetric === false ? 'asymmetric' : 'symmetric'}, ≥ ${options.minWeightElements ?? DEFAULT_MIN_WEIGHT_ELEMENTS} elements)`,
    rewrite: (model) => quantizeMatMulNBits(model, options),
  });
}

export const onnxInt4Format: Format = createOnnxInt4Format();
