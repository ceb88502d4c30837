import * as os from 'os';
import * as path from 'path';
import { container as rootContainer } from 'tsyringe';
import { bootstrap, BOOTSTRAP_SERVING, loadOptimized, navModule, OnnxModule, pipeline, releasePipeline, strategies } from '../../src';
import type { Feeds, ServedSession } from '../../src';
import { controlOf } from '../../src/module/onnx-module';
import { runnerRegistry } from '../../src/plugins';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();
const modelPath = writeModel(dir, 'served.onnx', mlpModel({ seed: 5, outputs: 3 }));

@pipeline<ServedPipeline>({
  dataloader: () => [[1, 1, 0], [4, 4, 1]],
  call: (p, batch: number, offset: number) => p.classify(batch, offset),
  // A named selection: bound whatever the timings, so that loading it creates a runner session.
  config: { ...quiet, targetFormats: ['onnx-optimized'], batchSizes: [1, 4], strategy: strategies.selected('onnx-optimized', 'OnnxCPU') },
})
class ServedPipeline {
  @navModule({ name: 'served_classifier' })
  model = new OnnxModule(modelPath);

  classify(batch: number, offset: number): Promise<Feeds> {
    return this.model.run({ x: rows(batch, 16, offset) });
  }
}

@pipeline<TwoModelPipeline>({
  dataloader: () => [[1, 1], [2, 2]],
  call: (p, batch: number) => p.both(batch),
  config: { ...quiet, targetFormats: ['onnx'] },
})
class TwoModelPipeline {
  @navModule({ name: 'served_first' })
  first = new OnnxModule(modelPath);

  @navModule({ name: 'served_second' })
  second = new OnnxModule(writeModel(dir, 'second.onnx', mlpModel({ seed: 6, outputs: 3 })));

  async both(batch: number): Promise<Feeds[]> {
    return [await this.first.run({ x: rows(batch, 16, 0) }), await this.second.run({ x: rows(batch, 16, 1) })];
  }
}

@pipeline<StaticPipeline>({
  dataloader: () => [[2, 2]],
  call: (p, batch: number) => p.classify(batch),
  // A fixed-shape selection, named: onnx-static at the one captured batch size.
  config: { ...quiet, targetFormats: ['onnx-static'], strategy: strategies.selected('onnx-static', 'OnnxCPU') },
})
class StaticPipeline {
  @navModule({ name: 'served_static' })
  model = new OnnxModule(writeModel(dir, 'static.onnx', mlpModel({ seed: 7, outputs: 3 })));

  classify(batch: number): Promise<Feeds> {
    return this.model.run({ x: rows(batch, 16, 3) });
  }
}

describe('bootstrap with serving', () => {
  it('serves the shapes a fixed-shape selection refuses in the workers too, not on the event loop', async () => {
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'if-missing', workspace: path.join(dir, 'static'), container, pipelines: [StaticPipeline], serving: { workers: 1 } });
    const instance = container.resolve(StaticPipeline);
    const plain = new OnnxModule(instance.model.model);
    try {
      expect(instance.model.binding.format).toBe('onnx-static');
      const session = controlOf(instance.model as OnnxModule<unknown, unknown>).boundSession() as ServedSession;
      for (const batch of [2, 3]) {
        expect(session.accepts({ x: rows(batch, 16, 3) })).toBe(true);
        expect((await instance.classify(batch)).y.data).toEqual((await plain.run({ x: rows(batch, 16, 3) })).y.data);
      }
    } finally {
      await plain.release();
      await releasePipeline(instance);
    }
  });


  it("shares the cores among a pipeline's modules: 'auto' workers x threads of all of them fit the machine", async () => {
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'if-missing', workspace: path.join(dir, 'two'), container, pipelines: [TwoModelPipeline], serving: {} });
    const report = container.resolve<Record<string, Record<string, string>>>(BOOTSTRAP_SERVING).TwoModelPipeline;
    const threads = Object.values(report).map((line) => {
      const [, workers, perWorker] = /by (\d+) worker thread\(s\) x (\d+) onnxruntime thread\(s\)/.exec(line)!;
      return Number(workers) * Number(perWorker);
    });
    expect(threads).toHaveLength(2);
    expect(threads.reduce((a, b) => a + b)).toBeLessThanOrEqual(Math.max(2, os.availableParallelism()));
    await releasePipeline(container.resolve(TwoModelPipeline));
  });


  it('serves the selection from warmed worker threads, with the same results, and releases them', async () => {
    const workspace = path.join(dir, 'cache');
    const expected = await new ServedPipeline().classify(3, 2);
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'if-missing', workspace, container, pipelines: [ServedPipeline], serving: { workers: 2 } });
    const report = container.resolve<Record<string, Record<string, string>>>(BOOTSTRAP_SERVING).ServedPipeline;
    expect(report.served_classifier).toMatch(/by 2 worker thread\(s\) x \d+ onnxruntime thread\(s\).*warmed on 1 recorded call/);
    const instance = container.resolve(ServedPipeline);
    const results = await Promise.all([1, 2, 3].map(() => instance.classify(3, 2)));
    for (const { y } of results) {
      const got = y.data as Float32Array;
      (expected.y.data as Float32Array).forEach((value, k) => expect(got[k]).toBeCloseTo(value, 5));
    }
    const session = controlOf(instance.model as OnnxModule<unknown, unknown>).boundSession() as ServedSession;
    const workers = session.pool.workers;
    expect(workers).toHaveLength(2);
    await releasePipeline(instance);
    expect(workers.map((w) => w.threadId)).toEqual([-1, -1]);

    // A second start finds every module cached: the workers load the selection, no main-thread session first.
    const again = rootContainer.createChildContainer();
    expect(await mainThreadSessions(() => bootstrap({ optimize: 'if-missing', workspace, container: again, pipelines: [ServedPipeline], serving: { workers: 1 } }))).toBe(0);
    const served = again.resolve(ServedPipeline);
    try {
      expect(again.resolve<Record<string, Record<string, string>>>(BOOTSTRAP_SERVING).ServedPipeline.served_classifier).toMatch(/served .*onnx-optimized.* by 1 worker thread\(s\)/);
      const { y } = await served.classify(3, 2);
      (expected.y.data as Float32Array).forEach((value, k) => expect((y.data as Float32Array)[k]).toBeCloseTo(value, 5));
    } finally {
      await releasePipeline(served);
    }
  });
});

/** Counts the sessions the OnnxCPU runner creates on this (the main) thread while `body` runs; workers have their own registry. */
async function mainThreadSessions(body: () => Promise<unknown>): Promise<number> {
  const runner = runnerRegistry.get('OnnxCPU');
  const create = runner.createSession;
  let created = 0;
  runner.createSession = (...args) => {
    created++;
    return create.apply(runner, args);
  };
  try {
    await body();
  } finally {
    runner.createSession = create;
  }
  return created;
}

describe('loadOptimized with serving', () => {
  it('serves a fresh instance from the cache in worker threads without creating its main-thread session first', async () => {
    const workspace = path.join(dir, 'load-cache');
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'if-missing', workspace, container, pipelines: [ServedPipeline] });
    // Without serving, loading binds the selection in a main-thread session; with serving, only the workers load it.
    const plain = new ServedPipeline();
    expect(await mainThreadSessions(() => loadOptimized(plain, { workspace }))).toBe(1);
    const expected = await plain.classify(2, 1);
    await releasePipeline(plain);
    const fresh = new ServedPipeline();
    try {
      let result: Awaited<ReturnType<typeof loadOptimized>> | undefined;
      expect(await mainThreadSessions(async () => (result = await loadOptimized(fresh, { workspace, serving: { workers: 1 } })))).toBe(0);
      expect(result!.modules.served_classifier).toMatch(/served .*onnx-optimized.* by 1 worker thread\(s\)/);
      const session = controlOf(fresh.model as OnnxModule<unknown, unknown>).boundSession() as ServedSession;
      expect(session.pool.workers).toHaveLength(1);
      // The same selection as on the main thread, so the same numbers.
      expect((await fresh.classify(2, 1)).y.data).toEqual(expected.y.data);
    } finally {
      await releasePipeline(fresh);
    }
  });
});
