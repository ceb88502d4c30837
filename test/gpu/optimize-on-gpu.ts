/**
 * GPU check, run on a machine with a GPU (not a jest test: CI has none). Exits 1 on any failure.
 *
 *   npx tsc -p tsconfig.json && npx tsc -p test/gpu/tsconfig.json    (see docs/gpu.md)
 *   source .device/setup.sh; node dist/test/gpu/optimize-on-gpu.js   (on the lent GPU machine)
 *
 * 1. Device discovery finds the WebGPU provider and the GPU.
 * 2. WebGPU provider options: every variant the runner generates (and explicit NHWC, validation
 *    modes) creates a session whose outputs match the CPU's, graph capture included, over several
 *    different inputs (a replayed graph that ignored new inputs would fail here).
 * 3. gpu-buffer outputs of one WebGPU session feed another WebGPU session.
 * 4. A three-module text-to-image pipeline optimized with runners ['OnnxWebGPU'] (so the GPU runner
 *    is selected wherever it passes) gives the CPU source's images, its text embedding stays on the
 *    GPU (and reading it gives the navigator's error naming the module), and loadOptimized on a
 *    fresh instance does the same.
 */
import 'reflect-metadata';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { loadOptimized, navModule, NavigatorError, OnnxModule, optimize } from '../../src';
import { buildDenoiser, buildImageDecoder, buildTextEncoder, LATENT_CHANNELS, LATENT_SIZE, TEXT_TOKENS, tinyResNet } from '../../src/models';
import { discoverDevices } from '../../src/runners/device-discovery';
import { WEBGPU_GRAPH_CAPTURE, webgpuSessionOptions } from '../../src/runners/onnx-webgpu';
import { randomFloats, writeModel } from '../helpers/models';

const dir = fs.mkdtempSync(path.join(process.env.OUT ?? os.tmpdir(), 'gpu-check-'));
const failures: string[] = [];
const report: Record<string, unknown> = {};

function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

function relL2(a: Tensor, b: Tensor): number {
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let d = 0, n = 0;
  for (let i = 0; i < y.length; i++) {
    d += (x[i] - y[i]) ** 2;
    n += y[i] ** 2;
  }
  return x.length === y.length ? Math.sqrt(d / Math.max(n, 1e-30)) : Infinity;
}

function ids(batch: number, seed: number): Tensor {
  return new Tensor('int64', BigInt64Array.from({ length: batch * TEXT_TOKENS }, (_, i) => BigInt((i * 37 + seed * 101) % 1000)), [batch, TEXT_TOKENS]);
}

/** The models are written under this script's own folder (under $OUT on the device machine). */
function write(name: string, bytes: Uint8Array): string {
  return writeModel(dir, name, bytes);
}

/** Each settings set on WebGPU vs the CPU, over three different inputs in a row. */
async function providerOptions(): Promise<void> {
  const models = {
    tiny_resnet: { file: write('tiny_resnet.onnx', tinyResNet()), feeds: (i: number) => ({ pixel_values: randomFloats([2, 3, 32, 32], 10 + i) }) },
    denoiser: {
      file: write('denoiser.onnx', buildDenoiser()),
      feeds: (i: number) => ({ latent: randomFloats([2, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE], 20 + i), timestep: randomFloats([2], 30 + i), text_embedding: randomFloats([2, TEXT_TOKENS, 64], 40 + i) }),
    },
  };
  const settingsSets: Record<string, Record<string, string>> = {
    default: {},
    nhwc: { preferredLayout: 'NHWC' },
    nchw: { preferredLayout: 'NCHW' },
    'graph-capture': { [WEBGPU_GRAPH_CAPTURE]: '1' },
    'nchw-graph-capture': { preferredLayout: 'NCHW', [WEBGPU_GRAPH_CAPTURE]: '1' },
    'validation-wgpuOnly': { validationMode: 'wgpuOnly' },
    'validation-disabled': { validationMode: 'disabled' },
  };
  const results: Record<string, unknown> = {};
  for (const [model, { file, feeds }] of Object.entries(models)) {
    const cpu = await InferenceSession.create(file, { executionProviders: ['cpu'] });
    const expected = [];
    for (let i = 0; i < 3; i++) expected.push(await cpu.run(feeds(i)));
    for (const [name, settings] of Object.entries(settingsSets)) {
      const key = `${model}/${name}`;
      try {
        const session = await InferenceSession.create(file, webgpuSessionOptions(settings));
        let worst = 0;
        for (let i = 0; i < 3; i++) {
          const out = await session.run(feeds(i));
          for (const output of Object.keys(expected[i])) worst = Math.max(worst, relL2(out[output], expected[i][output]));
        }
        await session.release();
        results[key] = { relL2: worst };
        check(worst < 1e-3, `${key}: WebGPU matches the CPU over 3 different inputs (relL2 ${worst.toExponential(2)})`);
      } catch (error) {
        results[key] = { error: String((error as Error).message ?? error).slice(0, 300) };
        check(false, `${key}: ${(results[key] as { error: string }).error}`);
      }
    }
    await cpu.release();
  }
  report.providerOptions = results;
}

/** A gpu-buffer output of one WebGPU session as the input of another. */
async function gpuBufferChain(): Promise<void> {
  const encoderFile = write('text_encoder.onnx', buildTextEncoder());
  const denoiserFile = write('denoiser2.onnx', buildDenoiser());
  const feeds = { input_ids: ids(2, 1) };
  const rest = { latent: randomFloats([2, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE], 5), timestep: randomFloats([2], 6) };
  const cpuEncoder = await InferenceSession.create(encoderFile);
  const cpuDenoiser = await InferenceSession.create(denoiserFile);
  const expected = (await cpuDenoiser.run({ ...rest, text_embedding: (await cpuEncoder.run(feeds)).text_embedding })).noise_pred;
  const encoder = await InferenceSession.create(encoderFile, webgpuSessionOptions({ gpuOutputs: 'text_embedding' }));
  const denoiser = await InferenceSession.create(denoiserFile, webgpuSessionOptions({}));
  const embedding = (await encoder.run(feeds)).text_embedding;
  check(embedding.location === 'gpu-buffer', `gpu-buffer output: location is ${embedding.location}`);
  const got = (await denoiser.run({ ...rest, text_embedding: embedding })).noise_pred;
  const error = relL2(got, expected);
  report.gpuBufferChain = { location: embedding.location, relL2: error };
  check(error < 1e-3, `gpu-buffer output fed to another WebGPU session matches the CPU (relL2 ${error.toExponential(2)})`);
}

/** Text encoder → denoiser in a loop (the embedding passed on unread) → decoder, as in samples/text-to-image.ts. */
class GpuTextToImage {
  constructor(
    readonly textEncoder: OnnxModule,
    readonly denoiser: OnnxModule,
    readonly decoder: OnnxModule,
  ) {}

  async generate(batch: number, seed: number): Promise<Tensor> {
    const { text_embedding } = await this.textEncoder.run({ input_ids: ids(batch, seed) });
    let latent = randomFloats([batch, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE], seed);
    for (let step = 0; step < 3; step++) {
      const timestep = new Tensor('float32', new Float32Array(batch).fill(1 - step / 3), [batch]);
      const { noise_pred } = await this.denoiser.run({ latent, timestep, text_embedding });
      const x = latent.data as Float32Array, p = noise_pred.data as Float32Array;
      latent = new Tensor('float32', x.map((v, i) => v - 0.3 * p[i]), latent.dims);
    }
    return (await this.decoder.run({ latent })).image;
  }
}

async function optimizePipeline(): Promise<void> {
  const files = { enc: write('t2i_encoder.onnx', buildTextEncoder()), den: write('t2i_denoiser.onnx', buildDenoiser()), dec: write('t2i_decoder.onnx', buildImageDecoder()) };
  const reference = new GpuTextToImage(new OnnxModule(files.enc), new OnnxModule(files.den), new OnnxModule(files.dec));
  const pipeline = new GpuTextToImage(
    navModule(new OnnxModule(files.enc), { name: 'gpu_text_encoder' }),
    navModule(new OnnxModule(files.den), { name: 'gpu_denoiser' }),
    navModule(new OnnxModule(files.dec), { name: 'gpu_decoder' }),
  );
  // Items are [batchSize, ...arguments of one call]. Batches of 16 and 32: at batch 1-2 these small
  // modules run faster on the CPU, and the pipeline check would rightly send them all back there.
  const dataloader: [number, number, number][] = [[16, 16, 1], [32, 32, 2], [16, 16, 3]];
  const workspace = path.join(dir, 'workspace');
  const started = performance.now();
  const target = (batch: number, seed: number) => pipeline.generate(batch, seed);
  const result = await optimize(target, dataloader, {
    workspace,
    runners: ['OnnxWebGPU'],
    profiling: { windowMs: 30, stableWindows: 2, maxWindows: 4 },
    verbose: true,
  });
  report.optimizeSeconds = (performance.now() - started) / 1000;
  report.optimizeReport = result.report;
  report.selected = Object.fromEntries(Object.entries(result.modules).map(([name, m]) => [name, m.selected.key]));
  report.outputFlow = Object.fromEntries(Object.entries(result.modules).map(([name, m]) => [name, m.outputFlow]));
  for (const [name, module] of Object.entries(result.modules)) {
    const selected = module.candidates.find((c) => c.key === module.selected.key)!;
    check(selected.runner === 'OnnxWebGPU', `${name}: selected ${module.selected.key} (${module.selected.reason})`);
    check(module.runners.some((r) => r.name === 'OnnxWebGPU' && r.available), `${name}: OnnxWebGPU available (${module.runners.find((r) => r.name === 'OnnxWebGPU')?.reason})`);
  }
  const flow = result.modules.gpu_text_encoder.outputFlow ?? [];
  check(flow.some((f) => f.output === 'text_embedding' && !f.read && f.consumers.includes('gpu_denoiser.text_embedding')), `tensor flow: text_embedding goes unread to the denoiser (${JSON.stringify(flow)})`);
  const embedding = (await pipeline.textEncoder.run({ input_ids: ids(1, 9) })).text_embedding;
  check(embedding.location === 'gpu-buffer', `rebound text encoder keeps text_embedding on the GPU (location ${embedding.location})`);
  // A read that capture never saw gets the navigator's error, naming the module, the output and the fix.
  let readError: unknown;
  try {
    void embedding.data;
  } catch (error) {
    readError = error;
  }
  check(readError instanceof NavigatorError && /gpu_text_encoder.*output text_embedding[\s\S]*Fix:/.test(String((readError as Error).message)), `reading the GPU-resident embedding: ${(readError as Error)?.message}`);
  await comparePipelines('optimized', reference, pipeline);

  // The load path: back to the source models, then rebound from the workspace as a new process would.
  for (const module of [pipeline.textEncoder, pipeline.denoiser, pipeline.decoder]) await module.release();
  report.load = (await loadOptimized(target, { workspace })).modules;
  const reloaded = (await pipeline.textEncoder.run({ input_ids: ids(1, 9) })).text_embedding;
  check(reloaded.location === 'gpu-buffer', `loadOptimized: text_embedding on the GPU again (location ${reloaded.location}); ${JSON.stringify(report.load)}`);
  await comparePipelines('loaded', reference, pipeline);
}

async function comparePipelines(label: string, reference: GpuTextToImage, candidate: GpuTextToImage): Promise<void> {
  const times: number[] = [];
  for (const [batch, seed] of [[16, 11], [32, 12], [3, 13]]) {
    const want = await reference.generate(batch, seed);
    const started = performance.now();
    const got = await candidate.generate(batch, seed);
    times.push(performance.now() - started);
    const error = relL2(got, want);
    check(error < 1e-3, `${label} pipeline, batch ${batch}: images match the CPU source (relL2 ${error.toExponential(2)})`);
  }
  report[`${label}PipelineMs`] = times;
}

async function main(): Promise<void> {
  const devices = await discoverDevices({ refresh: true });
  report.devices = devices;
  console.log(JSON.stringify(devices, null, 2));
  check(devices.providers.webgpu.available, `discovery: WebGPU available (${devices.providers.webgpu.reason ?? 'ok'})`);
  check(devices.gpus.length > 0, `discovery: GPUs ${JSON.stringify(devices.gpus)}`);
  if (!devices.providers.webgpu.available) return;
  for (const step of [providerOptions, gpuBufferChain, optimizePipeline]) {
    try {
      await step();
    } catch (error) {
      check(false, `${step.name} threw: ${(error as Error).stack ?? error}`);
    }
  }
}

main()
  .catch((error) => check(false, `threw: ${(error as Error).stack ?? error}`))
  .finally(() => {
    report.failures = failures;
    if (process.env.OUT) fs.writeFileSync(path.join(process.env.OUT, 'gpu-check.json'), JSON.stringify(report, null, 2));
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(failures.length ? `\n${failures.length} check(s) failed` : '\nall GPU checks passed');
    process.exit(failures.length ? 1 : 0);
  });
