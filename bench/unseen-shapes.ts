/**
 * Issue 13: a pipeline of several modules, optimized on a dataloader of a couple of image sizes, timed
 * against the same pipeline on plain onnxruntime sessions, on the captured sizes and on sizes capture
 * never saw; then each suspected factor is switched on or off alone.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/unseen-shapes.js [reps] [factor,...]
 *
 * The pipeline is OCR-shaped: a CNN detector over the whole image [1, 3, H, W], a small CNN
 * classifier over H/160 crops [n, 3, 32, 32], an encoder recognizer over the crops' token ids
 * [n, W/16]. Factors (all by default):
 *   as-is      the navigator's rebound pipeline vs plain sessions, as optimize leaves them
 *   no-spin    every session of both pipelines with session.intra_op.allow_spinning=0
 *   idle-pools the plain pipeline with three more sessions alive (ran once, then idle), vs plain
 *   static     the classifier forced to onnx-static (other crop counts go to the source)
 *   lazy       as static, but the classifier's source session released first (created on the next unseen call)
 *   alone      each module alone, plain vs navigator, on the unseen inputs
 *   processes  pairs of pipelines, each in its own process (PAIRS=plain:plain-no-spin,... picks them;
 *              modes plain, plain-no-spin, plain-stop-spin, plain-threads-1, issue-mix, navigator, navigator-no-spin)
 * Each rep runs plain and navigator passes back to back, alternating which goes first; a pass is
 * every input of its set once. Medians and interquartile ranges over the reps.
 */
import 'reflect-metadata';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { fork, ChildProcess } from 'child_process';
import { loadOptimized, navModule, OnnxModule, optimize, strategies } from '../src';
import { buildResNet, buildTransformerEncoder } from '../src/models';
import { decodeModel, encodeModel } from '../src/onnx/proto';
import { setInputShape } from '../src/onnx/graph';
import { bindDecision } from '../src/optimizer/binding';
import { lastDecision } from '../src/optimizer/apply';
import { controlOf } from '../src/module/onnx-module';
import { NO_SPIN } from '../src/runners/onnx-cpu';
import type { ModuleStatus, OptimizeStatus } from '../src/core/status';
import { floats, ids } from './inputs';

type Feeds = Record<string, Tensor>;
interface Runs { run(feeds: Feeds): Promise<Feeds> }
interface Stages { detector: Runs; classifier: Runs; recognizer: Runs }

/** [height, width] of the images a pass runs. */
type Sizes = [number, number][];
const CAPTURED: Sizes = [[320, 320], [640, 640]];
const UNSEEN: Sizes = [[384, 512], [480, 480], [512, 384]];
/** For the static factor: one crop count in capture. */
const CAPTURED_ONE_HEIGHT: Sizes = [[320, 320], [320, 640]];
const UNSEEN_ONE_HEIGHT: Sizes = [[320, 480], [480, 480], [480, 384]];

const NO_SPIN_OPTIONS: InferenceSession.SessionOptions = { extra: { session: { intra_op: { allow_spinning: '0' } } } };
/** Spinning inside a run, stopped when the run ends: nothing spins between modules. */
const STOP_SPIN_OPTIONS: InferenceSession.SessionOptions = { extra: { session: { force_spinning_stop: '1' } } };

/** The three models; the detector's height and width are symbolic. */
function writeModels(dir: string): { detector: string; classifier: string; recognizer: string } {
  const detector = decodeModel(buildResNet({ blocks: [1, 1, 1], baseWidth: 16, bottleneck: false, imageSize: 64, classes: 16, name: 'detector', seed: 1 }));
  setInputShape(detector.graph!, 'pixel_values', ['batch', 3, 'height', 'width']);
  const files = {
    detector: path.join(dir, 'detector.onnx'),
    classifier: path.join(dir, 'classifier.onnx'),
    recognizer: path.join(dir, 'recognizer.onnx'),
  };
  fs.writeFileSync(files.detector, encodeModel(detector));
  fs.writeFileSync(files.classifier, buildResNet({ blocks: [1, 1], baseWidth: 8, bottleneck: false, imageSize: 32, classes: 4, name: 'classifier', seed: 2 }));
  fs.writeFileSync(files.recognizer, buildTransformerEncoder({ layers: 2, hidden: 128, heads: 4, intermediate: 512, vocab: 100, maxSeq: 128, name: 'recognizer', seed: 3 }));
  return files;
}

const inputCache = new Map<string, { image: Feeds; crops: Feeds; tokens: Feeds }>();
function inputsFor(height: number, width: number) {
  const key = `${height}x${width}`;
  let inputs = inputCache.get(key);
  if (!inputs) {
    const crops = Math.max(1, Math.round(height / 160));
    inputs = {
      image: { pixel_values: floats([1, 3, height, width], height + width) },
      crops: { pixel_values: floats([crops, 3, 32, 32], crops) },
      tokens: { input_ids: ids([crops, width / 16], 100, width) },
    };
    inputCache.set(key, inputs);
  }
  return inputs;
}

/** One image through the three stages. */
async function runPipeline(stages: Stages, height: number, width: number): Promise<number> {
  const inputs = inputsFor(height, width);
  const detected = await stages.detector.run(inputs.image);
  const classes = await stages.classifier.run(inputs.crops);
  const text = await stages.recognizer.run(inputs.tokens);
  return Object.keys(detected).length + Object.keys(classes).length + Object.keys(text).length;
}

async function plainStages(files: ReturnType<typeof writeModels>, options: InferenceSession.SessionOptions = {}): Promise<Stages & { release(): Promise<void> }> {
  const open = async (file: string) => InferenceSession.create(file, options);
  const [d, c, r] = [await open(files.detector), await open(files.classifier), await open(files.recognizer)];
  const wrap = (s: InferenceSession): Runs => ({ run: (feeds) => s.run(feeds) as Promise<Feeds> });
  return { detector: wrap(d), classifier: wrap(c), recognizer: wrap(r), release: async () => { await d.release(); await c.release(); await r.release(); } };
}

async function pass(stages: Stages, sizes: Sizes): Promise<number> {
  const start = performance.now();
  for (const [h, w] of sizes) await runPipeline(stages, h, w);
  return performance.now() - start;
}

interface Summary { median: number; q1: number; q3: number }
function summary(xs: number[]): Summary {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.round((s.length - 1) * p)];
  return { median: q(0.5), q1: q(0.25), q3: q(0.75) };
}
const fmt = (s: Summary) => `${s.median.toFixed(2)} [${s.q1.toFixed(2)}-${s.q3.toFixed(2)}]`;

/** Interleaved A/B: each rep times one pass of each, alternating which goes first; both warm first. */
async function ab(label: string, a: Stages, b: Stages, sizes: Sizes, reps: number): Promise<void> {
  for (let i = 0; i < 2; i++) { await pass(a, sizes); await pass(b, sizes); }
  const ta: number[] = [], tb: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    if (rep % 2 === 0) { ta.push(await pass(a, sizes)); tb.push(await pass(b, sizes)); }
    else { tb.push(await pass(b, sizes)); ta.push(await pass(a, sizes)); }
  }
  const sa = summary(ta), sb = summary(tb);
  // Ratio per rep (plain/navigator): its quartiles say whether the gap is beyond the noise.
  const ratio = summary(ta.map((x, i) => x / tb[i]));
  console.log(`${label.padEnd(44)} plain ${fmt(sa).padEnd(24)} other ${fmt(sb).padEnd(24)} plain/other ${ratio.median.toFixed(3)} [${ratio.q1.toFixed(3)}-${ratio.q3.toFixed(3)}]`);
}

function selections(status: OptimizeStatus): string {
  return Object.values(status.modules).map((m: ModuleStatus) => `${m.module}=${m.selected.key} (${m.selected.speedup.toFixed(2)}x)`).join(', ');
}


// ---- One pipeline per process: no other pipeline's threads spin beside it. ----

type ChildMode = 'plain' | 'plain-no-spin' | 'plain-stop-spin' | 'plain-threads-1' | 'issue-mix' | 'navigator' | 'navigator-no-spin';
interface ChildSetup { files: ReturnType<typeof writeModels>; workspace: string; mode: ChildMode }

/** Child side: builds its pipeline, then runs one pass per request and answers with its ms. */
async function child(setup: ChildSetup): Promise<void> {
  const { files, mode } = setup;
  let stages: Stages;
  if (mode.startsWith('plain') || mode === 'issue-mix') {
    const spin = mode === 'plain-no-spin' ? NO_SPIN_OPTIONS : mode === 'plain-stop-spin' ? STOP_SPIN_OPTIONS : {};
    const open = async (file: string, options: InferenceSession.SessionOptions) => {
      const s = await InferenceSession.create(file, { ...spin, ...options });
      return { run: (feeds: Feeds) => s.run(feeds) as Promise<Feeds> };
    };
    const one = { intraOpNumThreads: 1 };
    stages = {
      detector: await open(files.detector, mode === 'plain-threads-1' ? one : {}),
      // The selections: classifier on threads-1, the other two on their source.
      classifier: await open(files.classifier, mode === 'plain-threads-1' || mode === 'issue-mix' ? one : {}),
      recognizer: await open(files.recognizer, mode === 'plain-threads-1' ? one : {}),
    };
  } else {
    const noSpin = mode === 'navigator-no-spin';
    const nav = {
      detector: navModule(new OnnxModule(files.detector, noSpin ? NO_SPIN_OPTIONS : {}), { name: 'detector' }),
      classifier: navModule(new OnnxModule(files.classifier, noSpin ? NO_SPIN_OPTIONS : {}), { name: 'classifier' }),
      recognizer: navModule(new OnnxModule(files.recognizer, noSpin ? NO_SPIN_OPTIONS : {}), { name: 'recognizer' }),
    };
    await loadOptimized((h: number, w: number) => runPipeline(nav, h, w), { workspace: setup.workspace });
    if (noSpin) {
      for (const name of ['detector', 'classifier', 'recognizer'] as const) {
        const status = JSON.parse(fs.readFileSync(path.join(setup.workspace, name, 'status.json'), 'utf8')) as ModuleStatus;
        await bindDecision(nav[name] as OnnxModule<unknown, unknown>, status, lastDecision(status), path.join(setup.workspace, name), { [NO_SPIN]: 0 });
      }
    }
    stages = nav;
  }
  process.on('message', async (sizes: Sizes) => {
    process.send!(await pass(stages, sizes));
  });
  process.send!('ready');
}

class Child {
  private readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  constructor(setup: ChildSetup) {
    this.proc = fork(__filename, ['--child', JSON.stringify(setup)]);
    this.ready = new Promise((resolve) => this.proc.once('message', () => resolve()));
  }
  pass(sizes: Sizes): Promise<number> {
    return new Promise((resolve) => { this.proc.once('message', (ms) => resolve(ms as number)); this.proc.send(sizes); });
  }
  stop(): void { this.proc.kill(); }
}

/** Interleaved A/B across two processes; between its passes a process sleeps (its pools go idle). */
async function abProcesses(label: string, a: Child, b: Child, sizes: Sizes, reps: number): Promise<void> {
  await Promise.all([a.ready, b.ready]);
  const first = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < 2; i++) { first.a.push(await a.pass(sizes)); first.b.push(await b.pass(sizes)); }
  const ta: number[] = [], tb: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    if (rep % 2 === 0) { ta.push(await a.pass(sizes)); tb.push(await b.pass(sizes)); }
    else { tb.push(await b.pass(sizes)); ta.push(await a.pass(sizes)); }
  }
  const ratio = summary(ta.map((x, i) => x / tb[i]));
  console.log(`${label.padEnd(44)} A ${fmt(summary(ta)).padEnd(24)} B ${fmt(summary(tb)).padEnd(24)} A/B ${ratio.median.toFixed(3)} [${ratio.q1.toFixed(3)}-${ratio.q3.toFixed(3)}]  first passes A ${first.a.map((x) => x.toFixed(0)).join(',')} B ${first.b.map((x) => x.toFixed(0)).join(',')}`);
}

async function processComparisons(files: ReturnType<typeof writeModels>, workspace: string, reps: number): Promise<void> {
  const chosen = process.env.PAIRS?.split(',').map((pair) => pair.split(':') as [ChildMode, ChildMode]);
  const pairs: [ChildMode, ChildMode][] = chosen ?? [
    ['plain', 'navigator'],
    ['plain', 'plain'],
    ['plain', 'plain-no-spin'],
    ['plain', 'issue-mix'],
    ['plain-no-spin', 'navigator-no-spin'],
    ['plain', 'plain-threads-1'],
    ['plain', 'plain-stop-spin'],
  ];
  for (const [ma, mb] of pairs) {
    for (const [which, sizes] of [['captured', CAPTURED], ['unseen', UNSEEN]] as const) {
      // Fresh processes per size set: the unseen set's first passes are really the first of those shapes.
      const a = new Child({ files, workspace, mode: ma });
      const b = new Child({ files, workspace, mode: mb });
      await abProcesses(`[proc] ${which}: A=${ma} B=${mb}`, a, b, sizes, reps);
      a.stop();
      b.stop();
    }
  }
}

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 15);
  const factors = new Set((process.argv[3] ?? 'processes,as-is,no-spin,idle-pools,static,lazy,alone').split(','));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-unseen-'));
  const files = writeModels(dir);
  const cpu = os.cpus();
  console.log(`${new Date().toISOString()} ${cpu[0].model}, ${cpu.length} logical cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}; ${reps} reps; ms per pass: median [q1-q3]`);

  const nav = {
    detector: navModule(new OnnxModule(files.detector), { name: 'detector' }),
    classifier: navModule(new OnnxModule(files.classifier), { name: 'classifier' }),
    recognizer: navModule(new OnnxModule(files.recognizer), { name: 'recognizer' }),
  };
  const workspace = path.join(dir, 'ws');
  const fn = (h: number, w: number) => runPipeline(nav, h, w);
  const t0 = Date.now();
  const status = await optimize(fn, CAPTURED.map(([h, w]) => [1, h, w] as const), { workspace, verbose: false });
  console.log(`optimize (default config) over ${JSON.stringify(CAPTURED)} took ${((Date.now() - t0) / 1000).toFixed(0)} s: ${selections(status)}`);
  const p = status.pipeline!;
  console.log(`  its pipeline check: ${p.beforeMs.toFixed(2)} -> ${p.afterMs.toFixed(2)} ms (${p.speedup.toFixed(3)}x); notes: ${p.notes.join('; ') || 'none'}`);

  if (factors.has('processes')) await processComparisons(files, workspace, reps);
  const threadsBefore = fs.readdirSync('/proc/self/task').length;
  const plain = await plainStages(files);
  console.log(`threads: ${threadsBefore} before the plain sessions, ${fs.readdirSync('/proc/self/task').length} after (one intra-op pool per session)`);
  if (factors.has('as-is')) {
    await ab('as-is, captured sizes: plain vs navigator', plain, nav, CAPTURED, reps);
    await ab('as-is, unseen sizes: plain vs navigator', plain, nav, UNSEEN, reps);
    await ab('control, unseen: plain vs plain (2nd copy)', plain, await plainStages(files), UNSEEN, reps);
  }
  if (factors.has('alone')) {
    for (const stage of ['detector', 'classifier', 'recognizer'] as const) {
      const only = (s: Stages): Stages => ({ ...s, ...Object.fromEntries((['detector', 'classifier', 'recognizer'] as const).filter((k) => k !== stage).map((k) => [k, { run: async () => ({}) }])) });
      await ab(`alone ${stage}, unseen`, only(plain), only(nav), UNSEEN, reps);
    }
  }
  if (factors.has('idle-pools')) {
    const idle = await plainStages(files);
    await pass(idle, UNSEEN);
    const fresh = await plainStages(files);
    await ab('idle pools, unseen: plain vs plain+3 idle', plain, fresh, UNSEEN, reps);
    await idle.release();
    await fresh.release();
  }
  if (factors.has('no-spin')) {
    const plainNoSpin = await plainStages(files, NO_SPIN_OPTIONS);
    for (const name of ['detector', 'classifier', 'recognizer'] as const) {
      const m = nav[name];
      await controlOf(m as OnnxModule<unknown, unknown>).releaseSource();
      (m as { sessionOptions: InferenceSession.SessionOptions }).sessionOptions = NO_SPIN_OPTIONS;
      await bindDecision(m as OnnxModule<unknown, unknown>, status.modules[name], lastDecision(status.modules[name]), path.join(workspace, name), { [NO_SPIN]: 0 });
    }
    await ab('no-spin all, captured: plain vs navigator', plainNoSpin, nav, CAPTURED, reps);
    await ab('no-spin all, unseen: plain vs navigator', plainNoSpin, nav, UNSEEN, reps);
    await ab('spin vs no-spin plain, unseen', plain, plainNoSpin, UNSEEN, reps);
    await plainNoSpin.release();
  }
  if (factors.has('static') || factors.has('lazy')) {
    // A second optimize where the classifier saw one crop count, and onnx-static is forced for it.
    const nav2 = {
      detector: navModule(new OnnxModule(files.detector), { name: 'detector2' }),
      classifier: navModule(new OnnxModule(files.classifier), { name: 'classifier2' }),
      recognizer: navModule(new OnnxModule(files.recognizer), { name: 'recognizer2' }),
    };
    nav2.classifier.optimizeConfig = { strategy: strategies.selected('onnx-static', 'OnnxCPU') };
    const status2 = await optimize((h: number, w: number) => runPipeline(nav2, h, w), CAPTURED_ONE_HEIGHT.map(([h, w]) => [1, h, w] as const), { workspace: path.join(dir, 'ws2'), verbose: false });
    console.log(`optimize over ${JSON.stringify(CAPTURED_ONE_HEIGHT)}: ${selections(status2)}; check ${status2.pipeline!.speedup.toFixed(3)}x`);
    if (factors.has('static')) {
      await ab('static, captured: plain vs navigator', plain, nav2, CAPTURED_ONE_HEIGHT, reps);
      await ab('static, unseen: plain vs navigator', plain, nav2, UNSEEN_ONE_HEIGHT, reps);
    }
    if (factors.has('lazy')) {
      // As after loadOptimized in a fresh process: no source session until the first unseen shape.
      const firsts: number[] = [];
      for (let i = 0; i < 5; i++) {
        await controlOf(nav2.classifier as OnnxModule<unknown, unknown>).releaseSource();
        const start = performance.now();
        await runPipeline(nav2, 480, 480);
        firsts.push(performance.now() - start);
      }
      const warmTimes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        await runPipeline(nav2, 480, 480);
        warmTimes.push(performance.now() - start);
      }
      const warm = summary(warmTimes);
      console.log(`lazy source: first 480x480 call after releaseSource ${fmt(summary(firsts))} ms vs warm ${fmt(warm)} ms`);
    }
  }
  await plain.release();
  fs.rmSync(dir, { recursive: true, force: true });
}

(process.argv[2] === '--child' ? child(JSON.parse(process.argv[3]) as ChildSetup) : main()).catch((error) => {
  console.error(error);
  process.exit(1);
});
