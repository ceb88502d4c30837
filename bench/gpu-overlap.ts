/**
 * How much of the GPU one onnxruntime-node WebGPU session leaves idle, on ResNet-50 fp16 at batch 32.
 * A run with CPU outputs waits for the GPU to finish and read back before the next upload starts;
 * this measures, in one run on one machine:
 *   - plain: the fp32 model with WebGPU defaults, `await run()` in a loop (bench/gpu.ts's plain WebGPU);
 *   - sequential: the same for the onnx-fp16 model (what the navigator selects, what a pipeline does);
 *   - queued: one session with the output left on the GPU, N runs, the last output then read back
 *     through a second WebGPU session (the GPU's own rate when nothing waits in between);
 *   - workers: 2 worker threads, each with its own session and input, running at once (what a
 *     server with requests in flight could reach), in a child process since it may crash it.
 *
 *   npx tsc -p tsconfig.json && ../shared/device/pack
 *   (GPU machine) source .device/setup.sh; node dist/bench/gpu-overlap.js
 *
 * Writes gpu-overlap.json under $OUT (or bench/results/) and prints one line per measurement.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { resnet50 } from '../src/models';
import { GraphBuilder } from '../src/onnx/builder';
import { webgpuSessionOptions } from '../src/runners/onnx-webgpu';
import { floats, toFloat16 } from './inputs';

const BATCH = 32;
const SECONDS = 4;

const image = (seed: number): Tensor => floats([BATCH, 3, 224, 224], seed);

/** Images per second of `run` looped for SECONDS after a warm-up. */
async function loop(run: () => Promise<unknown>, runsPerCall = 1): Promise<number> {
  for (let i = 0; i < 3; i++) await run();
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await run();
    calls++;
  }
  return (calls * runsPerCall * BATCH * 1000) / (performance.now() - start);
}

async function workerMain(): Promise<void> {
  const { file, seed, startAt } = workerData as { file: string; seed: number; startAt: number };
  const session = await InferenceSession.create(file, webgpuSessionOptions({}));
  const feeds = { pixel_values: image(seed) };
  for (let i = 0; i < 3; i++) await session.run(feeds);
  // Every worker starts timing together, so that they overlap for the whole window.
  while (Date.now() < startAt) await new Promise((resolve) => setTimeout(resolve, 5));
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await session.run(feeds);
    runs++;
  }
  parentPort!.postMessage((runs * BATCH * 1000) / (performance.now() - start));
  await session.release();
}

async function workers(file: string, count: number): Promise<number> {
  const startAt = Date.now() + 20_000; // session creation and warm-up of every worker first
  const rates = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(__filename, { workerData: { file, seed: i + 1, startAt } });
        worker.once('message', resolve);
        worker.once('error', reject);
      }),
    ),
  );
  return rates.reduce((a, b) => a + b, 0);
}

/** x [BATCH, 1000] -> y, on WebGPU: brings a gpu-buffer tensor back to the CPU. */
function identityModel(): Uint8Array {
  const b = new GraphBuilder('read_back');
  const x = b.input('x', 'float32', [BATCH, 1000]);
  b.node('Relu', [b.op('Neg', [b.op('Relu', [x])])], {}, { outputs: ['y'] });
  b.output('y', 'float32', [BATCH, 1000]);
  return b.toBytes();
}

/** Aggregate images/s of `count` workers, or how the process ended when it did not finish. */
function workersInChild(file: string, count: number): number | string {
  const child = spawnSync(process.execPath, [__filename, '--workers', String(count), file], { encoding: 'utf8', timeout: 120_000 });
  const rate = Number(child.stdout.trim().split('\n').pop());
  if (child.status === 0 && Number.isFinite(rate)) return rate;
  const firstError = (child.stderr.match(/WebGPU device error[^\n]*\n[^\n]*/) ?? [child.stderr.slice(-300)])[0];
  return `exit ${child.status ?? child.signal}: ${firstError.trim()}`;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-gpu-overlap-'));
  const model = resnet50();
  const sourceFile = path.join(dir, 'resnet50.onnx');
  fs.writeFileSync(sourceFile, model);
  const file = path.join(dir, 'resnet50-fp16.onnx');
  fs.writeFileSync(file, toFloat16(model));
  const feeds = { pixel_values: image(1) };
  const result: Record<string, unknown> = { date: new Date().toISOString(), model: 'ResNet-50-shaped CNN, onnx-fp16', batch: BATCH, seconds: SECONDS };

  const source = await InferenceSession.create(sourceFile, webgpuSessionOptions({}));
  result.plain = await loop(() => source.run(feeds));
  await source.release();
  const plain = await InferenceSession.create(file, webgpuSessionOptions({}));
  result.sequential = await loop(() => plain.run(feeds));
  const resident = await InferenceSession.create(file, webgpuSessionOptions({ gpuOutputs: 'logits' }));
  const readBack = await InferenceSession.create(identityModel(), webgpuSessionOptions({}));
  const QUEUED = 16;
  result.queued = await loop(async () => {
    let logits: Tensor | undefined;
    for (let i = 0; i < QUEUED; i++) {
      logits?.dispose();
      logits = (await resident.run(feeds)).logits;
    }
    // Reading the last output back waits for it, and the device's queue runs in order.
    await readBack.run({ x: logits! });
    logits!.dispose();
  }, QUEUED);
  await resident.release();
  await readBack.release();
  await plain.release();
  console.log(JSON.stringify(result));
  result.workers2 = workersInChild(file, 2);
  console.log(`2 workers: ${JSON.stringify(result.workers2)}`);
  const outDir = process.env.OUT ?? path.resolve('bench/results');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'gpu-overlap.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
  fs.rmSync(dir, { recursive: true, force: true });
}

if (isMainThread && process.argv[2] === '--workers') {
  workers(process.argv[4], Number(process.argv[3])).then((rate) => console.log(rate), (error) => {
    console.error(error);
    process.exit(1);
  });
} else if (isMainThread) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  workerMain().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
