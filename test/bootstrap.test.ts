import * as path from 'path';
import { container as rootContainer, inject, injectable } from 'tsyringe';
import { bootstrap, BOOTSTRAP_RESULTS, navModule, OnnxModule, Optimizer, pipeline } from '../src';
import type { BootstrapResults, Feeds, OptimizeStatus } from '../src';
import { mlpModel, quiet, rows, tempDir, writeModel } from './helpers/models';

const dir = tempDir();
const modelPath = writeModel(dir, 'classifier.onnx', mlpModel({ seed: 21, outputs: 3 }));

@pipeline<ClassifierPipeline>({
  dataloader: () => [[1, 1, 0], [4, 4, 1]],
  call: (p, batch: number, offset: number) => p.classify(batch, offset),
  config: { ...quiet, targetFormats: ['onnx', 'onnx-optimized'] },
})
class ClassifierPipeline {
  @navModule({ name: 'boot_classifier' })
  model = new OnnxModule(modelPath);

  async classify(batch: number, offset: number): Promise<Feeds> {
    return this.model.run({ x: rows(batch, 16, offset) });
  }
}

@injectable()
class LabelService {
  constructor(@inject(ClassifierPipeline) readonly pipeline: ClassifierPipeline) {}
  async label(): Promise<number[]> {
    const { y } = await this.pipeline.classify(2, 3);
    const scores = y.data as Float32Array;
    return [0, 1].map((row) => [0, 1, 2].reduce((best, k) => (scores[row * 3 + k] > scores[row * 3 + best] ? k : best), 0));
  }
}

describe('bootstrap', () => {
  const workspace = path.join(dir, 'cache');

  it('optimizes registered pipelines and injects the optimized instance into services', async () => {
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'if-missing', workspace, container, pipelines: [ClassifierPipeline] });
    const service = container.resolve(LabelService);
    expect(service.pipeline).toBe(container.resolve(ClassifierPipeline));
    const results = container.resolve<BootstrapResults>(BOOTSTRAP_RESULTS);
    const status = results.ClassifierPipeline as OptimizeStatus;
    expect(status.modules.boot_classifier.signature.batchSizes).toEqual({ 1: 1, 4: 1 });
    const selected = status.modules.boot_classifier.candidates.find((c) => c.key === status.modules.boot_classifier.selected.key)!;
    expect(service.pipeline.model.binding).toMatchObject({ format: selected.format, runner: selected.runner });
    expect(await service.label()).toHaveLength(2);
  });

  it("with 'never' only loads the cache, and the optimizer service is injectable", async () => {
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'never', workspace, container, pipelines: [ClassifierPipeline] });
    const results = container.resolve<BootstrapResults>(BOOTSTRAP_RESULTS);
    expect(results.ClassifierPipeline).toEqual({ modules: { boot_classifier: expect.stringMatching(/bound to|original model was the best/) } });
    expect(container.resolve(Optimizer)).toBeInstanceOf(Optimizer);
  });

  it("loads from the workspace the config names when it only loads ('never', or no dataloader)", async () => {
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'never', config: { workspace }, container, pipelines: [ClassifierPipeline] });
    const results = container.resolve<BootstrapResults>(BOOTSTRAP_RESULTS);
    expect(results.ClassifierPipeline).toEqual({ modules: { boot_classifier: expect.stringMatching(/bound to|original model was the best/) } });
  });

  it("with 'always' re-optimizes", async () => {
    const container = rootContainer.createChildContainer();
    await bootstrap({ optimize: 'always', workspace, container, pipelines: [ClassifierPipeline] });
    const status = container.resolve<BootstrapResults>(BOOTSTRAP_RESULTS).ClassifierPipeline as OptimizeStatus;
    expect(status.modules.boot_classifier.cached).toBe(false);
  });

  it('rejects an unknown flag', async () => {
    await expect(bootstrap({ optimize: 'sometimes' as never, pipelines: [] })).rejects.toThrow(/unknown optimize flag "sometimes"/);
  });
});
