/**
 * 4-bit weight-only quantization of MatMul/Gemm nodes with constant weights, as
 * com.microsoft:MatMulNBits (the op onnxruntime's MatMulNBits quantizer emits; its CPU provider
 * runs it, with int8 compute at accuracy_level 4).
 *
 * Layout: the [K, N] weight is cut, per output column, into blocks of `blockSize` rows (the last
 * block zero-padded); B is uint8 [N, ceil(K/blockSize), blockSize/2], two 4-bit values per byte,
 * low nibble first; scales are float32 [N · blocks] (column-major over blocks); optional zero
 * points are 4-bit, packed [N · ceil(blocks/2)], and default to 8 when absent.
 * Symmetric (default): per block, m is the value of largest magnitude, scale = m / −8, so m maps to
 * −8 exactly; q = clip(round(x / scale), −8, 7) + 8. Asymmetric: the block's [min, max] widened to
 * include 0, scale = (max − min) / 15, zero point = clip(round(−min / scale), 0, 15).
 */
import { withOpset, type RewriteResult } from './converted-model';
import { intAttr, tensorFromArray } from './graph';
import type { ModelProto } from './messages';
import { modelSourceDir } from './model-io';
import { rewriteWeightMatMuls, roundHalfEven, type WeightMatMulOptions } from './weight-matmuls';

export interface NBitsOptions extends WeightMatMulOptions {
  /** Rows per quantization block: a power of two, at least 16. Default 32. */
  blockSize?: number;
  /** Symmetric blocks (no zero points). Default true. */
  symmetric?: boolean;
  /** MatMulNBits accuracy_level: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 compute. Default 4. */
  accuracyLevel?: number;
}

const MATMUL_NBITS_DOMAIN = 'com.microsoft';

export function quantizeMatMulNBits(model: ModelProto, options: NBitsOptions = {}): RewriteResult {
  const graph = model.graph;
  if (!graph) return { notApplicable: 'the model has no graph' };
  const blockSize = options.blockSize ?? 32;
  if (!Number.isInteger(Math.log2(blockSize)) || blockSize < 16) throw new RangeError(`blockSize ${blockSize} must be a power of two of at least 16`);
  const symmetric = options.symmetric ?? true;
  let packedBytes = 0;
  // Each weight becomes MatMulNBits' inputs after A: B, scales and, when asymmetric, zero points.
  const rewritten = rewriteWeightMatMuls<string[]>(graph, options, modelSourceDir(model), {
    quantize(target, matrix, fresh) {
      const blocks = quantizeBlocks(matrix, target.k, target.n, blockSize, symmetric);
      const name = target.weight.name!;
      const inputs = [fresh(`${name}_Q4`), fresh(`${name}_scales`)];
      const blockCount = Math.ceil(target.k / blockSize);
      const initializers = [
        tensorFromArray(inputs[0], blocks.packed, [target.n, blockCount, blockSize / 2], 'uint8'),
        tensorFromArray(inputs[1], blocks.scales, [target.n * blockCount], 'float32'),
      ];
      if (blocks.zeroPoints) {
        inputs.push(fresh(`${name}_zero_points`));
        initializers.push(tensorFromArray(inputs[2], blocks.zeroPoints, [blocks.zeroPoints.length], 'uint8'));
      }
      packedBytes += blocks.packed.byteLength;
      return { weight: inputs, initializers };
    },
    product: (target, inputs, product, fresh) => [
      {
        input: [target.activation, ...inputs],
        output: [product],
        name: fresh(`${target.node.name || product}_Q4`),
        opType: 'MatMulNBits',
        domain: MATMUL_NBITS_DOMAIN,
        attribute: [
          intAttr('K', target.k),
          intAttr('N', target.n),
          intAttr('bits', 4),
          intAttr('block_size', blockSize),
          intAttr('accuracy_level', options.accuracyLevel ?? 4),
        ],
      },
    ],
  });
  if ('notApplicable' in rewritten) return rewritten;
  const mode = `4-bit ${symmetric ? 'symmetric' : 'asymmetric'}, block ${blockSize}, accuracy_level ${options.accuracyLevel ?? 4}`;
  const notes = `${rewritten.summary}; ${mode}; ${rewritten.weights} weight(s), ${(packedBytes / 2 ** 20).toFixed(1)} MiB packed`;
  return { model: withOpset({ ...model, graph: rewritten.graph }, MATMUL_NBITS_DOMAIN, 1), notes };
}

export interface QuantizedBlocks {
  /** uint8 [N, blocks, blockSize/2]. */
  packed: Uint8Array;
  /** float32 [N · blocks]. */
  scales: Float32Array;
  /** Asymmetric only: uint8 [N · ceil(blocks/2)]. */
  zeroPoints?: Uint8Array;
}

/** Block-wise 4-bit quantization of a row-major [K, N] matrix, in MatMulNBits' layout. */
export function quantizeBlocks(matrix: Float32Array, k: number, n: number, blockSize: number, symmetric: boolean): QuantizedBlocks {
  const blocks = Math.ceil(k / blockSize);
  const bytesPerBlock = blockSize / 2;
  const packed = new Uint8Array(n * blocks * bytesPerBlock);
  const scales = new Float32Array(n * blocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * Math.ceil(blocks / 2));
  const q = new Uint8Array(blockSize);
  for (let col = 0; col < n; col++) {
    for (let block = 0; block < blocks; block++) {
      const start = block * blockSize;
      const end = Math.min(k, start + blockSize);
      let scale: number;
      let zeroPoint: number;
      if (symmetric) {
        let extreme = 0;
        for (let row = start; row < end; row++) {
          const value = matrix[row * n + col];
          if (Math.abs(value) > Math.abs(extreme)) extreme = value;
        }
        scale = Math.fround(extreme / -8);
        zeroPoint = 8;
      } else {
        let low = 0;
        let high = 0;
        for (let row = start; row < end; row++) {
          const value = matrix[row * n + col];
          if (value < low) low = value;
          if (value > high) high = value;
        }
        scale = Math.fround((high - low) / 15);
        zeroPoint = scale === 0 ? 8 : Math.min(15, Math.max(0, roundHalfEven(-low / scale)));
      }
      const inverse = scale === 0 ? 0 : 1 / scale;
      q.fill(zeroPoint);
      for (let row = start; row < end; row++) {
        q[row - start] = Math.min(15, Math.max(0, roundHalfEven(matrix[row * n + col] * inverse) + zeroPoint));
      }
      const offset = (col * blocks + block) * bytesPerBlock;
      for (let i = 0; i < bytesPerBlock; i++) packed[offset + i] = q[2 * i] | (q[2 * i + 1] << 4);
      scales[col * blocks + block] = scale;
      if (zeroPoints) {
        const index = col * Math.ceil(blocks / 2) + (block >> 1);
        zeroPoints[index] |= block & 1 ? zeroPoint << 4 : zeroPoint;
      }
    }
  }
  return { packed, scales, zeroPoints };
}
