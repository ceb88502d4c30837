/**
 * Dynamic int8 quantization of MatMul/Gemm nodes with constant weights, following the rules of
 * onnxruntime's quantize_dynamic (QOperator, IntegerOps): weights quantized offline, activations
 * at run time.
 *
 *   DynamicQuantizeLinear(A) → A_q (uint8), A_scale, A_zero_point      (once per activation)
 *   MatMulInteger(A_q, W_q, A_zero_point, W_zero_point) → int32
 *   Cast(to=FLOAT) → Mul(·, A_scale · W_scale) → the node's output
 *
 * onnxruntime's CPU provider fuses the chain into com.microsoft:DynamicQuantizeMatMul.
 * Weights: int8 symmetric in [-127, 127] (zero point 0) by default, or uint8 asymmetric in
 * [0, 255]; per tensor by default, per output column with perChannel; reduceRange uses 7 bits
 * ([-64, 64] / [0, 127]) for CPUs whose int8 dot products saturate (AVX2 without VNNI).
 * scale = (rmax − rmin) / (qmax − qmin) over the range widened to include 0 (±absmax when
 * symmetric), zero point = round(qmin − rmin / scale), q = clip(round(x / scale) + zero point).
 */
import type { RewriteResult } from './converted-model';
import { DataType } from './data-types';
import { intAttr, opsetVersion, tensorFromArray } from './graph';
import type { ModelProto } from './messages';
import { modelSourceDir } from './model-io';
import { rewriteWeightMatMuls, roundHalfEven, type WeightMatMul, type WeightMatMulOptions } from './weight-matmuls';

export interface DynamicQuantizationOptions extends WeightMatMulOptions {
  /** One scale (and zero point) per output column instead of one per weight. Default false. */
  perChannel?: boolean;
  /** Weight element type. Default 'int8' (symmetric); 'uint8' is asymmetric. */
  weightType?: 'int8' | 'uint8';
  /** 7-bit weights. Default false. */
  reduceRange?: boolean;
}

/** DynamicQuantizeLinear exists from opset 11. */
const MIN_OPSET = 11;

export function quantizeDynamic(model: ModelProto, options: DynamicQuantizationOptions = {}): RewriteResult {
  const graph = model.graph;
  if (!graph) return { notApplicable: 'the model has no graph' };
  const opset = opsetVersion(model) ?? 1;
  if (opset < MIN_OPSET) return { notApplicable: `the model's opset ${opset} is below ${MIN_OPSET}, where DynamicQuantizeLinear starts` };
  const quantizedActivations = new Map<string, ActivationNames>();
  let weightBytes = 0;
  const rewritten = rewriteWeightMatMuls<WeightNames>(graph, options, modelSourceDir(model), {
    before(target, fresh) {
      if (quantizedActivations.has(target.activation)) return [];
      const activation = { q: fresh(`${target.activation}_quantized`), scale: fresh(`${target.activation}_scale`), zeroPoint: fresh(`${target.activation}_zero_point`) };
      quantizedActivations.set(target.activation, activation);
      return [
        {
          input: [target.activation],
          output: [activation.q, activation.scale, activation.zeroPoint],
          name: fresh(`${target.activation}_QuantizeLinear`),
          opType: 'DynamicQuantizeLinear',
        },
      ];
    },
    quantize(target, matrix, fresh) {
      const quantized = quantizeWeight(matrix, target, options);
      const name = target.weight.name!;
      const weight = { q: fresh(`${name}_quantized`), scale: fresh(`${name}_scale`), zeroPoint: fresh(`${name}_zero_point`) };
      const paramDims = options.perChannel ? [target.n] : [];
      weightBytes += quantized.values.byteLength;
      return {
        weight,
        initializers: [
          tensorFromArray(weight.q, quantized.values, [target.k, target.n], quantized.type),
          tensorFromArray(weight.scale, quantized.scales, paramDims, 'float32'),
          tensorFromArray(weight.zeroPoint, quantized.zeroPoints, paramDims, quantized.type),
        ],
      };
    },
    product(target, weight, product, fresh) {
      const activation = quantizedActivations.get(target.activation)!;
      const base = target.node.name || target.node.output![0];
      const integer = fresh(`${product}_quantized`);
      const asFloat = fresh(`${integer}_cast_output`);
      const scales = fresh(`${base}_quant_scales_mul`);
      return [
        { input: [activation.q, weight.q, activation.zeroPoint, weight.zeroPoint], output: [integer], name: fresh(`${base}_quant`), opType: 'MatMulInteger' },
        { input: [integer], output: [asFloat], name: fresh(`${integer}_cast`), opType: 'Cast', attribute: [intAttr('to', DataType.FLOAT)] },
        { input: [activation.scale, weight.scale], output: [scales], name: fresh(`${base}_quant_scales_mul`), opType: 'Mul' },
        { input: [asFloat, scales], output: [product], name: fresh(`${base}_quant_output_scale_mul`), opType: 'Mul' },
      ];
    },
  });
  if ('notApplicable' in rewritten) return rewritten;
  const mode = `${options.weightType ?? 'int8'} weights ${options.perChannel ? 'per channel' : 'per tensor'}${options.reduceRange ? ', reduced range' : ''}`;
  const notes = `${rewritten.summary}; ${mode}; ${rewritten.weights} weight(s), ${(weightBytes / 2 ** 20).toFixed(1)} MiB in int8`;
  return { model: { ...model, graph: rewritten.graph }, notes };
}

interface WeightNames {
  q: string;
  scale: string;
  zeroPoint: string;
}
type ActivationNames = WeightNames;

interface QuantizedWeight {
  type: 'int8' | 'uint8';
  values: Int8Array | Uint8Array;
  scales: Float32Array;
  zeroPoints: Int8Array | Uint8Array;
}

/** Quantizes a row-major [K, N] matrix per tensor or per column. */
export function quantizeWeight(matrix: Float32Array, shape: Pick<WeightMatMul, 'k' | 'n'>, options: DynamicQuantizationOptions = {}): QuantizedWeight {
  const { k, n } = shape;
  const type = options.weightType ?? 'int8';
  const signed = type === 'int8';
  // onnxruntime's defaults: symmetric for signed weights, asymmetric for unsigned.
  const symmetric = signed;
  const [qmin, qmax] = signed ? (options.reduceRange ? [-64, 64] : [-127, 127]) : options.reduceRange ? [0, 127] : [0, 255];
  const groups = options.perChannel ? n : 1;
  const values = signed ? new Int8Array(k * n) : new Uint8Array(k * n);
  const scales = new Float32Array(groups);
  const zeroPoints = signed ? new Int8Array(groups) : new Uint8Array(groups);
  const group = (index: number): number => (options.perChannel ? index % n : 0);
  const rmin = new Float64Array(groups);
  const rmax = new Float64Array(groups);
  for (let i = 0; i < matrix.length; i++) {
    const g = group(i);
    if (matrix[i] < rmin[g]) rmin[g] = matrix[i];
    if (matrix[i] > rmax[g]) rmax[g] = matrix[i];
  }
  const zeroPointOf = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    let low = rmin[g];
    let high = rmax[g];
    if (symmetric) {
      const absmax = Math.max(-low, high);
      low = -absmax;
      high = absmax;
    }
    let scale = Math.fround((high - low) / (qmax - qmin));
    if (scale === 0 || !Number.isFinite(scale)) scale = 1;
    scales[g] = scale;
    zeroPointOf[g] = Math.min(qmax, Math.max(qmin, roundHalfEven(qmin - low / scale)));
    zeroPoints[g] = zeroPointOf[g];
  }
  for (let i = 0; i < matrix.length; i++) {
    const g = group(i);
    const q = roundHalfEven(Math.fround(matrix[i] / scales[g])) + zeroPointOf[g];
    values[i] = Math.min(qmax, Math.max(qmin, q));
  }
  return { type, values, scales, zeroPoints };
}
