import { NavigatorError } from '../core/errors';
import { shapesMatch } from '../runners/ort-session';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import type { PerformanceResult } from '../core/status';
import { Batcher } from './batching';
import { GPU_GATE } from './run-gate';
import { acceptedShapes, recipeDevice, type SessionRecipe } from './session-recipe';
import { resolveServingConfig, type ServingConfig, type ServingConfigInput } from './serving-config';
import { WorkerPool } from './worker-pool';

export interface ServedSessionOptions {
  /** `serving: {...}` as the user gave it; validated here. */
  serving?: ServingConfigInput;
  /** The served candidate's profile: the batching defaults come from it. */
  performance?: PerformanceResult[];
  /** False when axis 0 is not a batch axis (navModule's `batching` option). @default true */
  batching?: boolean;
  /** The cores this module's workers may use ('auto' workers and threads per worker fit in them). @default every core */
  cores?: number;
}

/** A RunnerSession whose calls run in worker threads, batched and bounded. */
export interface ServedSession extends RunnerSession {
  readonly config: ServingConfig;
  /** Runs the feeds once on every worker, so that the first real call is not the slow one. */
  warmUp(feeds: Feeds): Promise<void>;
  /** Calls admitted and not yet settled. */
  readonly outstanding: number;
  /** Batches of two or more calls sent so far, the calls they held, and the calls that timed out. */
  stats(): { batches: number; batchedCalls: number; timeouts: number };
  /** @internal The worker pool: tests kill its workers. */
  readonly pool: WorkerPool;
}

/**
 * Creates a module's session in a pool of worker threads (each loads its own copy from the
 * recipe), behind dynamic batching where it pays and a bounded queue. Same contract as any
 * RunnerSession, so a module binds it like a main-thread one.
 */
export async function createServedSession(recipe: SessionRecipe, options: ServedSessionOptions = {}): Promise<ServedSession> {
  const device = recipeDevice(recipe);
  const config = resolveServingConfig(options.serving, { module: recipe.module, device, performance: options.performance, cores: options.cores });
  if (device === 'gpu' && config.workers > 1) {
    throw new NavigatorError(`serving.workers is ${config.workers}, but GPU sessions are served by one worker`, {
      module: recipe.module,
      subject: 'serving.workers',
      fix: "use workers: 1 or 'auto' (concurrent WebGPU sessions crash onnxruntime; one GPU session already uses the whole GPU)",
    });
  }
  if (options.batching === false) {
    config.maxBatchSize = 1;
    config.batchingReason = 'batching off: the module has no batch axis';
  }
  // Batches are judged by the chosen session's own shapes: with a source beside it (the recipe's
  // fallback) every batch of another size would go to the source, not to the selection.
  const fixedShapes = acceptedShapes(recipe);
  const chosenShapes = recipe.kind === 'candidate' ? acceptedShapes({ ...recipe, fallback: undefined }) : fixedShapes;
  if (chosenShapes && config.maxBatchSize > 1) {
    config.maxBatchSize = 1;
    config.batchingReason = 'batching off: the session only takes fixed input shapes';
  }
  const pool = await WorkerPool.start(recipe, {
    size: config.workers,
    threads: config.threadsPerWorker,
    nice: config.workerNice,
    callTimeoutMs: config.callTimeoutMs,
    // GPU sessions of every served module take turns: concurrent WebGPU sessions crash onnxruntime.
    gate: device === 'gpu' ? GPU_GATE : undefined,
  });
  const batcher = config.maxBatchSize > 1 ? new Batcher(pool, { module: recipe.module, maxBatchSize: config.maxBatchSize, maxDelayMs: config.maxDelayMs }) : undefined;
  // Calls running (one per worker) plus those allowed to wait.
  const limit = config.workers + config.maxQueue;
  let outstanding = 0;

  const settle = <T>(promise: Promise<T>): Promise<T> => {
    outstanding++;
    return promise.finally(() => outstanding--);
  };

  return {
    config,
    pool,
    get outstanding() {
      return outstanding;
    },
    run(feeds: Feeds): Promise<Feeds> {
      if (outstanding >= limit) {
        return Promise.reject(
          new NavigatorError(`the serving queue is full: ${outstanding} calls are running or waiting (${config.workers} workers, maxQueue ${config.maxQueue})`, {
            module: recipe.module,
            subject: 'serving.maxQueue',
            code: 'NAV_QUEUE_FULL',
            fix: 'answer 503 and let the client retry later, or raise serving.maxQueue / serving.workers',
          }),
        );
      }
      return settle(batcher ? batcher.run(feeds) : pool.run(feeds));
    },
    accepts: fixedShapes ? (feeds) => shapesMatch(feeds, fixedShapes) : () => true,
    stats: () => ({ ...(batcher?.stats ?? { batches: 0, batchedCalls: 0 }), timeouts: pool.timeouts }),
    warmUp: (feeds) => pool.runOnEach(feeds),
    async release() {
      batcher?.flushAll();
      await pool.release();
    },
  };
}
