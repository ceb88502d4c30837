import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { RunGate } from './run-gate';
import type { SessionRecipe } from './session-recipe';
import { BufferPool, fromWire, toWire } from './tensor-wire';
import type { FromWorker, ToWorker, WorkerInit } from './worker-main';

interface Call {
  feeds: Feeds;
  /** Whether the feeds' buffers are ours to move (a concatenated batch). */
  owned: boolean;
  resolve(outputs: Feeds): void;
  reject(error: unknown): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  current: { id: number; call: Call } | undefined;
  /** Fails the current call once it runs past callTimeoutMs. */
  timer: NodeJS.Timeout | undefined;
  /** Whether this worker's run holds the gate (held until the run returns, even after a timeout). */
  gated: boolean;
  /** Set when the call timed out: the worker is left to exit once its run returns, and is not replaced again. */
  abandoned: boolean;
  exited: Promise<void>;
}

export interface PoolOptions {
  size: number;
  /** onnxruntime intra-op threads per worker's session. */
  threads: number;
  nice?: number;
  /** A call running longer on its worker fails with code 'NAV_TIMEOUT'; 0: no limit. */
  callTimeoutMs?: number;
  /** Shared with other pools: at most one run in flight among them (GPU sessions). */
  gate?: RunGate;
}

/** Replacement workers that fail to load the session in a row before the pool gives up. */
const MAX_START_FAILURES = 3;

/**
 * Worker threads that each hold their own session of one module. Each worker runs one call at a
 * time (onnxruntime runs synchronously in it anyway); waiting calls queue here, on the main thread,
 * where they can still be batched or rejected. A worker that dies fails its call and is replaced; a
 * call past callTimeoutMs fails at once and its worker is abandoned (see abandon) and replaced.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** Workers whose call timed out, until they exit: release() waits for them too. */
  private readonly abandoned = new Set<Slot>();
  private readonly queue: Call[] = [];
  private nextId = 0;
  private releasing = false;
  private startFailures = 0;
  private brokenReason: string | undefined;
  /** Until start() has every first worker loaded, a failing worker fails the start instead of being replaced. */
  private started = false;
  /** Input buffers back from the workers, for the next calls' copies (see BufferPool). */
  private readonly spares: BufferPool;
  /** Calls failed with NAV_TIMEOUT so far. */
  timeouts = 0;
  /** Called whenever a worker becomes free: the batcher flushes then. */
  onIdle: () => void = () => {};
  /** What the gate calls when it is this pool's turn. */
  private readonly wake = () => this.pump();

  private constructor(
    private readonly recipe: SessionRecipe,
    private readonly init: WorkerInit,
    private readonly options: PoolOptions,
  ) {
    // Enough for every worker's call in flight and one waiting, per input.
    this.spares = new BufferPool(2 * options.size + 2);
  }

  /** Starts the workers and waits until each has loaded its session; rejects (and stops them) when one cannot. */
  static async start(recipe: SessionRecipe, options: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(recipe, { recipe, threads: options.threads, nice: options.nice ?? 0 }, options);
    const starts = Array.from({ length: options.size }, () => pool.spawn());
    const results = await Promise.allSettled(starts);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await pool.release();
      throw failed.reason;
    }
    pool.started = true;
    return pool;
  }

  get module(): string {
    return this.recipe.module;
  }

  idle(): boolean {
    return this.queue.length === 0 && this.slots.some((slot) => slot.ready && !slot.current);
  }

  /** @internal The live workers: for tests that kill one. */
  get workers(): Worker[] {
    return this.slots.map((slot) => slot.worker);
  }

  run(feeds: Feeds, owned = false): Promise<Feeds> {
    if (this.releasing) return Promise.reject(this.error('the served session was released', 'call it before release(), or load the module again'));
    if (this.brokenReason) return Promise.reject(this.error(`no worker can load the session: ${this.brokenReason}`, 'see the reason; the module needs loading again'));
    return new Promise((resolve, reject) => {
      this.queue.push({ feeds, owned, resolve, reject });
      this.pump();
    });
  }

  /** Runs the feeds once on every worker (warm-up: each worker's first call is the slow one). */
  async runOnEach(feeds: Feeds): Promise<void> {
    await Promise.all(this.slots.map(() => this.run(feeds)));
  }

  /**
   * Stops every worker after its current call (and after a load in progress); waiting calls are
   * rejected. Resolves once all threads have exited, abandoned ones included (after their stuck run
   * returns). Workers are asked to stop, never terminate()d: onnxruntime-node aborts the whole
   * process when a worker is terminated inside a run or a load.
   */
  async release(): Promise<void> {
    this.releasing = true;
    for (const call of this.queue.splice(0)) call.reject(this.error('the served session was released while the call waited', 'release only after the calls settle'));
    for (const slot of this.slots) slot.worker.postMessage({ kind: 'release' } satisfies ToWorker);
    await Promise.all([...this.slots, ...this.abandoned].map((slot) => slot.exited));
    this.slots.length = 0;
  }

  private spawn(): Promise<void> {
    const worker = new Worker(workerScript(), { workerData: this.init });
    const slot: Slot = { worker, ready: false, current: undefined, timer: undefined, gated: false, abandoned: false, exited: new Promise((resolve) => worker.once('exit', () => resolve())) };
    this.slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        if (message.kind === 'ready') {
          slot.ready = true;
          this.startFailures = 0;
          resolve();
          this.pump();
        } else if (message.kind === 'failed') {
          reject(new NavigatorError('a serving worker could not load the session', {
            module: this.module,
            subject: this.recipe.kind === 'candidate' ? this.recipe.artifact.path : 'the original model',
            cause: new Error(message.message),
            fix: 'check that the model loads on the main thread with the same runner (see the reason)',
          }));
          worker.postMessage({ kind: 'release' } satisfies ToWorker);
        } else if (message.kind === 'result' || message.kind === 'error') {
          this.leaveGate(slot); // the run returned, also that of an abandoned worker
          if (message.kind === 'result') this.spares.give(message.inputs);
          const current = slot.current;
          if (!current || current.id !== message.id) return;
          slot.current = undefined;
          clearTimeout(slot.timer);
          if (message.kind === 'result') current.call.resolve(fromWire(message.outputs));
          else current.call.reject(new NavigatorError('inference failed in a serving worker', { module: this.module, cause: new Error(message.message), fix: 'check the inputs against the model (names, types, shapes)' }));
          this.pump();
        }
      });
      // 'error' (an exception escaped the worker) is followed by 'exit'; both are handled at 'exit'.
      let crash: Error | undefined;
      worker.on('error', (error) => (crash = error));
      worker.on('exit', (code) => {
        this.leaveGate(slot);
        clearTimeout(slot.timer);
        if (slot.abandoned) {
          this.abandoned.delete(slot); // replaced when its call timed out
          return;
        }
        const index = this.slots.indexOf(slot);
        if (index >= 0) this.slots.splice(index, 1);
        const why = crash ? `it threw: ${crash.message}` : `it exited with code ${code}`;
        slot.current?.call.reject(this.error(`the worker thread running this call died (${why})`, 'retry the call; the worker has been replaced'));
        if (!slot.ready) reject(this.error(`a serving worker stopped before it loaded the session (${why})`, 'check that the model loads on the main thread'));
        if (this.started && !this.releasing) this.replace(slot.ready);
      });
    });
  }

  /** A new worker for one that died; after repeated load failures, the pool fails its calls instead of looping. */
  private replace(wasReady: boolean): void {
    if (!wasReady && ++this.startFailures >= MAX_START_FAILURES) {
      this.brokenReason = `${MAX_START_FAILURES} workers in a row died before loading the session`;
      for (const call of this.queue.splice(0)) call.reject(this.error(`no worker can load the session: ${this.brokenReason}`, 'load the module again'));
      return;
    }
    try {
      this.spawn().catch(() => {}); // its failure is counted at its own 'exit'
    } catch (error) {
      // The Worker could not even be created (the script is gone, threads are exhausted): stop here.
      this.brokenReason = `a replacement worker could not start (${error instanceof Error ? error.message : String(error)})`;
      for (const call of this.queue.splice(0)) call.reject(this.error(`no worker can run the call: ${this.brokenReason}`, 'load the module again'));
    }
  }

  private pump(): void {
    let slot: Slot | undefined;
    while (this.queue.length > 0 && (slot = this.slots.find((s) => s.ready && !s.current))) {
      if (this.options.gate && !this.options.gate.tryEnter(slot, this.wake)) break;
      slot.gated = this.options.gate !== undefined;
      const call = this.queue.shift() as Call;
      const id = this.nextId++;
      slot.current = { id, call };
      try {
        const { wire, transfer } = toWire(call.feeds, call.owned, this.module, this.spares);
        slot.worker.postMessage({ kind: 'run', id, feeds: wire } satisfies ToWorker, transfer);
        const timeout = this.options.callTimeoutMs ?? 0;
        const running = slot;
        if (timeout > 0) slot.timer = setTimeout(() => this.abandon(running), timeout);
      } catch (error) {
        slot.current = undefined;
        this.leaveGate(slot);
        call.reject(error);
      }
    }
    if (this.idle()) this.onIdle();
  }

  /**
   * Fails a call that ran past callTimeoutMs, and gives up its worker: terminate() inside a run
   * aborts the process (see release), so the worker is only unref'd, dropped from the pool and asked
   * to release its session and exit, which it does once onnxruntime returns. A new worker takes its
   * place, so the pool keeps serving meanwhile. Until the old one exits, its model copy stays in memory.
   */
  private abandon(slot: Slot): void {
    const current = slot.current;
    if (!current) return;
    slot.current = undefined;
    slot.abandoned = true;
    this.timeouts++;
    this.slots.splice(this.slots.indexOf(slot), 1);
    this.abandoned.add(slot);
    slot.worker.unref();
    slot.worker.postMessage({ kind: 'release' } satisfies ToWorker);
    current.call.reject(
      new NavigatorError(`the call ran longer than serving.callTimeoutMs (${this.options.callTimeoutMs} ms); its worker thread was abandoned (it exits once onnxruntime returns) and a new one started`, {
        module: this.module,
        subject: 'serving.callTimeoutMs',
        code: 'NAV_TIMEOUT',
        fix: 'raise serving.callTimeoutMs if calls this long are expected (larger inputs, a slower or busier machine), else check the inputs of the call',
      }),
    );
    if (!this.releasing) this.replace(true);
  }

  private leaveGate(slot: Slot): void {
    if (!slot.gated) return;
    slot.gated = false;
    this.options.gate?.leave(slot);
  }

  private error(problem: string, fix: string): NavigatorError {
    return new NavigatorError(problem, { module: this.module, subject: 'serving worker', fix, code: 'NAV_WORKER' });
  }
}

/**
 * The compiled worker script beside this file. Under ts-jest this file runs from src/, where no
 * .js exists: the worker then uses the build (`npm test` builds dist/ first).
 */
function workerScript(): string {
  const beside = path.join(__dirname, 'worker-main.js');
  if (fs.existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '..', '..', 'dist', 'src', 'serving', 'worker-main.js');
  if (fs.existsSync(built)) return built;
  throw new NavigatorError('the serving worker script is missing', { subject: beside, fix: 'build the package first (npm run build)' });
}
