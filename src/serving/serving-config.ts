import { IsInt, IsNumber, IsOptional, Max, Min, ValidateBy } from 'class-validator';
import * as os from 'os';
import { validateConfig } from '../config/resolve';
import type { PerformanceResult } from '../core/status';

/** `workers`: a positive integer or 'auto'. */
function IsWorkerCount(): PropertyDecorator {
  return ValidateBy({
    name: 'isWorkerCount',
    validator: {
      validate: (value: unknown) => value === 'auto' || (Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 64),
      defaultMessage: () => "$property must be 'auto' or an integer from 1 to 64",
    },
  });
}

/** What users pass as `serving: {...}` (globally or per module). Every field is optional. */
export class ServingConfigInput {
  /**
   * Worker threads that each hold a session of the module. 'auto': one per core (at most 4) for CPU
   * runners, one for GPU runners. Threads per session are the cores divided by the workers.
   * @default 'auto'
   */
  @IsOptional() @IsWorkerCount() workers?: number | 'auto';
  /** How long a call may wait for others to batch with. @default from the profile: half a batch-1 run, 0.5-20 ms */
  @IsOptional() @IsNumber() @Min(0) @Max(10_000) maxDelayMs?: number;
  /** Largest batch (rows on axis 0) that concurrent calls are gathered into; 1 turns batching off. @default from the profile */
  @IsOptional() @IsInt() @Min(1) @Max(4096) maxBatchSize?: number;
  /** Calls that may wait for a worker; past this, calls are rejected with code 'NAV_QUEUE_FULL'. @default 64 */
  @IsOptional() @IsInt() @Min(0) @Max(1_000_000) maxQueue?: number;
  /**
   * Nice value of the worker threads (Linux; ignored elsewhere): a service's event loop mostly
   * sleeps, and when a request or /health arrives it should get a core at once rather than wait
   * behind inference. 0 keeps the workers at the event loop's priority. @default 10
   */
  @IsOptional() @IsInt() @Min(0) @Max(19) workerNice?: number;
  /**
   * Longest time a call may run on a worker; past it the call fails with code 'NAV_TIMEOUT' and
   * its worker is abandoned (it exits once onnxruntime returns) and replaced. 0: no limit. Off by
   * default: a legitimately slow call would fail, and each abandoned worker holds a model copy until
   * its run returns. @default 0
   */
  @IsOptional() @IsInt() @Min(0) @Max(86_400_000) callTimeoutMs?: number;
}

/** The settings after validation, with every default filled in. */
export interface ServingConfig {
  workers: number;
  /** onnxruntime intra-op threads per worker's session. */
  threadsPerWorker: number;
  maxDelayMs: number;
  maxBatchSize: number;
  maxQueue: number;
  workerNice: number;
  /** 0: no limit. */
  callTimeoutMs: number;
  /** Why batching is on or off with these limits, for load reports. */
  batchingReason: string;
}

const DEFAULT_MAX_QUEUE = 64;
const DEFAULT_WORKER_NICE = 10;

/** Batching pays at a batch size when its profiled throughput beats batch 1's by this factor. */
const BATCH_GAIN = 1.1;

/**
 * Validates `serving` (errors name the property path, e.g. `serving.workers`) and fills in the
 * defaults. `performance` is the selected candidate's profile: batching defaults come from it.
 */
export function resolveServingConfig(
  input: unknown,
  context: { module?: string; device?: 'cpu' | 'gpu'; performance?: PerformanceResult[]; cores?: number } = {},
): ServingConfig {
  const valid = validateConfig(ServingConfigInput, input, { module: context.module, what: 'serving' });
  const cores = context.cores ?? os.availableParallelism();
  const workers = valid.workers === undefined || valid.workers === 'auto' ? autoWorkers(context.device ?? 'cpu', cores) : valid.workers;
  const profiled = batchingFromProfile(context.performance ?? []);
  return {
    workers,
    // Sessions that share the cores between them: more threads than cores only adds switching.
    threadsPerWorker: Math.max(1, Math.floor(cores / workers)),
    maxBatchSize: valid.maxBatchSize ?? profiled.maxBatchSize,
    maxDelayMs: valid.maxDelayMs ?? profiled.maxDelayMs,
    maxQueue: valid.maxQueue ?? DEFAULT_MAX_QUEUE,
    workerNice: valid.workerNice ?? DEFAULT_WORKER_NICE,
    callTimeoutMs: valid.callTimeoutMs ?? 0,
    batchingReason: valid.maxBatchSize !== undefined ? `maxBatchSize ${valid.maxBatchSize} from the config` : profiled.reason,
  };
}

/**
 * One single-threaded session per core runs independent requests side by side, which on small
 * CPUs beats one session splitting each convolution over the cores (intra-op sync costs). GPU
 * runners get one worker: a GPU already runs one session's kernels in parallel, and concurrent
 * WebGPU sessions crash onnxruntime.
 */
function autoWorkers(device: 'cpu' | 'gpu', cores: number): number {
  return device === 'gpu' ? 1 : Math.max(1, Math.min(4, cores));
}

/**
 * Batch only when the profile shows it pays: among the batch sizes whose throughput beats batch 1
 * by 10%, the smallest within 5% of the best (larger batches would only add latency). Waiting
 * longer than half a batch-1 run costs more than a batch saves, so that bounds the delay.
 */
export function batchingFromProfile(performance: PerformanceResult[]): { maxBatchSize: number; maxDelayMs: number; reason: string } {
  const one = performance.find((p) => p.batchSize === 1);
  const maxDelayMs = one ? Math.min(20, Math.max(0.5, one.p50Ms / 2)) : 2;
  if (!one) return { maxBatchSize: 1, maxDelayMs, reason: 'batching off: the profile has no batch-1 figure to compare with' };
  const paying = performance.filter((p) => p.batchSize > 1 && p.throughput >= one.throughput * BATCH_GAIN);
  if (paying.length === 0) return { maxBatchSize: 1, maxDelayMs, reason: 'batching off: no profiled batch size raised throughput by 10% over batch 1' };
  const best = Math.max(...paying.map((p) => p.throughput));
  const chosen = paying.filter((p) => p.throughput >= best * 0.95).reduce((a, b) => (b.batchSize < a.batchSize ? b : a));
  return {
    maxBatchSize: chosen.batchSize,
    maxDelayMs,
    reason: `batching up to ${chosen.batchSize}: ${chosen.throughput.toFixed(0)}/s vs ${one.throughput.toFixed(0)}/s at batch 1`,
  };
}
