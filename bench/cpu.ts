/**
 * CPU benchmark: plain onnxruntime-node with default options vs the navigator's selection, in the
 * same run, interleaved, on models the benchmark builds with fixed random weights:
 * a BERT-base-shaped encoder (sequence 128) and a ResNet-50-shaped CNN, at batch 1 and 8.
 * Also the peak memory of optimize for the encoder, in a child process, against the model's size.
 *
 *   npm run bench:cpu                       all cases (several minutes on 2 cores)
 *   node dist/bench/cpu.js encoder:1 cnn:8  some cases
 * Writes bench/results/cpu-<date>.json and prints a markdown table.
 */
import 'reflect-metadata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../src';
import type { Feeds } from '../src';
import { bertBase, resnet50 } from '../src/models';
import { compareTensors } from '../src/tensors';
import { writeFileAtomic } from '../src/workspace/atomic';
import { median } from './timing';

const SEQUENCE = 128;
const VOCAB = 30522;

interface Case {
  name: 'encoder' | 'cnn';
  build: () => Uint8Array;
  feeds: (batch: number) => Feeds;
}

const cases: Case[] = [
  {
    name: 'encoder',
    build: () => bertBase({ sequence: SEQUENCE, seed: 1 }),
    feeds: (batch) => ({ input_ids: new Tensor('int64', BigInt64Array.from({ length: batch * SEQUENCE }, (_, i) => BigInt((i * 7919) % VOCAB)), [batch, SEQUENCE]) }),
  },
  {
    name: 'cnn',
    build: () => resnet50({ seed: 1 }),
    feeds: (batch) => ({ pixel_values: new Tensor('float32', Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001)), [batch, 3, 224, 224]) }),
  },
];

const workDir = path.resolve(process.env.NAV_BENCH_DIR ?? path.join(os.tmpdir(), 'nav-bench-cpu'));

function modelFile(c: Case): string {
  const file = path.join(workDir, `${c.name}.onnx`);
  // Atomic: a run stopped mid-write leaves no half file that the next one would trust.
  if (!fs.existsSync(file)) writeFileAtomic(file, c.build());
  return file;
}

/** Median ms per run of each, over interleaved rounds so that drift hits both alike. */
async function interleaved(a: () => Promise<unknown>, b: () => Promise<unknown>, budgetMs: number): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []];
  const end = performance.now() + budgetMs;
  while (times[0].length < 5 || performance.now() < end) {
    for (const [i, run] of [a, b].entries()) {
      const start = performance.now();
      await run();
      times[i].push(performance.now() - start);
    }
  }
  return [median(times[0]), median(times[1])];
}

async function benchCase(c: Case, batch: number) {
  const file = modelFile(c);
  const feeds = c.feeds(batch);
  const module = navModule(new OnnxModule(file), { name: `${c.name}_b${batch}` });
  const started = Date.now();
  const status = await optimize(() => module.run(feeds), [[batch]], {
    workspace: path.join(workDir, 'cache'),
    runners: ['OnnxCPU'],
    batchSizes: [batch],
    profiling: { windowMs: 300, stableWindows: 2, maxWindows: 4 },
  });
  const optimizeSeconds = (Date.now() - started) / 1000;
  const plain = await InferenceSession.create(file);
  const [plainMs, navigatorMs] = await interleaved(() => plain.run(feeds), () => module.run(feeds), 20_000);
  const reference = await plain.run(feeds);
  const output = Object.keys(reference)[0];
  const error = compareTensors(output, (await module.run(feeds))[output], reference[output]);
  const moduleStatus = status.modules[module.name!];
  const selected = moduleStatus.candidates.find((k) => k.key === moduleStatus.selected.key)!;
  await plain.release();
  await module.release();
  return {
    model: c.name, batch, selected: selected.key, precision: selected.precision,
    plainMs: +plainMs.toFixed(2), navigatorMs: +navigatorMs.toFixed(2), speedup: +(plainMs / navigatorMs).toFixed(2),
    cosine: +error.cosine.toFixed(5), relL2: +error.relL2.toExponential(2), optimizeSeconds,
    candidates: moduleStatus.candidates.filter((k) => k.status === 'passed').length,
  };
}

/** Peak RSS of a process that only optimizes the encoder at batch 1 (run as a child). */
function memoryProbe(): void {
  const c = cases[0];
  const file = modelFile(c);
  const feeds = c.feeds(1);
  const module = navModule(new OnnxModule(file), { name: 'encoder_memory' });
  optimize(() => module.run(feeds), [[1]], { workspace: path.join(workDir, 'memory-cache'), force: true, runners: ['OnnxCPU'], verbose: false, profiling: { windowMs: 50, stableWindows: 2, maxWindows: 3 } })
    .then(() => {
      const peak = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
      console.log(JSON.stringify({ peakRssBytes: Number(peak) * 1024, modelBytes: fs.statSync(file).size }));
    })
    .catch((error) => { console.error(error); process.exit(1); });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--memory-probe') return memoryProbe();
  const wanted = process.argv.slice(2);
  const results = [];
  for (const c of cases) {
    for (const batch of [1, 8]) {
      if (wanted.length && !wanted.includes(`${c.name}:${batch}`)) continue;
      results.push(await benchCase(c, batch));
      console.log(JSON.stringify(results[results.length - 1]));
    }
  }
  let memory;
  if (!wanted.length || wanted.includes('memory')) {
    modelFile(cases[0]);
    memory = JSON.parse(execFileSync(process.execPath, [__filename, '--memory-probe'], { encoding: 'utf8' }).trim().split('\n').pop()!);
    memory.ratio = +(memory.peakRssBytes / memory.modelBytes).toFixed(2);
  }
  const machine = `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores, Node ${process.version}`;
  const report = { machine, date: new Date().toISOString(), results, memory };
  const outDir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `cpu-${report.date.slice(0, 10)}.json`), JSON.stringify(report, null, 2));
  console.log(`\nCPU benchmark on ${machine}, ${report.date}\n`);
  console.log('| model | batch | plain ORT ms | navigator ms | speedup | selected | cosine | rel L2 |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.model} | ${r.batch} | ${r.plainMs} | ${r.navigatorMs} | ${r.speedup}x | ${r.selected} (${r.precision}) | ${r.cosine} | ${r.relL2} |`);
  if (memory) console.log(`\nPeak RSS of optimize for the encoder: ${(memory.peakRssBytes / 2 ** 20).toFixed(0)} MiB = ${memory.ratio}x the model's ${(memory.modelBytes / 2 ** 20).toFixed(0)} MiB`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
