import { Tensor } from 'onnxruntime-node';
import type { Feeds } from '../core/feeds';
import type { ModuleSignature } from '../core/signature';
import { readSample } from '../capture/sample-store';
import { controlOf, type OnnxModule } from '../module/onnx-module';
import type { UnseenReplay } from './pipeline-timing';

/**
 * Inputs of a size capture never saw, within what it saw: on every dynamic axis other than the
 * batch axis whose captured sizes ranged from min to max, a size between them that is neither
 * (nor the most frequent), made by zero-padding or cropping a recorded call. A selection that only
 * wins on the exact captured shapes (a fixed-shape model, a plan tuned to them) shows here; real
 * pipelines rarely see their dataloader's exact shapes again. Undefined when no axis varied.
 */
export function unseenShapeFeeds(feeds: Feeds, signature: ModuleSignature): Feeds | undefined {
  const sizes = new Map<string, number>(); // one size per (axis, min, max): inputs that share a dimension keep sharing it
  let changed = false;
  const resized: Feeds = {};
  for (const spec of signature.inputs) {
    const tensor = feeds[spec.name];
    if (!tensor) return undefined;
    const dims = [...tensor.dims];
    for (const axis of spec.dynamicAxes) {
      if (signature.batching && axis === 0) continue;
      const [min, max, opt] = [spec.min[axis], spec.max[axis], spec.opt[axis]];
      if (!(max - min >= 2)) continue;
      const key = `${axis}:${min}:${max}`;
      let size = sizes.get(key);
      if (size === undefined) {
        size = sizeBetween(min, max, opt);
        if (size === undefined) continue;
        sizes.set(key, size);
      }
      dims[axis] = size;
      changed = true;
    }
    resized[spec.name] = dims.every((d, i) => d === tensor.dims[i]) ? tensor : resize(tensor, dims);
  }
  return changed ? resized : undefined;
}

/**
 * A size strictly between min and max, not the most frequent one, nearest the middle, and a
 * multiple of what the captured sizes have in common (their greatest common divisor): models with
 * strides often take only multiples of 8 or 32, and a size the source itself refuses tests nothing.
 */
function sizeBetween(min: number, max: number, opt: number): number | undefined {
  const step = gcd(gcd(min, max), opt);
  const middle = (min + max) / 2;
  let best: number | undefined;
  for (let size = min + step; size < max; size += step) {
    if (size !== opt && (best === undefined || Math.abs(size - middle) < Math.abs(best - middle))) best = size;
  }
  return best;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The tensor cropped or zero-padded to `dims` (same rank), element by element. */
function resize(tensor: Tensor, dims: number[]): Tensor {
  const source = tensor.data as unknown as ArrayLike<number | bigint> & { constructor: new (n: number) => ArrayLike<number | bigint> };
  const total = dims.reduce((a, b) => a * b, 1);
  const target = new source.constructor(total) as unknown as (number | bigint)[];
  const from = tensor.dims;
  const strides = (shape: readonly number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const [fromStrides, toStrides] = [strides(from), strides(dims)];
  for (let index = 0; index < total; index++) {
    let offset = 0, inside = true;
    for (let axis = 0; axis < dims.length; axis++) {
      const coordinate = Math.floor(index / toStrides[axis]) % dims[axis];
      if (coordinate >= from[axis]) { inside = false; break; }
      offset += coordinate * fromStrides[axis];
    }
    if (inside) target[index] = source[offset];
  }
  return new Tensor(tensor.type as 'float32', target as unknown as Float32Array, dims);
}

/** Recorded calls of each module that unseenShapeFeeds can resize, at most this many per module: the replay stays short. */
const REPLAY_CALLS = 2;

/**
 * Per module, in the order given (the pipeline's), its recorded calls made into sizes capture never
 * saw, for compareUnseenReplay. Modules with no varied dynamic axis are left out; none at all: [].
 */
export function unseenReplays(modules: { name: string; module: OnnxModule<unknown, unknown>; signature: ModuleSignature; sampleFiles: readonly string[] }[]): UnseenReplay[] {
  return modules.flatMap(({ name, module, signature, sampleFiles }) => {
    const feeds: Feeds[] = [];
    for (const file of sampleFiles) {
      if (feeds.length >= REPLAY_CALLS) break;
      const unseen = unseenShapeFeeds(readSample(file).inputs, signature);
      if (unseen) feeds.push(unseen);
    }
    return feeds.length > 0 ? [{ module: name, run: (f: Feeds) => controlOf(module).run(f), feeds }] : [];
  });
}
