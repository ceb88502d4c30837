import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { Tensor } from 'onnxruntime-node';
import { NavigatorError } from '../../src/core/errors';
import { buildResNet, tinyResNet } from '../../src/models';
import { createOrtSession } from '../../src/runners/ort-session';
import type { Feeds } from '../../src/core/feeds';
import { createServedSession, type ServedSession } from '../../src/serving';
import type { SessionRecipe } from '../../src/serving';

const IMAGE = 32;
const model = tinyResNet({ imageSize: IMAGE });

function image(batch: number, seed: number): Feeds {
  const pixels = Float32Array.from({ length: batch * 3 * IMAGE * IMAGE }, (_, i) => Math.sin(i * 0.01 + seed));
  return { pixel_values: new Tensor('float32', pixels, [batch, 3, IMAGE, IMAGE]) };
}

async function mainThread(feeds: Feeds, bytes = model): Promise<Float32Array> {
  const session = await createOrtSession(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    return (await session.run(feeds)).logits.data as Float32Array;
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
