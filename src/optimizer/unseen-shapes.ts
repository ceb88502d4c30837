import { Tensor } from 'onnxruntime-node';
import type { Feeds } from '../core/feeds';
import type { ModuleSignature } from '../core/signature';
import { readSample } from '../capture/sample-store';
import { controlOf, type OnnxModule } from '../module/onnx-module';
import type { Decision, PipelineComparison, UnseenComparison } from '../core/status';
import { isPlainSource, withDecisions, type Choices, type PipelineContext, type StepOutcome } from './choices';
import { firstFailure, takenBy } from './confirm';
import { alternatePasses, clearlySlower, comparison } from './pipeline-timing';

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

/** A module's recorded calls made into sizes capture never saw (unseen-shapes.ts), to replay through the module as bound. */
export interface UnseenReplay {
  module: string;
  run(feeds: Feeds): Promise<unknown>;
  feeds: Feeds[];
}

/**
 * The pipeline check on shapes capture never saw: the modules' unseen-size calls replayed in
 * pipeline order, every module bound at once (so their sessions and thread pools live side by side
 * as in the pipeline), against the same replay on the original models, passes alternating. Gives
 * the whole replay and each module's part of it, and the modules whose bound session failed on a
 * call the original took. Calls the original itself refuses are left out; none left: undefined.
 */
export async function compareUnseenReplay(replays: UnseenReplay[], useOriginal: (on: boolean) => void): Promise<UnseenComparison | undefined> {
  // Each run here is also the untimed first run of a new shape (allocations, kernel choice), paid once.
  useOriginal(true);
  const usable: UnseenReplay[] = [];
  for (const replay of replays) {
    const feeds = await takenBy(replay, replay.feeds);
    if (feeds.length > 0) usable.push({ ...replay, feeds });
  }
  useOriginal(false);
  if (usable.length === 0) return undefined;
  const failed: Record<string, string> = {};
  for (const replay of usable) {
    const failure = await firstFailure(replay, replay.feeds);
    if (failure) failed[replay.module] = failure;
  }
  const timed = usable.filter((replay) => !failed[replay.module]);
  if (timed.length === 0) return { ...UNTIMED, modules: {}, failed };
  const passes = await alternatePasses(async () => {
    const ms: number[] = [];
    for (const { run, feeds } of timed) {
      const start = performance.now();
      for (const f of feeds) await run(f);
      ms.push(performance.now() - start);
    }
    return ms;
  }, useOriginal);
  return { ...comparison(passes), modules: Object.fromEntries(timed.map(({ module }, i) => [module, comparison(passes, i)])), failed };
}

/** The figures of a replay in which every module failed: nothing was timed. */
const UNTIMED: PipelineComparison = { beforeMs: 0, afterMs: 0, beforeQuartilesMs: [0, 0], afterQuartilesMs: [0, 0] };

const ms = (timing: PipelineComparison) => `${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms`;

/**
 * The pipeline check on shapes capture never saw (compareUnseenReplay): a module whose part of the
 * replay is slower beyond doubt than its original goes back to its source; if only the whole replay
 * is (modules slowing each other), every module whose choice the user did not name does. The
 * dataloader's passes alone would keep a selection that wins only on the exact captured shapes.
 */
export async function unseenShapesStep(context: PipelineContext, choices: Choices): Promise<(StepOutcome & { unseen: UnseenComparison; reverted: boolean }) | undefined> {
  const rebound = context.modules.filter((m) => !isPlainSource(m.status, choices.get(m.name)));
  if (rebound.length === 0) return undefined;
  const unseen = await context.timeUnseen();
  if (!unseen) return undefined;
  const notes = [`on shapes capture never saw (recorded calls padded or cropped), the rebound modules took ${ms(unseen)}`];
  const unnamed = rebound.filter((m) => m.strategy.type !== 'selected');
  const failedOrSlower = rebound.filter((m) => unseen.failed[m.name] || (unseen.modules[m.name] && clearlySlower(unseen.modules[m.name])));
  const back = failedOrSlower.length > 0 ? failedOrSlower : clearlySlower(unseen) ? unnamed : [];
  if (back.length === 0) return { choices, notes, unseen, reverted: false };
  const decisions = back.map(({ name, status }): [string, Decision] => {
    const part = unseen.modules[name];
    const reason = unseen.failed[name]
      ? `failed on a size capture never saw that the original model takes (${unseen.failed[name]}), so the source model runs`
      : part && clearlySlower(part)
        ? `slower on shapes capture never saw: ${ms(part)} for its part of the pipeline replay, so the source model runs`
        : `the pipeline was slower on shapes capture never saw (${ms(unseen)}), so the source model runs`;
    return [name, { step: 'unseen-shapes', key: status.baseline, reason }];
  });
  notes.push(`failed or slower there beyond the spread: ${back.map((m) => m.name).join(', ')} run their original models`);
  const next = withDecisions(choices, decisions);
  await context.apply(next);
  return { choices: next, notes, unseen, reverted: true };
}
