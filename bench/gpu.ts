/**
 * GPU benchmark, in one run on one machine: plain onnxruntime-node on the CPU, plain onnxruntime-node
 * on WebGPU (default options), and the navigator's selection (optimize with runners OnnxCPU and
 * OnnxWebGPU over every registered format). After optimize, the three run interleaved for `--rounds`
 * rounds (default 5, order rotating), on the dataloader's inputs (captured) and on inputs of sizes
 * the dataloader never had (unseen: another image size or sequence length, another batch size for
 * the pipeline); the table gives throughput and the per-round ratios navigator / plain, median
 * [min-max]. Plus PyTorch eager fp16 ResNet-50 on the same GPU (bench/torch_reference.py) as a ceiling.
 *
 *   npx tsc -p tsconfig.json && ../shared/device/pack
 *   (GPU machine) source .device/setup.sh; node dist/bench/gpu.js            full set
 *                                          node dist/bench/gpu.js --tiny     small models: checks the script
 *                                          node dist/bench/gpu.js --pipelines  the text-to-image pipeline cases only
 *                                          node dist/bench/gpu.js --models   the single-model cases only
 *                                          node dist/bench/gpu.js --options  WebGPU provider options on ResNet-50
 *
 * Writes gpu-bench.json and gpu-bench.md under $OUT (or bench/results/), and prints the table.
 */
import 'reflect-metadata';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../src';
import { bertBase, buildDenoiser, buildImageDecoder, buildTextEncoder, LATENT_CHANNELS, LATENT_SIZE, resnet50, TEXT_TOKENS, tinyEncoder, tinyResNet } from '../src/models';
import type { Feeds } from '../src/core/feeds';
import { describeGpu, discoverDevices } from '../src/runners/device-discovery';
import { WEBGPU_GRAPH_CAPTURE, webgpuSessionOptions } from '../src/runners/onnx-webgpu';
import { formatRegistry } from '../src/plugins';
import { floats, ids, toFloat16 } from './inputs';
import { interleavedRounds, median, spread, timeRuns, type Spread } from './timing';

const args = new Set(process.argv.slice(2));
const roundsAt = process.argv.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
if (!Number.isInteger(ROUNDS) || ROUNDS < 3) throw new Error(`--rounds must be an integer >= 3, got ${process.argv[roundsAt + 1]}`);
const outDir = process.env.OUT ?? path.resolve('bench/results');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-gpu-bench-'));
/** Stop starting new cases after this long, so a slow machine still writes what it measured. */
const deadline = Date.now() + Number(process.env.NAV_BENCH_BUDGET_S ?? 480) * 1000;

interface Throughput {
  /** Samples (images, sequences) per second. */
  perSecond: number;
  p50Ms: number;
  runs: number;
}

/** Warm-up, then runs until at least `minRuns` runs and `minMs` elapsed; throughput from the mean. */
async function measure(run: () => Promise<unknown>, batch: number, minMs = 1500, minRuns = 5): Promise<Throughput> {
  const times = await timeRuns(run, { warmup: 3, minRuns, minMs });
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return { perSecond: (1000 * batch) / mean, p50Ms: median(times), runs: times.length };
}

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(work, `${name}.onnx`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Samples per second of each contender on one set of inputs (median round), and the per-round ratios of the navigator to each plain side. */
interface Contest {
  inputs: string;
  cpu: number;
  webgpu: number;
  navigator: number;
  navigatorVsCpu: Spread;
  navigatorVsWebgpu: Spread;
  /** Per round, the navigator against the faster plain side of that round. */
  navigatorVsBestPlain: Spread;
}

interface Row {
  case: string;
  unit: string;
  captured?: Contest;
  unseen?: Contest;
  selected?: string | Record<string, string>;
  candidates?: unknown;
  notes?: string[];
  error?: string;
}

const quickProfiling = { windowMs: 60, stableWindows: 2, maxWindows: 4 };

type Contenders = Record<'cpu' | 'webgpu' | 'navigator', (inputs: number) => Promise<unknown>>;

/**
 * The three contenders after optimize, interleaved (bench/timing.ts: each round runs every side, the
 * order rotating), on the captured inputs (index 0) and the unseen ones (index 1), so that load
 * and device state hit all alike. `samples` is the samples per pass of each input set.
 */
async function compare(row: Row, run: Contenders, samples: [number, number], labels: [string, string]): Promise<void> {
  const sides = ([0, 1] as const).flatMap((set) => (['cpu', 'webgpu', 'navigator'] as const).map((key) => () => run[key](set)));
  const ms = await interleavedRounds(sides, { rounds: ROUNDS, minSideMs: 400 });
  ([0, 1] as const).forEach((set) => {
    const [cpu, webgpu, navigator] = ms.slice(set * 3, set * 3 + 3);
    const perSecond = (times: number[]) => (1000 * samples[set]) / spread(times).median;
    const ratios = (plain: number[]) => spread(plain.map((p, i) => p / navigator[i]));
    const contest: Contest = {
      inputs: labels[set],
      cpu: perSecond(cpu),
      webgpu: perSecond(webgpu),
      navigator: perSecond(navigator),
      navigatorVsCpu: ratios(cpu),
      navigatorVsWebgpu: ratios(webgpu),
      navigatorVsBestPlain: ratios(cpu.map((c, i) => Math.min(c, webgpu[i]))),
    };
    row[set === 0 ? 'captured' : 'unseen'] = contest;
  });
}

/** One model at one batch size, optimized over two input sizes: plain CPU, plain WebGPU, and the navigator's selection, on those and on a size between them. */
async function modelCase(name: string, build: () => Uint8Array, captured: Feeds[], unseen: Feeds, batch: number, labels: [string, string]): Promise<Row> {
  const row: Row = { case: name, unit: 'samples/s' };
  const file = write(name, build());
  const cpu = await InferenceSession.create(file, { executionProviders: ['cpu'] });
  const gpu = await InferenceSession.create(file, { executionProviders: ['webgpu'] });
  const module = new OnnxModule(file);
  const status = await optimize(pipelineOf({ [`bench_${name}`]: module }), captured.map((feeds) => [batch, feeds]), {
    call: (_: object, feeds: Feeds) => module.run(feeds),
    workspace: path.join(work, 'workspace'),
    runners: ['OnnxCPU', 'OnnxWebGPU'],
    batchSizes: [batch],
    sampleCount: 4,
    profiling: quickProfiling,
    verbose: args.has('--verbose'),
  });
  const m = status.modules[`bench_${name}`];
  row.selected = m.selected.key;
  row.notes = [m.selected.reason];
  row.candidates = m.candidates.map((c) => ({ key: c.key, status: c.status, p50Ms: c.performance[0]?.p50Ms, relL2: Math.max(0, ...c.correctness.outputs.map((o) => o.relL2)), reason: c.reason?.slice(0, 160) }));
  const over = (session: { run(feeds: Feeds): Promise<unknown> }) => async (set: number) => {
    for (const feeds of set === 0 ? captured : [unseen]) await session.run(feeds);
  };
  await compare(row, { cpu: over(cpu), webgpu: over(gpu), navigator: over(module) }, [batch * captured.length, batch], labels);
  for (const s of [cpu, gpu, module]) await s.release();
  fs.rmSync(path.join(work, 'workspace'), { recursive: true, force: true });
  fs.rmSync(file, { force: true });
  return row;
}

/**
 * A pipeline object holding these modules under these names, as a class with @navModule properties
 * would: each case gets its own, so cases do not see each other's modules (as they would through the
 * process-wide navModule(model, options) registry).
 */
function pipelineOf(modules: Record<string, OnnxModule>): object {
  const Pipeline = class {};
  Object.defineProperty(Pipeline, 'name', { value: `Bench_${Object.keys(modules).join('_')}` });
  const instance = new Pipeline() as Record<string, OnnxModule>;
  for (const [name, module] of Object.entries(modules)) {
    navModule({ name })(Pipeline.prototype, name);
    instance[name] = module;
  }
  return instance;
}

/** Text encoder → denoiser × steps (embedding passed on unread) → decoder, as samples/text-to-image.ts. */
class TextToImage {
  constructor(readonly enc: OnnxModule, readonly den: OnnxModule, readonly dec: OnnxModule, readonly steps = 4) {}

  async generate(batch: number): Promise<Tensor> {
    const { text_embedding } = await this.enc.run({ input_ids: ids([batch, TEXT_TOKENS], 1000, batch) });
    let latent = floats([batch, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE], 7);
    for (let step = 0; step < this.steps; step++) {
      const timestep = new Tensor('float32', new Float32Array(batch).fill(1 - step / this.steps), [batch]);
      const { noise_pred } = await this.den.run({ latent, timestep, text_embedding });
      const x = latent.data as Float32Array, p = noise_pred.data as Float32Array;
      latent = new Tensor('float32', x.map((v, i) => v - 0.25 * p[i]), latent.dims);
    }
    return (await this.dec.run({ latent })).image;
  }
}

/**
 * `runners` ['OnnxWebGPU'] puts every module on WebGPU (where it passes), so the text embedding can
 * stay on the GPU. Unseen: a batch size the dataloader never had (3/4 of it), as a service sees.
 */
async function textToImageCase(batch: number, runners = ['OnnxCPU', 'OnnxWebGPU']): Promise<Row> {
  const only = runners.length === 1 ? `, navigator with ${runners[0]} only` : '';
  const row: Row = { case: `text-to-image pipeline b${batch} (3 modules, 4 steps${only})`, unit: 'images/s' };
  const files = [write('t2i_enc', buildTextEncoder()), write('t2i_den', buildDenoiser()), write('t2i_dec', buildImageDecoder())];
  const make = (options?: InferenceSession.SessionOptions) => files.map((f) => new OnnxModule(f, options)) as [OnnxModule, OnnxModule, OnnxModule];
  const cpu = new TextToImage(...make());
  const gpu = new TextToImage(...make({ executionProviders: ['webgpu'] }));
  const nav = new TextToImage(...make());
  const status = await optimize(pipelineOf({ bench_t2i_encoder: nav.enc, bench_t2i_denoiser: nav.den, bench_t2i_decoder: nav.dec }), [[batch, batch]], {
    call: (_: object, b: number) => nav.generate(b),
    workspace: path.join(work, `workspace-t2i-${batch}-${runners.length}`),
    runners,
    batchSizes: [batch],
    sampleCount: 2,
    profiling: quickProfiling,
    verbose: args.has('--verbose'),
  });
  row.selected = Object.fromEntries(Object.entries(status.modules).map(([n, m]) => [n, m.selected.key]));
  row.notes = [...(status.pipeline?.notes ?? []), ...Object.values(status.modules).flatMap((m) => (m.outputFlow ?? []).map((f) => `${m.module}.${f.output} → ${f.consumers.join(',') || '(pipeline)'}${f.read ? ` (read: ${f.readBy})` : ''}`))];
  row.notes.push(`text_embedding location after optimize: ${(await nav.enc.run({ input_ids: ids([batch, TEXT_TOKENS], 1000, batch) })).text_embedding.location}`);
  const unseen = Math.max(1, Math.round((batch * 3) / 4)) === batch ? batch + 1 : Math.max(1, Math.round((batch * 3) / 4));
  const sizes = [batch, unseen];
  const over = (pipeline: TextToImage) => (set: number) => pipeline.generate(sizes[set]);
  await compare(row, { cpu: over(cpu), webgpu: over(gpu), navigator: over(nav) }, [batch, unseen], [`batch ${batch}`, `batch ${unseen}`]);
  for (const m of [cpu.enc, cpu.den, cpu.dec, gpu.enc, gpu.den, gpu.dec, nav.enc, nav.den, nav.dec]) await m.release();
  return row;
}

/** WebGPU provider settings on one model: what the runner's variants choose between. */
async function optionsCase(name: string, build: () => Uint8Array, feeds: Feeds, batch: number): Promise<Row[]> {
  type OptionRow = Row & { webgpu?: Throughput };
  const file = write(name, build());
  const output = name.startsWith('resnet') ? 'logits' : 'last_hidden_state';
  const sets: Record<string, Record<string, string>> = {
    default: {},
    'preferredLayout NCHW': { preferredLayout: 'NCHW' },
    'preferredLayout NHWC': { preferredLayout: 'NHWC' },
    'graph capture': { [WEBGPU_GRAPH_CAPTURE]: '1' },
    'validationMode disabled': { validationMode: 'disabled' },
    'output on GPU (gpu-buffer)': { gpuOutputs: output },
    'output on GPU + graph capture': { gpuOutputs: output, [WEBGPU_GRAPH_CAPTURE]: '1' },
    // How the provider reuses its GPU buffers between runs (its default: bucket for storage buffers).
    'storage buffers cache simple': { storageBufferCacheMode: 'simple' },
    'storage buffers cache disabled': { storageBufferCacheMode: 'disabled' },
    'storage buffers cache lazyRelease': { storageBufferCacheMode: 'lazyRelease' },
    'uniform buffers cache simple': { uniformBufferCacheMode: 'simple' },
    'default buffers cache simple': { defaultBufferCacheMode: 'simple' },
  };
  const rows: OptionRow[] = [];
  for (const [label, settings] of Object.entries(sets)) {
    if (Date.now() > deadline) break;
    const row: OptionRow = { case: `${name} b${batch} WebGPU ${label}`, unit: 'samples/s' };
    try {
      const session = await InferenceSession.create(file, webgpuSessionOptions(settings));
      row.webgpu = await measure(async () => {
        const out = await session.run(feeds);
        // A gpu-buffer output is freed at once, as a consumer that took it would.
        for (const t of Object.values(out)) if (t.location === 'gpu-buffer') t.dispose();
      }, batch);
      await session.release();
    } catch (error) {
      row.error = String((error as Error).message ?? error).slice(0, 300);
    }
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  return rows;
}

function torchReference(batch: number): Record<string, unknown> {
  const script = path.resolve(__dirname, '../../bench/torch_reference.py');
  const run = spawnSync('python3', [script, '--batch', String(batch)], { encoding: 'utf8', timeout: 180_000 });
  try {
    return JSON.parse(run.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return { error: `python3 ${script} failed (${run.status}): ${(run.stderr || run.error?.message || '').slice(-500)}` };
  }
}

/** The PyTorch line under the table, with the navigator's ResNet-50 b32 throughput as a share of it. */
function torchLine(torch: unknown, rows: Row[]): string {
  if (!torch) return '';
  const t = torch as { batch?: number; torch?: string; fp32?: { imagesPerSecond: number }; fp16?: { imagesPerSecond: number }; fp16_channels_last?: { imagesPerSecond: number }; error?: string };
  if (t.error || !t.fp16) return `\nPyTorch reference failed: ${t.error}\n`;
  const nav = rows.find((r) => r.case === 'resnet50_b32')?.captured?.navigator;
  const share = nav ? `; the navigator's ResNet-50 b32 reaches ${((100 * nav) / t.fp16.imagesPerSecond).toFixed(0)}% of PyTorch fp16 (at 224 and 288 px)` : '';
  return `\nPyTorch ${t.torch} eager ResNet-50, batch ${t.batch}, same GPU: fp16 ${t.fp16.imagesPerSecond} img/s, fp16 channels_last ${t.fp16_channels_last?.imagesPerSecond} img/s, fp32 ${t.fp32?.imagesPerSecond} img/s${share}.\n`;
}

const fmt = (perSecond: number) => perSecond.toFixed(perSecond < 10 ? 2 : 1);
const range = (r: Spread) => `${r.median.toFixed(2)}x [${r.min.toFixed(2)}-${r.max.toFixed(2)}]`;
/** Below 1.00x beyond the spread: slower in every round. */
const verdict = (r: Spread) => (r.max < 1 ? ' **slower**' : '');

function table(rows: Row[]): string {
  const lines = [
    `| case | inputs | unit | ORT CPU | ORT WebGPU (default) | navigator | navigator / CPU | navigator / WebGPU | navigator / faster plain | navigator selected |`,
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    const selected = typeof r.selected === 'string' ? r.selected : r.selected ? Object.entries(r.selected).map(([k, v]) => `${k}: ${v}`).join('; ') : '';
    if (r.error || !r.captured) lines.push(`| ${r.case} | | | | | | | | | ${r.error ?? (r as { webgpu?: Throughput }).webgpu?.perSecond.toFixed(1) ?? ''} |`);
    for (const [kind, c] of [['captured', r.captured], ['unseen', r.unseen]] as const) {
      if (!c) continue;
      lines.push(`| ${r.case} | ${kind}: ${c.inputs} | ${r.unit} | ${fmt(c.cpu)} | ${fmt(c.webgpu)} | ${fmt(c.navigator)} | ${range(c.navigatorVsCpu)} | ${range(c.navigatorVsWebgpu)} | ${range(c.navigatorVsBestPlain)}${verdict(c.navigatorVsBestPlain)} | ${kind === 'captured' ? selected : ''} |`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  // fp16 is what a GPU gains most from; the results say where it came from.
  const fp16Note = 'onnx-fp16 registered in src/plugins.ts';
  const devices = await discoverDevices();
  const machine = `${devices.gpus.map(describeGpu).join(', ') || 'no GPU found'}; ${os.cpus()[0]?.model.trim()} (${os.cpus().length} logical cores); Node ${process.version}; onnxruntime-node ${require('onnxruntime-node/package.json').version}`;
  console.log(`machine: ${machine}\nWebGPU: ${devices.providers.webgpu.available ? 'available' : devices.providers.webgpu.reason}\nformats: ${formatRegistry.names().join(', ')} (${fp16Note})`);
  const rows: Row[] = [];
  const result: Record<string, unknown> = { machine, date: new Date().toISOString(), formats: formatRegistry.names(), fp16: fp16Note, devices, rows };
  const markdown = () =>
    `Measured ${String(result.date).slice(0, 10)} on ${machine}. Navigator: optimize with runners OnnxCPU + OnnxWebGPU over formats ${formatRegistry.names().join(', ')} (${fp16Note}). ` +
    `${ROUNDS} interleaved rounds; throughput is the median round; ratios are per round, median [min-max]; "slower" marks a navigator below the faster plain side in every round.\n\n${table(rows)}\n${torchLine(result.torch, rows)}`;
  const save = () => {
    fs.writeFileSync(path.join(outDir, 'gpu-bench.json'), JSON.stringify(result, null, 2));
    fs.writeFileSync(path.join(outDir, 'gpu-bench.md'), markdown());
  };
  const attempt = async (label: string, fn: () => Promise<Row | Row[]>) => {
    if (Date.now() > deadline) return void rows.push({ case: label, unit: '', error: 'skipped: bench time budget spent' });
    const started = Date.now();
    try {
      const out = await fn();
      rows.push(...(Array.isArray(out) ? out : [out]));
    } catch (error) {
      rows.push({ case: label, unit: '', error: String((error as Error).stack ?? error).slice(0, 600) });
    }
    console.log(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    save();
  };

  const image = (b: number, size: number, seed = b) => ({ pixel_values: floats([b, 3, size, size], seed) });
  // Dynamic-size ResNet-50 optimized on 224 and 288 px, timed on those and on 256 px; BERT on 128 and 64 tokens, and 96.
  const resnetCase = (batch: number) => () => modelCase(`resnet50_b${batch}`, () => resnet50({ dynamicSize: true }), [image(batch, 224), image(batch, 288, batch + 1)], image(batch, 256, batch + 2), batch, ['224+288 px', '256 px']);
  const bertCase = () => modelCase('bert_base_b8', () => bertBase(), [{ input_ids: ids([8, 128], 30522, 1) }, { input_ids: ids([8, 64], 30522, 2) }], { input_ids: ids([8, 96], 30522, 3) }, 8, ['128+64 tokens', '96 tokens']);
  const models = async () => {
    await attempt('resnet50 b1', resnetCase(1));
    await attempt('resnet50 b32', resnetCase(32));
    await attempt('bert-base b8', bertCase);
  };
  const pipelines = async () => {
    await attempt('text-to-image b2', () => textToImageCase(2));
    await attempt('text-to-image b16', () => textToImageCase(16));
    await attempt('text-to-image b16 WebGPU only', () => textToImageCase(16, ['OnnxWebGPU']));
  };
  if (args.has('--options')) {
    await attempt('options', () => optionsCase('resnet50', () => resnet50(), image(32, 224), 32));
    await attempt('options fp16', () => optionsCase('resnet50_fp16', () => toFloat16(resnet50()), image(32, 224), 32));
  } else if (args.has('--pipelines')) {
    // The mixed-device cases (issue 13: a mixed selection must not end below plain WebGPU).
    await pipelines();
  } else if (args.has('--models')) {
    result.torch = torchReference(32);
    await models();
  } else if (args.has('--tiny')) {
    await attempt('tiny_resnet b4', () => modelCase('tiny_resnet_b4', () => tinyResNet({ dynamicSize: true }), [image(4, 32), image(4, 48, 5)], image(4, 40, 6), 4, ['32+48 px', '40 px']));
    await attempt('tiny_encoder b2', () => modelCase('tiny_encoder_b2', () => tinyEncoder(), [{ input_ids: ids([2, 16], 100, 1) }, { input_ids: ids([2, 8], 100, 2) }], { input_ids: ids([2, 12], 100, 3) }, 2, ['16+8 tokens', '12 tokens']));
    await attempt('text-to-image b2', () => textToImageCase(2));
    result.torch = torchReference(4);
  } else {
    result.torch = torchReference(32);
    await models();
    await pipelines();
    if (args.has('--with-options')) await attempt('options', () => optionsCase('resnet50', () => resnet50(), image(32, 224), 32));
  }
  save();
  console.log(`\n${markdown()}`);
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
