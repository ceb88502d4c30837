import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize, optimizeConfig, loadOptimized, strategies, NavigatorError } from '../../src';
import type { Feeds } from '../../src';
import { clearlySlower } from '../../src/optimizer/pipeline-timing';
import { mlpModel, quiet, rows, sequenceModel, tempDir, writeModel } from '../helpers/models';

const dir = tempDir();
const encoderPath = writeModel(dir, 'encoder.onnx', mlpModel({ seed: 1, inputs: 16, outputs: 16 }));
const headPath = writeModel(dir, 'head.onnx', mlpModel({ seed: 2, inputs: 16, outputs: 4 }));

class TwoStagePipeline {
  @navModule({ name: 'opt_encoder' })
  encoder = new OnnxModule(encoderPath);

  @navModule({ name: 'opt_head' })
  @optimizeConfig({ targetFormats: ['onnx'], runners: ['OnnxCPU'], sampleCount: 2, profiling: quiet.profiling })
  head = new OnnxModule(headPath);

  /** The head runs on a doubled batch, as a guided denoiser does. */
  async run(batch: number): Promise<Feeds> {
    const { y } = await this.encoder.run({ x: rows(batch, 16) });
    const doubled = new Float32Array(y.data.length * 2);
    doubled.set(y.data as Float32Array);
    doubled.set(y.data as Float32Array, y.data.length);
    return this.head.run({ x: new Tensor('float32', doubled, [batch * 2, 16]) });
  }
}

describe('optimize on a pipeline instance', () => {
  const workspace = path.join(dir, 'cache');
  const pipeline = new TwoStagePipeline();
  const dataloader = [[1, 1], [2, 2], [1, 1], [3, 3]] as const;
  let expected: Feeds[];

  beforeAll(async () => {
    expected = [];
    for (const [, batch] of dataloader) expected.push(await pipeline.run(batch));
  });

  it('captures, checks, profiles, selects, caches and rebinds every module', async () => {
    const status = await optimize(pipeline, dataloader, { workspace, ...quiet });
    const encoder = status.modules.opt_encoder;
    expect(encoder.signature.batchSizes).toEqual({ 1: 2, 2: 1, 3: 1 });
    expect(encoder.signature.inputs[0]).toMatchObject({ name: 'x', dtype: 'float32', shape: [null, 16], dynamicAxes: [0], min: [1, 16], opt: [1, 16], max: [3, 16] });
    // The head saw the doubled batch, not the pipeline's.
    expect(status.modules.opt_head.signature.batchSizes).toEqual({ 2: 2, 4: 1, 6: 1 });
    // Per-module config: the head tried only the source format; the encoder the global defaults.
    expect(new Set(status.modules.opt_head.candidates.map((c) => c.format))).toEqual(new Set(['onnx']));
    expect(encoder.candidates.map((c) => c.format)).toContain('onnx-optimized');
    expect(status.modules.opt_head.samples).toBe(2);
    for (const module of Object.values(status.modules)) {
      const selected = module.candidates.find((c) => c.key === module.selected.key)!;
      expect(selected.status).toBe('passed');
      expect(selected.correctness.status).toBe('ok');
      expect(selected.performance.map((p) => p.batchSize)).toEqual(expect.arrayContaining(Object.keys(module.signature.batchSizes).map(Number)));
      for (const p of selected.performance) expect(p.p50Ms).toBeGreaterThan(0);
      expect(module.selected.speedup).toBeGreaterThan(0);
    }
    expect(status.pipeline!.beforeMs).toBeGreaterThan(0);
    // Not clearly slower: a rebound pipeline that is gets reverted.
    expect(clearlySlower(status.pipeline!)).toBe(false);
    expect(status.report).toMatch(/opt_encoder .*\| .* on OnnxCPU/);
    // The machine-readable result and the status files are on disk.
    const report = JSON.parse(fs.readFileSync(path.join(workspace, 'optimize-report.json'), 'utf8'));
    expect(Object.keys(report.modules)).toEqual(['opt_encoder', 'opt_head']);
    const onDisk = JSON.parse(fs.readFileSync(path.join(workspace, 'opt_encoder', 'status.json'), 'utf8'));
    expect(onDisk).toMatchObject({ module: 'opt_encoder', modelHash: expect.stringMatching(/^[0-9a-f]{64}$/), environment: { node: process.version } });
    expect(onDisk.environment.onnxruntime).toBe('1.30.0');
  });

  it('returns the same answers after rebinding, through the unchanged pipeline code', async () => {
    expect(pipeline.encoder.binding.reason).toBeDefined();
    for (let i = 0; i < dataloader.length; i++) {
      const out = await pipeline.run(dataloader[i][1]);
      const want = expected[i].y.data as Float32Array;
      const got = out.y.data as Float32Array;
      for (let j = 0; j < want.length; j++) expect(got[j]).toBeCloseTo(want[j], 4);
    }
  });

  it('answers inputs of a batch size it never saw', async () => {
    const out = await pipeline.run(7);
    const session = await InferenceSession.create(encoderPath);
    const direct = await session.run({ x: rows(7, 16) });
    const viaEncoder = await pipeline.encoder.run({ x: rows(7, 16) });
    expect(Array.from(viaEncoder.y.data as Float32Array)).toEqual(Array.from(direct.y.data as Float32Array).map((v) => expect.closeTo(v, 4)));
    expect(out.y.dims).toEqual([14, 4]);
  });

  it('reuses the cached result for the same model, config and environment', async () => {
    const started = Date.now();
    const again = await optimize(new TwoStagePipeline(), dataloader, { workspace, ...quiet });
    expect(again.modules.opt_encoder.cached).toBe(true);
    expect(again.modules.opt_head.cached).toBe(true);
    expect(again.pipeline).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('loadOptimized rebinds a fresh instance from the cache', async () => {
    const fresh = new TwoStagePipeline();
    const result = await loadOptimized(fresh, { workspace });
    expect(Object.keys(result.modules)).toEqual(['opt_encoder', 'opt_head']);
    const status = JSON.parse(fs.readFileSync(path.join(workspace, 'opt_encoder', 'status.json'), 'utf8'));
    const selected = status.candidates.find((c: { key: string }) => c.key === status.selected.key);
    // The source itself, unless a pipeline step set runner settings on it (e.g. thread spinning off).
    if (status.selected.key === 'onnx/OnnxCPU/default' && !status.selected.settings) expect(fresh.encoder.binding.isSource).toBe(true);
    else expect(fresh.encoder.binding).toMatchObject({ format: selected.format, runner: selected.runner, isSource: false });
  });

  it('says so when a module has no cached result', async () => {
    const result = await loadOptimized(new TwoStagePipeline(), { workspace: path.join(dir, 'empty') });
    expect(result.modules.opt_encoder).toMatch(/kept the original: no cached result/);
  });

  it('loadOptimized with no target rebinds every module seen so far, and every standalone one', async () => {
    const last = new TwoStagePipeline();
    await loadOptimized(last, { workspace: path.join(dir, 'empty') });
    const result = await loadOptimized(undefined, { workspace });
    expect(Object.keys(result.modules).sort()).toEqual(['opt_encoder', 'opt_head', 'opt_seq']); // opt_seq: navModule(model, options) below
    expect(result.modules.opt_encoder).toMatch(/^(bound to|the original model was the best)/);
  });
});

describe('optimize with a function target and strategies', () => {
  const seqPath = writeModel(dir, 'seq.onnx', sequenceModel());
  const seq = navModule(new OnnxModule(seqPath), { name: 'opt_seq' });
  const run = async (batch: number, length: number) => seq.run({ x: new Tensor('float32', new Float32Array(batch * length * 8).fill(0.5), [batch, length, 8]) });

  it('derives every dynamic axis and min/opt/max from the calls', async () => {
    const status = await optimize(run, [[2, 2, 4], [2, 2, 4], [1, 1, 9], [2, 2, 4]], { workspace: path.join(dir, 'fn'), ...quiet, targetFormats: ['onnx'] });
    const spec = status.modules.opt_seq.signature.inputs[0];
    expect(spec).toMatchObject({ shape: [null, null, 8], dynamicAxes: [0, 1], min: [1, 4, 8], opt: [2, 4, 8], max: [2, 9, 8] });
  });

  it('honours strategies.selected and strategies.maxThroughput', async () => {
    const selected = await optimize(run, [[1, 1, 4]], { workspace: path.join(dir, 'fn-sel'), ...quiet, force: true, strategy: strategies.selected('onnx-optimized', 'OnnxCPU') });
    expect(selected.modules.opt_seq.selected.key).toMatch(/^onnx-optimized\/OnnxCPU\//);
    const throughput = await optimize(run, [[1, 1, 4]], { workspace: path.join(dir, 'fn-thr'), ...quiet, maxBatchSize: 4, strategy: strategies.maxThroughput() });
    const module = throughput.modules.opt_seq;
    const best = Math.max(...module.candidates.filter((c) => c.status === 'passed').flatMap((c) => c.performance.map((p) => p.throughput)));
    const top = module.candidates.find((c) => c.performance.some((p) => p.throughput === best))!;
    // The strategy's pick, unless it could not beat the source beyond the noise, head to head at its best batch size.
    if (module.selected.key === module.baseline && top.key !== module.baseline) {
      expect(module.selected.reason).toMatch(new RegExp(`^no measurable gain: ${top.key} \\(highest throughput\\) ran `));
      expect(module.selected.gain).toMatchObject({ faster: false, rounds: 5 });
    } else {
      expect(module.selected.key).toBe(top.key);
    }
    // maxBatchSize 4: powers of two up to 4 were profiled for the baseline.
    expect(module.candidates.find((c) => c.key === module.baseline)!.performance.map((p) => p.batchSize)).toEqual(expect.arrayContaining([1]));
  });

  it('treats axis 0 as an ordinary axis for a module declared without batching', async () => {
    const unbatched = navModule(new OnnxModule(seqPath), { name: 'opt_unbatched', batching: false });
    const call = (length: number) => unbatched.run({ x: new Tensor('float32', new Float32Array(3 * length * 8).fill(0.2), [3, length, 8]) });
    const status = await optimize(call, [[1, 4], [1, 4]], { workspace: path.join(dir, 'unbatched'), ...quiet, targetFormats: ['onnx'] });
    const module = status.modules.opt_unbatched;
    expect(module.signature).toMatchObject({ batching: false, batchSizes: {} });
    expect(module.signature.inputs[0]).toMatchObject({ shape: [3, 4, 8], dynamicAxes: [] });
    const baseline = module.candidates.find((c) => c.key === module.baseline)!;
    expect(baseline.performance.map((p) => p.batchSize)).toEqual([3]);
    expect(module.selected.latencyMs).toBeGreaterThan(0);
  });

  it('leaves standalone modules that the function does not call alone', async () => {
    const idle = navModule(new OnnxModule(seqPath), { name: 'opt_idle_fn' });
    const status = await optimize(run, [[1, 1, 4]], { workspace: path.join(dir, 'fn-idle'), ...quiet, targetFormats: ['onnx'] });
    expect(Object.keys(status.modules)).toEqual(['opt_seq']);
    expect(idle.binding.isSource).toBe(true);
  });

  it('loads the modules the function called when they are cached, though uncalled ones have no cache', async () => {
    const workspace = path.join(dir, 'fn-cached');
    await optimize(run, [[1, 1, 4]], { workspace, ...quiet, targetFormats: ['onnx'] });
    const stale = navModule(new OnnxModule(seqPath), { name: 'opt_stale_fn' });
    const again = await optimize(run, [[1, 1, 4]], { workspace, ...quiet, targetFormats: ['onnx'] });
    expect(Object.keys(again.modules)).toEqual(['opt_seq']);
    expect(again.modules.opt_seq.cached).toBe(true);
    expect(stale.binding.isSource).toBe(true);
  });

  it('rejects a pipeline module that was never called, naming it, and writes nothing', async () => {
    class HalfUsed {
      @navModule({ name: 'opt_used' }) used = new OnnxModule(seqPath);
      @navModule({ name: 'opt_idle' }) idle = new OnnxModule(seqPath);
      run = (batch: number) => run(batch, 4).then(() => this.used.run({ x: new Tensor('float32', new Float32Array(batch * 32), [batch, 4, 8]) }));
    }
    const workspace = path.join(dir, 'idle');
    await expect(optimize(new HalfUsed(), [[1, 1]], { workspace, ...quiet })).rejects.toThrow(/module "opt_idle": was never called/);
    for (const name of ['opt_used', 'opt_idle']) {
      expect(fs.existsSync(path.join(workspace, name, 'status.json'))).toBe(false);
      expect(fs.readdirSync(path.join(workspace, name)).filter((f) => f.startsWith('run-'))).toEqual([]);
    }
  });

  it('rejects a pipeline without modules or a way to run it', async () => {
    await expect(optimize({ run: async () => 1 }, [[1, 1]], quiet)).rejects.toThrow(NavigatorError);
  });
});
