import * as path from 'path';
import { container as rootContainer } from 'tsyringe';
import { bootstrap, BOOTSTRAP_SERVING, loadOptimized, navModule, OnnxModule, pipeline, releasePipeline } from '../../src';
import type { Feeds, ServedSession } from '../../src';
import { controlOf } from '../../src/module/onnx-module';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();
const modelPath = writeModel(dir, 'served.onnx', mlpModel({ seed: 5, outputs: 3 }));

@pipeline<ServedPipeline>({
  dataloader: () => [[1, 1, 0], [4, 4, 1]],
  call: (p, batch: number, offset: number) => p.classify(batch, offset),
  config: { ...quiet, targetFormats: ['onnx-optimized'], batchSizes: [1, 4] },
})
class ServedPipeline {
  @navModule({ name: 'served_classifier' })
  model = new OnnxModule(modelPath);

  classify(batch: number, offset: number): Promise<Feeds> {
    return this.model.run({ x: rows(batch, 16, offset) });
  }
}

describe('bootstrap with serving', () => {
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
  });
});

describe('loadOptimized with serving', () => {
  it('rebinds a fresh instance from the cache and serves it from worker threads', async () => {
    const workspace = path.join(dir, 'load-cache');
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'if-missing', workspace, container, pipelines: [ServedPipeline] });
    const fresh = new ServedPipeline();
    const expected = await new ServedPipeline().classify(2, 1);
    const result = await loadOptimized(fresh, { workspace, serving: { workers: 1 } });
    expect(result.modules.served_classifier).toMatch(/by 1 worker thread\(s\)/);
    const session = controlOf(fresh.model as OnnxModule<unknown, unknown>).boundSession() as ServedSession;
    expect(session.pool.workers).toHaveLength(1);
    const { y } = await fresh.classify(2, 1);
    (expected.y.data as Float32Array).forEach((value, k) => expect((y.data as Float32Array)[k]).toBeCloseTo(value, 5));
    await releasePipeline(fresh);
  });
});
