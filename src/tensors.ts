import { Tensor } from 'onnxruntime-node';
import { float16BitsToFloat32 } from './onnx/tensor-data';
import type { Feeds } from './core/feeds';
import type { Tolerance } from './core/config';
import type { OutputError } from './core/status';

type NumericData = Exclude<Tensor['data'], string[]>;

/** A copy of a tensor whose axis 0 is `batch` long, cycling through the rows it has. */
function tileBatch(tensor: Tensor, batch: number): Tensor {
  const rows = tensor.dims[0];
  if (rows === batch) return tensor;
  const data = tensor.data as NumericData;
  const rowSize = rows === 0 ? 0 : data.length / rows;
  const Ctor = data.constructor as { new (length: number): NumericData };
  const out = new Ctor(rowSize * batch);
  for (let row = 0; row < batch; row++) {
    const from = (row % rows) * rowSize;
    (out as Float32Array).set((data as Float32Array).subarray(from, from + rowSize), row * rowSize);
  }
  return new Tensor(tensor.type as 'float32', out as Float32Array, [batch, ...tensor.dims.slice(1)]);
}

export function tileFeeds(feeds: Feeds, batch: number): Feeds {
  return Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, tileBatch(t, batch)]));
}

/** Values of a tensor as float64 numbers, whatever its numeric type. */
export function asNumbers(tensor: Tensor): Float64Array {
  const data = tensor.data as NumericData;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  if (tensor.type === 'float16') return Float64Array.from(data as Uint16Array, float16BitsToFloat32);
  return Float64Array.from(data as Float32Array);
}

export function compareTensors(output: string, candidate: Tensor, source: Tensor): OutputError {
  const shapeMismatch =
    candidate.dims.length !== source.dims.length || candidate.dims.some((d, i) => d !== source.dims[i]);
  const c = asNumbers(candidate);
  const s = asNumbers(source);
  let maxAbs = 0, maxRel = 0, diff2 = 0, src2 = 0, cand2 = 0, dot = 0, srcMax = 0, nonFinite = false, sourceNonFinite = 0;
  const n = shapeMismatch ? 0 : s.length;
  for (let i = 0; i < n; i++) {
    const a = c[i], b = s[i];
    if (!Number.isFinite(b)) {
      sourceNonFinite++;
      continue;
    }
    if (!Number.isFinite(a)) {
      // Counted as 0 in relL2 and cosine: the value is lost, and the figures stay numbers (NaN reads as null in JSON).
      nonFinite = true;
      maxAbs = Infinity;
      src2 += b * b; diff2 += b * b;
      srcMax = Math.max(srcMax, Math.abs(b));
      continue;
    }
    const d = Math.abs(a - b);
    maxAbs = Math.max(maxAbs, d);
    if (Math.abs(b) > 1e-6) maxRel = Math.max(maxRel, d / Math.abs(b));
    srcMax = Math.max(srcMax, Math.abs(b));
    diff2 += d * d; src2 += b * b; cand2 += a * a; dot += a * b;
  }
  const { cosine, relL2 } = similarity(dot, cand2, src2, diff2);
  return { output, maxAbsError: maxAbs, maxRelError: maxRel, relL2, cosine, sourceMaxAbs: srcMax, nonFinite, sourceNonFinite, shapeMismatch };
}

/**
 * Cosine similarity and ||candidate - reference|| / ||reference||, from the dot product and the
 * squared norms of the candidate, the reference and their difference. A zero vector has no
 * direction: the cosine is 1 where both are equal, else 0; against a zero reference the error is absolute.
 */
export function similarity(dot: number, candidate2: number, reference2: number, difference2: number): { cosine: number; relL2: number } {
  return {
    cosine: candidate2 > 0 && reference2 > 0 ? dot / Math.sqrt(reference2 * candidate2) : difference2 === 0 ? 1 : 0,
    relL2: reference2 > 0 ? Math.sqrt(difference2 / reference2) : Math.sqrt(difference2),
  };
}

export function describeShape(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/** Whether the tolerance judges the output as a whole (relative L2, cosine) rather than by its worst element. */
export function wholeOutput(tolerance: Tolerance): boolean {
  return tolerance.maxRelL2 !== undefined || tolerance.minCosine !== undefined;
}

/** The Tolerance rule (see its doc): finite, same shape, and within the bounds it sets. */
export function withinTolerance(error: OutputError, tolerance: Tolerance): boolean {
  if (error.nonFinite || error.shapeMismatch) return false;
  if (!wholeOutput(tolerance)) return error.maxAbsError <= tolerance.atol + tolerance.rtol * error.sourceMaxAbs;
  return error.relL2 <= (tolerance.maxRelL2 ?? Infinity) && error.cosine >= (tolerance.minCosine ?? -Infinity);
}
