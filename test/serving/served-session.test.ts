import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../../src/core/errors';
import { buildResNet, tinyResNet } from '../../src/models';
import { GraphBuilder } from '../../src/onnx/builder';
import { runnerRegistry } from '../../src/plugins';
import { createOrtSession } from '../../src/runners/ort-session';
import type { Feeds } from '../../src/core/feeds';
import { createServedSession, type ServedSession } from '../../src/serving';
import { BufferPool, buffersOf, toWire } from '../../src/serving/tensor-wire';
import type { SessionRecipe } from '../../src/serving';

const IMAGE = 32;
const model = tinyResNet({ imageSize: IMAGE });

function image(batch: number, seed: number): Feeds {
  const pixels = Float32Array.from({ length: batch * 3 * IMAGE * IMAGE }, (_, i) => Math.sin(i * 0.01 + seed));
  return { pixel_values: new Tensor('float32', pixels, [batch, 3, IMAGE, IMAGE]) };
}

async function mainThread(feeds: Feeds, bytes = model, output = 'logits'): Promise<Float32Array> {
  const session = await createOrtSession(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    return (await session.run(feeds))[output].data as Float32Array;
  } finally {
    await session.release();
  }
}

const sessions: ServedSession[] = [];
async function served(recipe: SessionRecipe, serving: Parameters<typeof createServedSession>[1] = {}): Promise<ServedSession> {
  const session = await createServedSession(recipe, serving);
  sessions.push(session);
  return session;
}
afterEach(async () => {
  for (const session of sessions.splice(0)) await session.release();
});

const source = (bytes = model): SessionRecipe => ({ kind: 'source', module: 'classifier', model: bytes });

/** x [rows, 256] through 40 MatMuls: about 30 µs a row on one core, so the rows set how long a call runs. */
function matmulChain(): Uint8Array {
  const b = new GraphBuilder('chain', { seed: 1 });
  let h = b.input('x', 'float32', ['rows', 256]);
  const w = b.randomWeight('w', [256, 256], 0.06);
  for (let i = 0; i < 40; i++) h = b.op('MatMul', [h, w]);
  b.node('Identity', [h], {}, { outputs: ['y'] });
  b.output('y', 'float32', ['rows', 256]);
  return b.toBytes();
}
const chain = matmulChain();
const chainRows = (n: number): Feeds => ({ x: new Tensor('float32', Float32Array.from({ length: n * 256 }, (_, i) => Math.cos(i)), [n, 256]) });

describe('served sessions in worker threads', () => {
  test('give the same results as the main thread, from a file through the runner registry and from bytes', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'serve-')), 'classifier.onnx');
    fs.writeFileSync(file, model);
    const candidate = await served(
      { kind: 'candidate', module: 'classifier', runner: 'OnnxCPU', artifact: { format: 'onnx', path: file, precision: 'fp32', sizeBytes: model.length }, variant: { id: 'default', settings: {} }, signature: { inputs: [], outputs: [] } as never, workDir: path.dirname(file) },
      { serving: { workers: 2, maxBatchSize: 1 } },
    );
    const fromBytes = await served(source(), { serving: { workers: 1 } });
    for (const batch of [1, 3]) {
      const feeds = image(batch, batch);
      const expected = await mainThread(feeds);
      expect((await candidate.run(feeds)).logits.data).toEqual(expected);
      expect((await fromBytes.run(feeds)).logits.data).toEqual(expected);
      // The caller's inputs are still intact: they were copied, not moved.
      expect((feeds.pixel_values.data as Float32Array).length).toBe(batch * 3 * IMAGE * IMAGE);
    }
    // Input buffers come back from the workers and carry the next calls (BufferPool): each call still gets its own inputs.
    for (const seed of [11, 12, 11, 13]) {
      const feeds = image(2, seed);
      expect((await candidate.run(feeds)).logits.data).toEqual(await mainThread(feeds));
    }
  });

  test('move copies of the callers\' inputs in recycled buffers, only the viewed bytes', () => {
    const spares = new BufferPool(2);
    const whole = new Float32Array([1, 2, 3, 4]);
    const view = new Float32Array(new Float32Array([9, 9, 5, 6, 7, 9]).buffer, 8, 3);
    const first = toWire({ a: new Tensor('float32', whole, [4]), b: new Tensor('float32', view, [3]) }, false, 'm', spares);
    expect(Array.from(first.wire.a.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from(first.wire.b.data as Float32Array)).toEqual([5, 6, 7]);
    expect(first.transfer.map((b) => b.byteLength)).toEqual([16, 12]);
    expect(first.wire.a.data).not.toBe(whole); // a copy: the caller's array stays its own
    spares.give(buffersOf(first.wire));
    const second = toWire({ a: new Tensor('float32', new Float32Array([8, 7, 6, 5]), [4]) }, false, 'm', spares);
    expect(second.transfer[0]).toBe(first.transfer[0]); // the returned buffer, not a new one
    expect(Array.from(second.wire.a.data as Float32Array)).toEqual([8, 7, 6, 5]);
    // It keeps spares of a few byte lengths only, the most recently returned: inputs of ever new lengths do not pile up.
    const few = new BufferPool(2, 2);
    const [b8, b16, b24] = [new ArrayBuffer(8), new ArrayBuffer(16), new ArrayBuffer(24)];
    few.give([b8, b16, b24]);
    expect(few.take(8)).not.toBe(b8);
    expect(few.take(16)).toBe(b16);
    expect(few.take(24)).toBe(b24);
  });

  test('run the shapes a fixed-shape selection refuses in the worker too, on the source beside it', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'serve-fixed-')), 'classifier.onnx');
    fs.writeFileSync(file, model);
    const fixed: SessionRecipe = {
      kind: 'candidate', module: 'classifier', runner: 'OnnxCPU', variant: { id: 'default', settings: {} }, signature: { inputs: [], outputs: [] } as never, workDir: path.dirname(file),
      artifact: { format: 'onnx-static', path: file, precision: 'fp32', sizeBytes: model.length, fixedShapes: { pixel_values: [1, 3, IMAGE, IMAGE] } },
    };
    const alone = await served(fixed, { serving: { workers: 1 } });
    const beside = await served({ ...fixed, fallback: { kind: 'source', module: 'classifier', model: file } }, { serving: { workers: 1, maxBatchSize: 8 } });
    // Batches of other sizes would all go to the source beside it, not to the selection: no batching.
    expect(beside.config.maxBatchSize).toBe(1);
    expect(beside.config.batchingReason).toMatch(/fixed input shapes/);
    const other = image(2, 7);
    // Alone, the served session refuses batch 2 (the module would run it on the main thread)...
    expect(alone.accepts(other)).toBe(false);
    // ...beside its source it takes every shape, in the worker, with the main thread's results.
    expect(beside.accepts(other)).toBe(true);
    expect((await beside.run(other)).logits.data).toEqual(await mainThread(other));
    expect((await beside.run(image(1, 8))).logits.data).toEqual(await mainThread(image(1, 8)));
  });

  test('keep the event loop responsive while a long inference runs', async () => {
    const big = buildResNet({ blocks: [2, 2, 2, 2], baseWidth: 32, bottleneck: false, imageSize: 224, classes: 10, name: 'big' });
    const session = await served(source(big), { serving: { workers: 1, maxBatchSize: 1 } });
    const feeds = { pixel_values: new Tensor('float32', new Float32Array(4 * 3 * 224 * 224).fill(0.5), [4, 3, 224, 224]) };
    await session.run(feeds); // warm
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    // Runs back to back until the work spans well over the bound below, however fast this machine is.
    const started = performance.now();
    while (performance.now() - started < 150) await session.run(feeds);
    const runMs = performance.now() - started;
    delay.disable();
    const maxDelayMs = delay.max / 1e6;
    // On the main thread the loop would stall for the whole run; here only timer jitter remains.
    expect(runMs).toBeGreaterThan(50);
    expect(maxDelayMs).toBeLessThan(Math.max(40, runMs / 4));
  });

  test('batch concurrent calls and give each caller its own rows, in order', async () => {
    const session = await served(source(), { serving: { workers: 1, maxBatchSize: 8, maxDelayMs: 50 } });
    const inputs = Array.from({ length: 12 }, (_, i) => image(1 + (i % 2), i));
    const expected = await Promise.all(inputs.map((feeds) => mainThread(feeds)));
    const results = await Promise.all(inputs.map((feeds) => session.run(feeds)));
    results.forEach((outputs, i) => {
      expect(outputs.logits.dims).toEqual([inputs[i].pixel_values.dims[0], 10]);
      const got = outputs.logits.data as Float32Array;
      expected[i].forEach((value, k) => expect(got[k]).toBeCloseTo(value, 4));
    });
    expect(session.stats().batches).toBeGreaterThan(0);
    // A call as large as a whole batch runs alone and still gets its own result.
    const large = image(8, 3);
    const [a, b] = await Promise.all([session.run(image(1, 0)), session.run(large)]);
    expect(a.logits.dims).toEqual([1, 10]);
    expect(a.logits.data).toEqual(expected[0]);
    expect(b.logits.data).toEqual(await mainThread(large));
  });

  test('reject calls past the queue with NAV_QUEUE_FULL', async () => {
    const session = await served(source(), { serving: { workers: 1, maxBatchSize: 1, maxQueue: 2 } });
    const calls = Array.from({ length: 6 }, (_, i) => session.run(image(1, i)));
    const settled = await Promise.allSettled(calls);
    const rejected = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(3); // one running, two waiting
    expect(rejected).toHaveLength(3);
    for (const { reason } of rejected) {
      expect(reason).toBeInstanceOf(NavigatorError);
      expect(reason.code).toBe('NAV_QUEUE_FULL');
      expect(reason.message).toMatch(/module "classifier".*queue is full/);
    }
    expect(session.outstanding).toBe(0);
  });

  test('replace a worker that died and fail its call with an error naming the module', async () => {
    const session = await served(source(), { serving: { workers: 1, maxBatchSize: 1 } });
    const [worker] = session.pool.workers;
    // The worker throws an uncaught error before it takes the call: it dies with the call in flight.
    worker.postMessage({ kind: 'crash' });
    const call = session.run(image(1, 0));
    await expect(call).rejects.toThrow(/module "classifier".*worker thread running this call died \(it threw: crash requested\)/);
    await expect(call).rejects.toMatchObject({ code: 'NAV_WORKER' });
    const replaced = await session.run(image(2, 1)); // waits for the replacement to load
    expect(replaced.logits.data).toEqual(await mainThread(image(2, 1)));
    expect(session.pool.workers).toHaveLength(1);
    expect(session.pool.workers[0]).not.toBe(worker);
  });

  test('fail a call past callTimeoutMs at once, abandon its worker, keep serving, and release once the stuck run returns', async () => {
    const session = await createServedSession({ kind: 'source', module: 'chain', model: chain }, { serving: { workers: 1, maxBatchSize: 1, callTimeoutMs: 100 } });
    const [stuck] = session.pool.workers;
    const slow = session.run(chainRows(16384)); // about half a second or more
    await expect(slow).rejects.toMatchObject({ code: 'NAV_TIMEOUT', module: 'chain' });
    await expect(slow).rejects.toThrow(/module "chain".*ran longer than serving.callTimeoutMs \(100 ms\)[\s\S]*Fix: raise serving.callTimeoutMs/);
    // Failed while its run still goes on: the old worker is alive, out of the pool, and a new one serves.
    expect(stuck.threadId).toBeGreaterThan(0);
    expect(session.pool.workers).toHaveLength(1);
    const [replacement] = session.pool.workers;
    expect(replacement).not.toBe(stuck);
    const small = chainRows(2);
    expect((await session.run(small)).y.data).toEqual(await mainThread(small, chain, 'y'));
    expect(session.stats().timeouts).toBe(1);
    // No thread left behind: release waits for the abandoned worker, which exits once onnxruntime returns.
    await session.release();
    expect([stuck.threadId, replacement.threadId]).toEqual([-1, -1]);
  });

  test('let at most one run of the GPU-runner sessions of all modules be in flight at a time', async () => {
    // A runner plug-in that claims the GPU but runs onnxruntime's CPU provider, and logs each run's
    // start and end (epoch ms) from inside the worker. The workers load it through the recipe's preload.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-'));
    const file = path.join(dir, 'chain.onnx');
    fs.writeFileSync(file, chain);
    const plugin = path.join(dir, 'logged-runners.js');
    fs.writeFileSync(
      plugin,
      `const fs = require('fs');
const { InferenceSession } = require(${JSON.stringify(require.resolve('onnxruntime-node'))});
const { runnerRegistry } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/src/plugins'))});
for (const [name, device] of [['LoggedGpu', 'gpu'], ['LoggedCpu', 'cpu']]) {
  runnerRegistry.register({ name, kinds: [], device, availability: async () => ({ available: true, detail: 'test' }), variants: () => [{ id: 'default', settings: {} }],
    async createSession(artifact, variant, context) {
      const session = await InferenceSession.create(artifact.path, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
      const now = () => performance.timeOrigin + performance.now();
      return { accepts: () => true, release: () => session.release(), async run(feeds) {
        const start = now();
        const outputs = await session.run(feeds);
        fs.appendFileSync(${JSON.stringify(path.join(dir, 'runs.log'))}, context.module + ' ' + start + ' ' + now() + '\\n');
        return outputs;
      } };
    } });
}`,
    );
    // The main thread only reads the runners' device (what selects the gate).
    for (const [name, device] of [['LoggedGpu', 'gpu'], ['LoggedCpu', 'cpu']] as const) {
      if (!runnerRegistry.has(name)) runnerRegistry.register({ name, kinds: [], device, availability: async () => ({ available: true, detail: 'test' }), variants: () => [], createSession: () => Promise.reject(new Error('workers only')) });
    }
    const recipe = (module: string, runner: string): SessionRecipe => ({
      kind: 'candidate', module, runner, preload: [plugin], workDir: dir, artifact: { format: 'onnx', path: file, precision: 'fp32', sizeBytes: chain.length }, variant: { id: 'default', settings: {} }, signature: { inputs: [], outputs: [] } as never,
    });
    const intervals = async (modules: string[], runner: string) => {
      const list = await Promise.all(modules.map((m) => served(recipe(m, runner), { serving: { maxBatchSize: 1 } })));
      fs.rmSync(path.join(dir, 'runs.log'), { force: true });
      await Promise.all(list.flatMap((session) => [1, 2, 3].map(() => session.run(chainRows(3000)))));
      return fs.readFileSync(path.join(dir, 'runs.log'), 'utf8').trim().split('\n').map((line) => {
        const [module, start, end] = line.split(' ');
        return { module, start: Number(start), end: Number(end) };
      }).sort((a, b) => a.start - b.start);
    };
    const overlaps = (list: { start: number; end: number }[]) => list.slice(1).some((run, i) => run.start < list[i].end);
    const gated = await intervals(['gpu_a', 'gpu_b'], 'LoggedGpu');
    expect(gated.map((r) => r.module).sort()).toEqual(['gpu_a', 'gpu_a', 'gpu_a', 'gpu_b', 'gpu_b', 'gpu_b']);
    expect(overlaps(gated)).toBe(false);
    // The same runs on a CPU runner do overlap across modules: the log would show it.
    expect(overlaps(await intervals(['cpu_a', 'cpu_b'], 'LoggedCpu'))).toBe(true);
  });

  test('release stops every worker thread', async () => {
    const session = await createServedSession(source(), { serving: { workers: 2 } });
    const workers = session.pool.workers;
    expect(workers.map((w) => w.threadId).every((id) => id > 0)).toBe(true);
    await session.run(image(1, 0));
    await session.release();
    expect(workers.map((w) => w.threadId)).toEqual([-1, -1]);
    expect(session.pool.workers).toHaveLength(0);
    await expect(session.run(image(1, 0))).rejects.toThrow(/released/);
  });

  test('refuse several workers for a GPU session and validate the config with property paths', async () => {
    await expect(createServedSession({ kind: 'source', module: 'gpu', model, sessionOptions: { executionProviders: ['webgpu'] } }, { serving: { workers: 2 } })).rejects.toThrow(/serving.workers.*one worker/s);
    await expect(createServedSession(source(), { serving: { workers: 0, maxQueue: -1 } as never })).rejects.toThrow(/serving\.workers: .*'auto'[\s\S]*serving\.maxQueue/);
  });
});
