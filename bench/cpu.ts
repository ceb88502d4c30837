/**
 * CPU benchmark: plain onnxruntime-node (default session options) vs the navigator's selection, on
 * models the project builds with fixed random weights. Per case: optimize once over a small
 * dataloader, then time both sides interleaved for a number of rounds, on the dataloader's inputs
 * (captured) and on inputs of sizes the dataloader never had but within its ranges (unseen), and
 * report the median plain/navigator ratio of the rounds with its spread, the output cosine vs plain
 * fp32, and the format selected per module.
 *
 *   npm run bench:cpu                                  the default cases (several minutes on 2 cores)
 *   node dist/bench/cpu.js resnet50:1 ocr              some cases; `all` adds encoder:1, encoder:8, memory
 *   node dist/bench/cpu.js tv-resnet18:1 tv-mobilenet_v3_small-legacy:8   after bench/export_torchvision.py
 *   node dist/bench/cpu.js --formats onnx,onnx-int8-static --rounds 9 --force
 *
 * --formats: the targetFormats to try (default: every registered format, so a newly registered one
 * is tried without a change here). --rounds (default 9, at least 7). --force: re-optimize even when
 * the cache in $NAV_BENCH_DIR (default $TMPDIR/nav-bench-cpu) matches.
 * Writes bench/results/cpu-<date>.json and prints a markdown table.
 */
import 'reflect-metadata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { formatRegistry, navModule, OnnxModule, optimize } from '../src';
import type { OptimizeConfig } from '../src';
import { bertBase, buildTextClassifier, buildTextDetector, buildTextRecognizer, mobileNetV2, mobileNetV2Legacy, resnet50 } from '../src/models';
import { selectedCandidate } from '../src/core/status';
import { similarity } from '../src/tensors';
import { writeFileAtomic } from '../src/workspace/atomic';
import { floats, ids } from './inputs';
import { ctcGreedy, documentImage, OcrPipeline, type Runnable } from './ocr-pipeline';
import { interleavedRounds, spread, type Spread } from './timing';

/** A pipeline over its modules, in the order of Case.modules: one input tensor in, one out. */
type Call = (modules: Runnable[]) => (input: Tensor) => Promise<Tensor>;

interface Case {
  name: string;
  modules: { name: string; build: () => Uint8Array }[];
  call: Call;
  /** The dataloader's inputs. */
  captured: Tensor[];
  /** Inputs of sizes the dataloader never had, each axis within its captured min..max. */
  unseen: Tensor[];
  /** Module batch sizes to profile (default: the navigator's). */
  batchSizes?: number[];
}

const single = (input: string, output: string): Call => ([m]) => async (x) => (await m.run({ [input]: x }))[output];

/** Image CNN cases: captured 224x224, 288x288, 224x224 (another image); unseen 256x256 and 224x288. */
function imageCase(name: string, build: () => Uint8Array, batch: number): Case {
  const image = (h: number, w: number, seed: number): Tensor => floats([batch, 3, h, w], seed);
  return {
    name: `${name}:${batch}`,
    modules: [{ name: `${name.replace(/\W/g, '_')}_b${batch}`, build }],
    call: single('pixel_values', 'logits'),
    captured: [image(224, 224, 1), image(288, 288, 2), image(224, 224, 3)],
    unseen: [image(256, 256, 4), image(224, 288, 5)],
    batchSizes: [batch],
  };
}

function encoderCase(batch: number): Case {
  return {
    name: `encoder:${batch}`,
    modules: [{ name: `encoder_b${batch}`, build: () => bertBase({ seed: 1 }) }],
    call: single('input_ids', 'last_hidden_state'),
    captured: [ids([batch, 128], 30522, 1), ids([batch, 64], 30522, 2)],
    unseen: [ids([batch, 96], 30522, 3)],
    batchSizes: [batch],
  };
}

/** One image per call, as OCR services run; 3 text lines per image go to the classifier and recognizer. */
const ocrCase: Case = {
  name: 'ocr',
  modules: [
    { name: 'ocr_detector', build: () => buildTextDetector() },
    { name: 'ocr_classifier', build: () => buildTextClassifier() },
    { name: 'ocr_recognizer', build: () => buildTextRecognizer() },
  ],
  call: ([detector, classifier, recognizer]) => {
    const pipeline = new OcrPipeline(detector, classifier, recognizer);
    return (image) => pipeline.read(image);
  },
  captured: [documentImage(320, 320, 1), documentImage(384, 480, 2), documentImage(480, 640, 3), documentImage(416, 416, 4)],
  unseen: [documentImage(352, 448, 5), documentImage(448, 576, 6)],
};

const CASES: Record<string, () => Case> = {
  'resnet50:1': () => imageCase('resnet50', () => resnet50({ seed: 1, dynamicSize: true }), 1),
  'resnet50:8': () => imageCase('resnet50', () => resnet50({ seed: 1, dynamicSize: true }), 8),
  'mobilenet:1': () => imageCase('mobilenet', () => mobileNetV2({ seed: 1 }), 1),
  'mobilenet:8': () => imageCase('mobilenet', () => mobileNetV2({ seed: 1 }), 8),
  'mobilenet-opset11:1': () => imageCase('mobilenet-opset11', () => mobileNetV2Legacy({ seed: 1 }), 1),
  ocr: () => ocrCase,
  'encoder:1': () => encoderCase(1),
  'encoder:8': () => encoderCase(8),
};
/** A torchvision model exported by bench/export_torchvision.py (not in the defaults: it needs Debian's python3-torch). */
function torchvisionFile(file: string): () => Uint8Array {
  return () => {
    const found = path.join(__dirname, '..', '..', 'bench', 'results', file);
    if (!fs.existsSync(found)) throw new Error(`${found} is missing: run /usr/bin/python3 bench/export_torchvision.py [--legacy] first`);
    return fs.readFileSync(found);
  };
}
for (const name of ['resnet18', 'mobilenet_v3_small', 'resnet18-legacy', 'mobilenet_v3_small-legacy']) {
  for (const batch of [1, 8]) CASES[`tv-${name}:${batch}`] = () => imageCase(`tv-${name}`, torchvisionFile(`torchvision-${name}.onnx`), batch);
}
const DEFAULT_CASES = ['resnet50:1', 'resnet50:8', 'mobilenet:1', 'mobilenet:8', 'mobilenet-opset11:1', 'ocr'];

const workDir = path.resolve(process.env.NAV_BENCH_DIR ?? path.join(os.tmpdir(), 'nav-bench-cpu'));

/** The model's file, rewritten (atomically) when the generator's bytes changed. */
function modelFile(name: string, build: () => Uint8Array): string {
  const file = path.join(workDir, `${name}.onnx`);
  const bytes = build();
  if (!fs.existsSync(file) || !fs.readFileSync(file).equals(Buffer.from(bytes))) writeFileAtomic(file, bytes);
  return file;
}

/** Cosine of two outputs; 0 where their shapes differ (e.g. the OCR pipeline cut other crops). */
function cosine(a: Tensor, b: Tensor): number {
  if (a.dims.length !== b.dims.length || a.dims.some((d, i) => d !== b.dims[i])) return 0;
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let dot = 0, x2 = 0, y2 = 0, d2 = 0;
  for (let i = 0; i < x.length; i++) { dot += x[i] * y[i]; x2 += x[i] * x[i]; y2 += y[i] * y[i]; d2 += (x[i] - y[i]) ** 2; }
  return similarity(dot, x2, y2, d2).cosine;
}

interface Side { plainMs: number; navigatorMs: number; ratio: Spread; minCosine: number; sameText?: number }

/** Medians of the per-round ms of a pass over one input set, the per-round ratios plain / navigator, the worst cosine. */
function summarize(plain: number[], navigator: number[], cosines: number[], sameText?: number): Side {
  const ratio = spread(plain.map((p, i) => p / navigator[i]));
  return { plainMs: spread(plain).median, navigatorMs: spread(navigator).median, ratio, minCosine: Math.min(...cosines), sameText };
}

async function benchCase(c: Case, options: { formats?: string[]; rounds: number; force: boolean }) {
  const files = c.modules.map((m) => modelFile(m.name, m.build));
  const modules = c.modules.map((m, i) => navModule(new OnnxModule(files[i]), { name: m.name }));
  const plainSessions = await Promise.all(files.map((f) => InferenceSession.create(f)));
  const plainModules: Runnable[] = plainSessions.map((s) => ({ run: async (feeds) => (await s.run(feeds)) as Record<string, Tensor> }));
  const navigated = c.call(modules);
  const plain = c.call(plainModules);

  const config: OptimizeConfig = {
    workspace: path.join(workDir, 'cache'),
    runners: ['OnnxCPU'],
    force: options.force,
    profiling: { windowMs: 300, stableWindows: 2, maxWindows: 4 },
    ...(options.formats && { targetFormats: options.formats }),
    ...(c.batchSizes && { batchSizes: c.batchSizes }),
  };
  const started = Date.now();
  const status = await optimize((x: Tensor) => navigated(x), c.captured.map((x) => [x.dims[0], x]), config);
  const optimizeSeconds = (Date.now() - started) / 1000;

  const over = (run: (x: Tensor) => Promise<Tensor>, inputs: Tensor[]) => async () => { for (const x of inputs) await run(x); };
  const [plainCaptured, navCaptured, plainUnseen, navUnseen] = await interleavedRounds(
    [over(plain, c.captured), over(navigated, c.captured), over(plain, c.unseen), over(navigated, c.unseen)],
    { rounds: options.rounds },
  );
  const accuracy = async (inputs: Tensor[]) => {
    const pairs = [];
    for (const x of inputs) pairs.push([await plain(x), await navigated(x)]);
    const cosines = pairs.map(([p, n]) => cosine(n, p));
    const sameText = c.name === 'ocr' ? pairs.filter(([p, n]) => JSON.stringify(ctcGreedy(p)) === JSON.stringify(ctcGreedy(n))).length / pairs.length : undefined;
    return { cosines, sameText };
  };
  const capturedAccuracy = await accuracy(c.captured);
  const unseenAccuracy = await accuracy(c.unseen);

  const selected = Object.fromEntries(
    c.modules.map((m) => {
      const moduleStatus = status.modules[m.name];
      const candidate = moduleStatus && selectedCandidate(moduleStatus);
      return [m.name, candidate ? `${candidate.key} (${candidate.precision})` : `none: ${moduleStatus?.selected.reason ?? 'no status'}`];
    }),
  );
  await Promise.all([...plainSessions.map((s) => s.release()), ...modules.map((m) => m.release())]);
  return {
    case: c.name,
    selected,
    rounds: options.rounds,
    captured: summarize(plainCaptured, navCaptured, capturedAccuracy.cosines, capturedAccuracy.sameText),
    unseen: summarize(plainUnseen, navUnseen, unseenAccuracy.cosines, unseenAccuracy.sameText),
    optimizeSeconds,
  };
}

/** Peak RSS of a process that only optimizes the encoder at batch 1 (run as a child). */
function memoryProbe(): void {
  const file = modelFile('encoder_memory', () => bertBase({ seed: 1 }));
  const feeds = { input_ids: ids([1, 128], 30522, 1) };
  const module = navModule(new OnnxModule(file), { name: 'encoder_memory' });
  optimize(() => module.run(feeds), [[1]], { workspace: path.join(workDir, 'memory-cache'), force: true, runners: ['OnnxCPU'], verbose: false, profiling: { windowMs: 50, stableWindows: 2, maxWindows: 3 } })
    .then(() => {
      const peak = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
      console.log(JSON.stringify({ peakRssBytes: Number(peak) * 1024, modelBytes: fs.statSync(file).size }));
    })
    .catch((error) => { console.error(error); process.exit(1); });
}

function parseArgs(argv: string[]) {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv.splice(i, 2)[1] : undefined;
  };
  const formats = flag('--formats')?.split(',').filter(Boolean);
  // Unknown names fail here, listing the registered formats.
  formats?.forEach((f) => formatRegistry.get(f));
  const rounds = Number(flag('--rounds') ?? 9);
  if (!Number.isInteger(rounds) || rounds < 7) throw new Error(`--rounds must be an integer >= 7, got ${rounds}`);
  const force = argv.includes('--force');
  let wanted = argv.filter((a) => !a.startsWith('--'));
  if (wanted.includes('all')) wanted = [...DEFAULT_CASES, 'encoder:1', 'encoder:8', 'memory'];
  if (!wanted.length) wanted = DEFAULT_CASES;
  const unknown = wanted.filter((w) => w !== 'memory' && !CASES[w]);
  if (unknown.length) throw new Error(`unknown case ${unknown.join(', ')}; choose from ${[...Object.keys(CASES), 'memory', 'all'].join(', ')}`);
  return { formats, rounds, force, wanted };
}

const fmt = (s: Side): string =>
  `${s.plainMs.toFixed(1)} | ${s.navigatorMs.toFixed(1)} | ${s.ratio.median.toFixed(2)}x [${s.ratio.min.toFixed(2)}-${s.ratio.max.toFixed(2)}, IQR ${s.ratio.q1.toFixed(2)}-${s.ratio.q3.toFixed(2)}]`;

async function main(): Promise<void> {
  if (process.argv[2] === '--memory-probe') return memoryProbe();
  const { formats, rounds, force, wanted } = parseArgs(process.argv.slice(2));
  const cpus = os.cpus();
  // availableParallelism follows the process's CPU affinity (taskset), os.cpus() lists the whole machine.
  const machine = { cpu: cpus[0].model.trim(), cores: os.availableParallelism(), machineCores: cpus.length, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version, loadAverageAtStart: os.loadavg() };
  const date = new Date().toISOString();
  const results = [];
  for (const name of wanted.filter((w) => w !== 'memory')) {
    results.push(await benchCase(CASES[name](), { formats, rounds, force }));
    console.log(JSON.stringify(results[results.length - 1]));
  }
  let memory;
  if (wanted.includes('memory')) {
    memory = JSON.parse(execFileSync(process.execPath, [__filename, '--memory-probe'], { encoding: 'utf8' }).trim().split('\n').pop()!);
    memory.ratio = +(memory.peakRssBytes / memory.modelBytes).toFixed(2);
  }
  const report = { machine: { ...machine, loadAverageAtEnd: os.loadavg() }, date, formats: formats ?? formatRegistry.names(), results, memory };
  const outDir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `cpu-${date.slice(0, 10)}.json`), JSON.stringify(report, null, 2));
  console.log(`\nCPU benchmark on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${date}`);
  console.log(`load average at start ${machine.loadAverageAtStart.map((l) => l.toFixed(1)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${rounds} interleaved rounds; ratio = plain / navigator per round: median [min-max, IQR]`);
  console.log(`formats tried: ${report.formats.join(', ')}\n`);
  console.log('| case | captured: plain ms | navigator ms | ratio | unseen: plain ms | navigator ms | ratio | min cosine captured / unseen | optimize s | selected |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const text = r.captured.sameText === undefined ? '' : ` (same text ${r.captured.sameText * 100}% / ${r.unseen.sameText! * 100}%)`;
    const selected = Object.entries(r.selected).map(([m, s]) => `${m}: ${s}`).join('; ');
    console.log(`| ${r.case} | ${fmt(r.captured)} | ${fmt(r.unseen)} | ${r.captured.minCosine.toFixed(5)} / ${r.unseen.minCosine.toFixed(5)}${text} | ${r.optimizeSeconds.toFixed(0)} | ${selected} |`);
  }
  if (memory) console.log(`\nPeak RSS of optimize for the encoder: ${(memory.peakRssBytes / 2 ** 20).toFixed(0)} MiB = ${memory.ratio}x the model's ${(memory.modelBytes / 2 ** 20).toFixed(0)} MiB`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
