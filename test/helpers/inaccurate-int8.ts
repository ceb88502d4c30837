import { Tensor } from 'onnxruntime-node';
import { GraphBuilder } from '../../src/onnx/builder';

export const INACCURATE_INT8_FEATURES = 64;

/**
 * A model that dynamic int8 quantization ruins: x [batch, 64] → y [batch, 64] = (x · m) @ W, both
 * float32.
 *
 * - 'weight-outlier' (default): W is uniform in ±0.1 except W[0][0] = 1000, and m scales feature 0
 *   by 1e-4 so that the outlier's contribution stays ordinary. A per-tensor int8 scale of
 *   1000/127 ≈ 7.9 rounds every other weight to 0, so y loses nearly everything; per-channel
 *   scales quantize column 0 (the outlier alone) apart from the other 63, and are accurate.
 * - 'activation-range': feature 0 is scaled by 1e4 (and row 0 of W by 1e-5). The activation's
 *   uint8 scale, ≈ 2e4/255, rounds every other feature to 0, whatever the weights' scales.
 */
export function inaccurateInt8Model(options: { cause?: 'weight-outlier' | 'activation-range'; seed?: number } = {}): Uint8Array {
  const { cause = 'weight-outlier', seed = 7 } = options;
  const n = INACCURATE_INT8_FEATURES;
  const b = new GraphBuilder(`inaccurate_int8_${cause.replace('-', '_')}`, { seed });
  const x = b.input('x', 'float32', ['batch', n]);
  const mask = new Float32Array(n).fill(1);
  mask[0] = cause === 'weight-outlier' ? 1e-4 : 1e4;
  const scaled = b.op('Mul', [x, b.initializer('feature_scale', mask, [n], 'float32')]);
  const weight = new Float32Array(n * n);
  let state = seed;
  const random = (): number => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < weight.length; i++) weight[i] = random() * 0.1;
  if (cause === 'weight-outlier') {
    // Column 0 holds only the outlier, so per-channel scales lose nothing there.
    for (let row = 1; row < n; row++) weight[row * n] = 0;
    weight[0] = 1000;
  }
  else for (let col = 0; col < n; col++) weight[col] *= 1e-5;
  const y = b.op('MatMul', [scaled, b.initializer('weight', weight, [n, n], 'float32')]);
  b.node('Identity', [y], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['batch', n]);
  return b.toBytes();
}

/** Inputs for it: row r, feature f = cos(r·7 + f), all of ordinary size. */
export function inaccurateInt8Input(batch: number): Tensor {
  const n = INACCURATE_INT8_FEATURES;
  return new Tensor('float32', Float32Array.from({ length: batch * n }, (_, i) => Math.cos(i * 0.37 + 1)), [batch, n]);
}
