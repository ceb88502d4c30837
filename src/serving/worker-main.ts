/**
 * The script of a serving worker thread: creates the module's session from the recipe in
 * workerData, then runs calls one at a time as messages arrive. onnxruntime-node's run blocks the
 * thread that calls it; here that is this worker, not the service's event loop.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import { errorText } from '../core/errors';
import type { RunnerSession } from '../core/plugin';
import { createRecipeSession, type SessionRecipe } from './session-recipe';
import { buffersOf, fromWire, toWire, type WireFeeds } from './tensor-wire';

export interface WorkerInit {
  recipe: SessionRecipe;
  threads: number;
  /** Nice value for this thread; onnxruntime's intra-op threads, created with the session, inherit it. */
  nice: number;
}

/** 'crash' makes the worker die as an uncaught exception would: tests use it (terminate() is unsafe, see WorkerPool.release). */
export type ToWorker = { kind: 'run'; id: number; feeds: WireFeeds } | { kind: 'release' } | { kind: 'crash' };
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'result'; id: number; outputs: WireFeeds; inputs: ArrayBuffer[] }
  | { kind: 'error'; id: number; message: string }
  | { kind: 'released' };

const port = parentPort;
if (!port) throw new Error('worker-main runs as a worker thread of a served session');
const init = workerData as WorkerInit;
let session: RunnerSession | undefined;
lowerPriority(init.nice);
const loading = createRecipeSession(init.recipe, init.threads).then(
  (created) => {
    session = created;
    port.postMessage({ kind: 'ready' } satisfies FromWorker);
  },
  (error) => port.postMessage({ kind: 'failed', message: errorText(error) } satisfies FromWorker),
);

port.on('message', (message: ToWorker) => {
  if (message.kind === 'crash') throw new Error('crash requested');
  if (message.kind === 'release') {
    // After a load in progress, so that the session it makes is released too.
    void loading.then(async () => {
      const releasing = session;
      session = undefined;
      await releasing?.release().catch(() => {});
      port.postMessage({ kind: 'released' } satisfies FromWorker);
      port.close(); // nothing else keeps the thread alive: it exits
    });
    return;
  }
  void run(message.id, message.feeds);
});

/** Whether this worker's output buffers can move to the main thread; learned on the first result. */
let transferable = true;

async function run(id: number, feeds: WireFeeds): Promise<void> {
  try {
    if (!session) throw new Error('the session is not loaded (released, or loading failed)');
    const outputs = await session.run(fromWire(feeds));
    // The inputs go back to the pool for the next calls' copies (the run is done with them).
    const inputs = buffersOf(feeds);
    // The outputs are ours alone: they move to the main thread without a copy where their buffers allow.
    let packed = toWire(outputs, transferable, init.recipe.module);
    try {
      port!.postMessage({ kind: 'result', id, outputs: packed.wire, inputs } satisfies FromWorker, [...packed.transfer, ...inputs]);
    } catch (error) {
      if (!transferable) throw error;
      // Buffers onnxruntime allocated outside V8 cannot be transferred: copies from now on.
      transferable = false;
      packed = toWire(outputs, false, init.recipe.module);
      port!.postMessage({ kind: 'result', id, outputs: packed.wire, inputs } satisfies FromWorker, [...packed.transfer, ...inputs]);
    }
  } catch (error) {
    port!.postMessage({ kind: 'error', id, message: errorText(error) } satisfies FromWorker);
  }
}

/**
 * Linux gives each thread its own nice value, and os.setPriority takes a thread id there:
 * /proc/thread-self names this thread's. Elsewhere (or without /proc) the worker keeps its priority.
 */
function lowerPriority(nice: number): void {
  if (nice === 0 || process.platform !== 'linux') return;
  try {
    const tid = Number(path.basename(fs.readlinkSync('/proc/thread-self')));
    if (tid > 0 && tid !== process.pid) os.setPriority(tid, nice);
  } catch {
    // A container without /proc or a refused setpriority: the worker runs at normal priority.
  }
}
