/**
 * The GPU runners (OnnxWebGPU, OnnxCUDA, OnnxTensorRT) on a machine without a GPU, and the tensor
 * flow analysis that keeps outputs on the GPU between WebGPU modules. The skip path is what CI can
 * check end to end: an optimize that names the GPU runners completes on the CPU and says why each
 * GPU runner was skipped. The GPU side is checked by test/gpu/optimize-on-gpu.ts on a GPU machine.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, NavigatorError, OnnxModule, optimize } from '../../src';
import { TensorFlowTracker } from '../../src/capture/tensor-flow';
import { BoundModule, planGpuResidentOutputs } from '../../src/optimizer/gpu-residency';
import { formatRegistry, runnerRegistry } from '../../src/plugins';
import { loads } from '../../src/core/plugin';
import { listGpus } from '../../src/runners/device-discovery';
import { guardOutputs, unwrapGpuInputs } from '../../src/runners/gpu-resident';
import { gpuProviderSessionOptions } from '../../src/runners/onnx-cuda';
import { GPU_OUTPUTS, WEBGPU_GRAPH_CAPTURE, capturesGraph, staticShapes, webgpuSessionOptions, webgpuVariants } from '../../src/runners/onnx-webgpu';
import { signatureOf } from '../helpers/format-check';
import { mlpModel, quiet, rows, tempDir, writeModel } from '../helpers/models';

const dir = tempDir('nav-gpu-runners-');
const hasGpu = listGpus().length > 0;
const GPU_RUNNERS = ['OnnxWebGPU', 'OnnxCUDA', 'OnnxTensorRT'];


describe('GPU runners', () => {
  it('are registered, each with its device and formats', () => {
    expect(runnerRegistry.names()).toEqual(expect.arrayContaining(['OnnxCPU', ...GPU_RUNNERS]));
    for (const name of GPU_RUNNERS) {
      const runner = runnerRegistry.get(name);
      expect(runner.device).toBe('gpu');
      expect(formatRegistry.all().filter((format) => loads(runner, format)).map((f) => f.name)).toEqual(expect.arrayContaining(['onnx', 'onnx-fp16', 'onnx-static']));
    }
  });

  it('say why they are unavailable on a machine without a GPU, never throwing', async () => {
    for (const name of GPU_RUNNERS) {
      const availability = await runnerRegistry.get(name).availability();
      if (hasGpu) continue; // a GPU machine may have them; test/gpu/optimize-on-gpu.ts checks that side
      expect(availability).toMatchObject({ available: false, reason: expect.stringMatching(/provider/) });
    }
  });

  it('WebGPU variants: defaults, NCHW, and graph capture only where every call had one shape', () => {
    const dynamic = signatureOf([{ name: 'x', shapes: [[1, 16], [4, 16]] }]);
    expect(webgpuVariants(dynamic, {}).map((v) => v.id)).toEqual(['default', 'nchw']);
    expect(staticShapes(dynamic, {})).toBeUndefined();

    const single = signatureOf([{ name: 'x', shapes: [[2, 16]] }, { name: 't', shapes: [[2]] }]);
    const variants = webgpuVariants(single, {});
    expect(variants.map((v) => v.id)).toEqual(['default', 'nchw', 'graph-capture']);
    expect(variants[2].settings).toEqual({ [WEBGPU_GRAPH_CAPTURE]: '1' });
    expect(staticShapes(single, {})).toEqual({ x: [2, 16], t: [2] });

    // A static-shape format fixes the shapes even where calls varied.
    expect(webgpuVariants(dynamic, { fixedShapes: { x: [4, 16] } }).map((v) => v.id)).toContain('graph-capture');
    expect(staticShapes(dynamic, { fixedShapes: { x: [4, 16] } })).toEqual({ x: [4, 16] });
    expect(variants.length).toBeLessThanOrEqual(4);
  });

  it('WebGPU session options from variant settings', () => {
    expect(webgpuSessionOptions({})).toEqual({ executionProviders: [{ name: 'webgpu' }], extra: {} });
    expect(webgpuSessionOptions({ preferredLayout: 'NCHW', validationMode: 'basic' }).executionProviders).toEqual([{ name: 'webgpu', preferredLayout: 'NCHW', validationMode: 'basic' }]);
    const capture = webgpuSessionOptions({ [WEBGPU_GRAPH_CAPTURE]: '1' });
    // The Node binding ignores `enableGraphCapture`; the session config entry is what the provider reads.
    expect(capture.extra).toEqual({ ep: { webgpuexecutionprovider: { enableGraphCapture: '1' } } });
    expect(capture.executionProviders).toEqual([{ name: 'webgpu' }]);
    expect(capturesGraph({ [WEBGPU_GRAPH_CAPTURE]: '1' })).toBe(true);
    expect(capturesGraph({})).toBe(false);
    const resident = webgpuSessionOptions({ [GPU_OUTPUTS]: 'text_embedding,mask' });
    expect(resident.preferredOutputLocation).toEqual({ text_embedding: 'gpu-buffer', mask: 'gpu-buffer' });
    // Settings that are not provider options never reach the provider, which throws on unknown keys.
    expect(resident.executionProviders).toEqual([{ name: 'webgpu' }]);
  });

  it('CUDA and TensorRT get deviceId only', () => {
    expect(gpuProviderSessionOptions('cuda', {}).executionProviders).toEqual([{ name: 'cuda', deviceId: 0 }]);
    expect(gpuProviderSessionOptions('tensorrt', { deviceId: 1 }).executionProviders).toEqual([{ name: 'tensorrt', deviceId: 1 }]);
    for (const name of ['OnnxCUDA', 'OnnxTensorRT']) expect(runnerRegistry.get(name).variants({} as never)).toEqual([{ id: 'default', settings: {} }]);
  });
});

describe('optimize with GPU runners named on a machine without them', () => {
  const file = writeModel(dir, 'mlp.onnx', mlpModel({ seed: 5, inputs: 16, outputs: 4 }));
  const module = navModule(new OnnxModule(file), { name: 'gpu_skip_mlp' });

  it('completes on the CPU and lists every GPU runner and candidate as skipped with its reason', async () => {
    if (hasGpu) return expect(hasGpu).toBe(true); // the skip path needs a machine without a GPU
    const status = await optimize((batch: number) => module.run({ x: rows(batch, 16) }), [[1, 1], [2, 2]], {
      ...quiet,
      workspace: path.join(dir, 'skip'),
      runners: ['OnnxCPU', ...GPU_RUNNERS],
    });
    const m = status.modules.gpu_skip_mlp;
    const selected = m.candidates.find((c) => c.key === m.selected.key)!;
    expect(selected).toMatchObject({ runner: 'OnnxCPU', status: 'passed' });
    for (const name of GPU_RUNNERS) {
      expect(m.runners).toContainEqual({ name, available: false, reason: expect.stringMatching(/provider/) });
      const candidates = m.candidates.filter((c) => c.runner === name);
      // One per format the runner loads that is registered and targeted: at least the source model.
      expect(candidates.map((c) => c.format)).toContain('onnx');
      for (const c of candidates) {
        expect(c.status).toBe('skipped');
        expect(c.reason).toMatch(new RegExp(`runner ${name} is not available here: .*provider`));
      }
    }
    expect(m.candidates.some((c) => c.status === 'failed')).toBe(false);
    // The module still answers, through the CPU selection.
    const out = await module.run({ x: rows(3, 16) });
    expect(out.y.dims).toEqual([3, 4]);
  });
});

describe('tensor flow between modules', () => {
  it('notes reads of tracked outputs and unwraps them when they come back as inputs', () => {
    const tracker = new TensorFlowTracker();
    const raw = { a: new Tensor('float32', new Float32Array([1, 2]), [1, 2]), b: new Tensor('float32', new Float32Array([3]), [1, 1]) };
    tracker.produce('m', raw); // not capturing: nothing tracked
    expect(tracker.flowsOf('m')).toEqual([]);

    tracker.start();
    const out = tracker.produce('m', raw);
    expect(out.a).not.toBe(raw.a);
    expect(out.a).toBeInstanceOf(Tensor);
    expect(out.a.dims).toEqual([1, 2]); // shape and type are not reads
    expect(out.b.type).toBe('float32');
    const feeds = tracker.consume('n', { x: out.a, other: raw.b });
    expect(feeds.x).toBe(raw.a); // the module gets the tensor itself, not the proxy
    expect(feeds.other).toBe(raw.b);
    tracker.consume('m', { loop: out.a }); // back into its own module next iteration
    expect(Array.from(out.b.data as Float32Array)).toEqual([3]); // works, and is noted
    tracker.stop();
    expect(tracker.flowsOf('m')).toEqual([
      { output: 'a', consumers: ['m.loop', 'n.x'], read: false },
      { output: 'b', consumers: [], read: true, readBy: 'pipeline code used .data' },
    ]);
    tracker.start();
    expect(tracker.flowsOf('m')).toEqual([]); // a new capture starts afresh
    const again = tracker.produce('m', raw);
    again.a.reshape([2]);
    expect(tracker.flowsOf('m')[0]).toMatchObject({ output: 'a', read: true, readBy: 'pipeline code used .reshape' });
    tracker.stop();
  });

  it('keeps an output on the GPU only when it is unread and every consumer runs on WebGPU with free shapes', () => {
    const flow = (output: string, consumers: string[], read = false) => ({ output, consumers, read });
    const modules: BoundModule[] = [
      { name: 'encoder', runner: 'OnnxWebGPU', fixedShapes: false, flow: [flow('emb', ['denoiser.text']), flow('pooled', ['head.x']), flow('logits', [])] },
      { name: 'denoiser', runner: 'OnnxWebGPU', fixedShapes: false, flow: [flow('noise', ['denoiser.latent'], true)] },
      { name: 'head', runner: 'OnnxCPU', fixedShapes: false, flow: [] },
      { name: 'static', runner: 'OnnxWebGPU', fixedShapes: true, flow: [] },
      { name: 'feeder', runner: 'OnnxWebGPU', fixedShapes: false, flow: [flow('x', ['static.x']), flow('y', ['gone.y'])] },
      { name: 'cpu_producer', runner: undefined, fixedShapes: false, flow: [flow('z', ['denoiser.text'])] },
    ];
    const plan = planGpuResidentOutputs(modules);
    expect(plan.keep).toEqual({ encoder: ['emb'] });
    expect(plan.notes).toEqual([
      'encoder.emb stays on the GPU for denoiser.text',
      'encoder.pooled stays on the CPU: consumer head runs on OnnxCPU',
      'denoiser.noise stays on the CPU: its data is read',
      'feeder.x stays on the CPU: consumer static takes fixed shapes only',
      'feeder.y stays on the CPU: consumer gone is not optimized with it',
    ]);
  });

  it('is learned during capture and stored in each module status', async () => {
    const encoderFile = writeModel(dir, 'flow_encoder.onnx', mlpModel({ seed: 7, inputs: 16, outputs: 16 }));
    const headFile = writeModel(dir, 'flow_head.onnx', mlpModel({ seed: 8, inputs: 16, outputs: 16 }));
    class FlowPipeline {
      encoder = new OnnxModule(encoderFile);
      head = new OnnxModule(headFile);
      /** The encoder's output goes on unread; the head runs twice, on its own output the second time, which is then read. */
      async run(batch: number): Promise<number> {
        const { y } = await this.encoder.run({ x: rows(batch, 16) });
        const first = await this.head.run({ x: y });
        const second = await this.head.run({ x: first.y });
        return (second.y.data as Float32Array)[0];
      }
    }
    navModule({ name: 'flow_encoder' })(FlowPipeline.prototype, 'encoder');
    navModule({ name: 'flow_head' })(FlowPipeline.prototype, 'head');
    const pipeline = new FlowPipeline();
    const expected = await pipeline.run(2);
    const workspace = path.join(dir, 'flow');
    const status = await optimize(pipeline, [[1, 1], [2, 2]], { ...quiet, workspace, runners: ['OnnxCPU'], targetFormats: ['onnx'] });
    expect(status.modules.flow_encoder.outputFlow).toEqual([{ output: 'y', consumers: ['flow_head.x'], read: false }]);
    expect(status.modules.flow_head.outputFlow).toEqual([{ output: 'y', consumers: ['flow_head.x'], read: true, readBy: 'pipeline code used .data' }]);
    const onDisk = JSON.parse(fs.readFileSync(path.join(workspace, 'flow_encoder', 'status.json'), 'utf8'));
    expect(onDisk.outputFlow).toEqual(status.modules.flow_encoder.outputFlow);
    // Outside capture, modules hand out plain tensors again, and the answers are unchanged.
    expect(await pipeline.run(2)).toBeCloseTo(expected, 5);
  });
});

describe('outputs kept on the GPU', () => {
  // onnxruntime's own gpu-buffer tensor; the buffer is a stand-in, since no GPU runs here.
  const onGpu = () => Tensor.fromGpuBuffer({ size: 16, mapState: 'unmapped' } as never, { dataType: 'float32', dims: [1, 4] });

  it('refuse a read with an error naming the module, the output and the fix', () => {
    const cpu = new Tensor('float32', new Float32Array(4), [1, 4]);
    const outputs = guardOutputs('denoiser', { y: onGpu(), cpu });
    expect(outputs.cpu).toBe(cpu);
    expect(outputs.y.dims).toEqual([1, 4]);
    expect(outputs.y.location).toBe('gpu-buffer');
    for (const read of [() => outputs.y.data, () => outputs.y.getData(), () => outputs.y.reshape([4])]) {
      expect(read).toThrow(NavigatorError);
      expect(read).toThrow(/module "denoiser", "output y": pipeline code used \.\w+ of an output that stays on the GPU\n {2}Fix: .*run optimize again with force: true/);
    }
  });

  it('can still be disposed through the guard', () => {
    let disposed = false;
    const raw = Tensor.fromGpuBuffer({ size: 16, mapState: 'unmapped' } as never, { dataType: 'float32', dims: [1, 4], dispose: () => void (disposed = true) });
    const guarded = guardOutputs('denoiser', { y: raw }).y;
    guarded.dispose();
    expect(disposed).toBe(true);
    expect(guarded.location).toBe('none');
  });

  it('reach the next WebGPU session as the tensor onnxruntime returned', () => {
    const raw = onGpu();
    const cpu = new Tensor('float32', new Float32Array(4), [1, 4]);
    const feeds = { x: guardOutputs('text_encoder', { y: raw }).y, other: cpu };
    expect(feeds.x).not.toBe(raw);
    expect(unwrapGpuInputs(feeds)).toEqual({ x: raw, other: cpu });
    const plain = { other: cpu };
    expect(unwrapGpuInputs(plain)).toBe(plain);
  });
});
