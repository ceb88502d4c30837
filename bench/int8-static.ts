/**
 * Quick measurement of onnx-int8-static on the ResNet-50-shaped CNN (src/models/cnn.ts): plain
 * onnxruntime-node (default options) against the quantized model, at batch 1 and 8, in rounds that
 * alternate the two (the machine is shared and noisy), with the median and spread of each, and the
 * cosine of the logits against fp32 on inputs the calibration never saw.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/int8-static.js [rounds]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { defaultTolerances, resolveModuleConfig } from '../src/config/resolve';
import type { Feeds } from '../src';
import type { StoredSample } from '../src/capture/sample-store';
import { onnxInt8StaticFormat } from '../src/formats/onnx-int8-static';
import { resnet50 } from '../src/models';
import { readModel } from '../src/onnx/model-io';
import { compareTensors } from '../src/tensors';
import { median } from './timing';

const SIZE = 224;

/** Image-like input: smooth patterns, different per seed. */
function image(batch: number, seed: number): Tensor {
  const n = batch * 3 * SIZE * SIZE;
  return new Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) + 0.5 * Math.cos(i * 0.0013 * (seed + 1))), [batch, 3, SIZE, SIZE]);
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 7);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'int8-static-bench-'));
  const sourcePath = path.join(dir, 'resnet50.onnx');
  fs.writeFileSync(sourcePath, resnet50({ seed: 1 }));
  const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };
  const plain = await InferenceSession.create(sourcePath, options);

  // Recorded calls as capture would keep them: four batch-1 images and the source's logits.
  const samples: StoredSample[] = [];
  for (let seed = 0; seed < 4; seed++) {
    const inputs: Feeds = { pixel_values: image(1, seed) };
    samples.push({ file: `call-${seed}`, inputs, outputs: (await plain.run(inputs)) as Feeds });
  }
  const outputDir = path.join(dir, 'int8');
  fs.mkdirSync(outputDir);
  const started = Date.now();
  const result = await onnxInt8StaticFormat.convert({
    module: 'resnet50',
    source: { format: 'onnx', path: sourcePath, precision: 'fp32', sizeBytes: fs.statSync(sourcePath).size },
    outputDir,
    cacheDir: dir,
    options: {},
    signature: { inputs: [], outputs: [], batching: true, batchSizes: { 1: 4 }, calls: 4 },
    config: resolveModuleConfig({}),
    readSource: () => readModel(sourcePath),
    samples: () => samples,
    log: () => undefined,
  });
  if ('notApplicable' in result) throw new Error(result.notApplicable);
  console.log(`conversion ${((Date.now() - started) / 1000).toFixed(1)} s: ${result.notes}`);
  const int8 = await InferenceSession.create(result.artifact.path, options);

  const lines = [`${os.cpus()[0].model}, ${os.cpus().length} cores, ${new Date().toISOString()}, ${rounds} rounds`];
  for (const batch of [1, 8]) {
    const feeds: Feeds = { pixel_values: image(batch, 100 + batch) };
    const [reference, quantized] = [await plain.run(feeds), await int8.run(feeds)];
    const error = compareTensors('logits', quantized.logits, reference.logits);
    const times: Record<'fp32' | 'int8', number[]> = { fp32: [], int8: [] };
    const runsPerRound = batch === 1 ? 5 : 2;
    for (let round = 0; round < rounds; round++) {
      // Alternate which goes first, so that neither always follows the other.
      const order: ('fp32' | 'int8')[] = round % 2 ? ['int8', 'fp32'] : ['fp32', 'int8'];
      for (const which of order) {
        const session = which === 'fp32' ? plain : int8;
        await session.run(feeds);
        const t = performance.now();
        for (let i = 0; i < runsPerRound; i++) await session.run(feeds);
        times[which].push((performance.now() - t) / runsPerRound);
      }
    }
    const describe = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
    const speedups = times.fp32.map((t, i) => t / times.int8[i]);
    lines.push(
      `batch ${batch}: fp32 ${describe(times.fp32)}; int8 ${describe(times.int8)}; speedup median ${median(speedups).toFixed(2)}x ` +
        `(per round ${Math.min(...speedups).toFixed(2)}-${Math.max(...speedups).toFixed(2)}x); cosine ${error.cosine.toFixed(5)}, relative L2 ${error.relL2.toExponential(2)} ` +
        `(int8 tolerance: relL2 <= ${defaultTolerances.int8.maxRelL2}, cosine >= ${defaultTolerances.int8.minCosine})`,
    );
  }
  console.log(lines.join('\n'));
  await Promise.all([plain.release(), int8.release()]);
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
