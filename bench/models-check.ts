/**
 * Sizes and speeds of the generated models: build time, file size and parameter count of the
 * full-size presets (checked against the real models'; exits 1 on a mismatch), and ms per run of the
 * text-to-image modules at batch 1 and 2 (default CPU session, and one thread).
 * The full-size checks live here rather than in test/models because under jest they take ~70 s.
 *
 *   npm run build && node dist/bench/models-check.js [--skip-large]
 */
import * as ort from 'onnxruntime-node';
import { bertBase, buildDenoiser, buildImageDecoder, buildTextEncoder, mobileNetV2, resnet50 } from '../src/models';
import { DataType, decodeModel } from '../src/onnx/proto';
import { median, timeRuns } from './timing';

/**
 * Trainable parameters: float initializers other than BN running statistics and scalars, i.e. what
 * PyTorch's `sum(p.numel() for p in model.parameters())` counts.
 */
function parameterCount(bytes: Uint8Array): number {
  const initializers = decodeModel(bytes).graph?.initializer ?? [];
  return initializers
    .filter((t) => t.dataType === DataType.FLOAT && (t.dims ?? []).length > 0 && !/running_(mean|var)$/.test(t.name ?? ''))
    .reduce((sum, t) => sum + (t.dims ?? []).reduce((p, d) => p * d, 1), 0);
}

/**
 * torchvision resnet50: 25,557,032. HF BertModel without pooler and token-type embeddings:
 * 23,835,648 in embeddings (words, positions, LayerNorm) + 12 layers x 7,087,872.
 * torchvision mobilenet_v2: 3,504,872.
 */
const EXPECTED_PARAMETERS = { resnet50: 25_557_032, bertBase: 23_835_648 + 12 * 7_087_872, mobilenetV2: 3_504_872 };

function filled(type: 'float32' | 'int64', dims: number[]): ort.Tensor {
  const n = dims.reduce((p, d) => p * d, 1);
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7) % 100)), dims);
  return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i)), dims);
}

/** Median ms per run over ~0.5 s after a warm-up. */
async function msPerRun(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  return median(await timeRuns(() => session.run(feeds), { warmup: 5, minRuns: 10, minMs: 500 }));
}

async function large(): Promise<void> {
  for (const [name, build, feeds] of [
    ['resnet50', () => resnet50(), { pixel_values: filled('float32', [1, 3, 224, 224]) }],
    ['bertBase', () => bertBase(), { input_ids: filled('int64', [1, 128]) }],
    ['mobilenetV2', () => mobileNetV2(), { pixel_values: filled('float32', [1, 3, 224, 224]) }],
  ] as const) {
    let start = performance.now();
    const bytes = build();
    const buildMs = performance.now() - start;
    start = performance.now();
    const session = await ort.InferenceSession.create(bytes);
    const loadMs = performance.now() - start;
    const runMs = await msPerRun(session, feeds);
    const parameters = parameterCount(bytes);
    if (parameters !== EXPECTED_PARAMETERS[name]) {
      console.error(`${name}: ${parameters} parameters, expected ${EXPECTED_PARAMETERS[name]}`);
      process.exitCode = 1;
    }
    console.log(
      `${name}: ${(parameters / 1e6).toFixed(2)}M params, build ${buildMs.toFixed(0)} ms, ${(bytes.length / 2 ** 20).toFixed(1)} MiB, ` +
        `session ${loadMs.toFixed(0)} ms, run (batch 1${name === 'bertBase' ? ', seq 128' : ''}) ${runMs.toFixed(1)} ms`,
    );
    await session.release();
  }
}

async function textToImage(): Promise<void> {
  const modules = [
    ['text_encoder', buildTextEncoder, (b: number) => ({ input_ids: filled('int64', [b, 16]) })],
    [
      'denoiser',
      buildDenoiser,
      (b: number) => ({
        latent: filled('float32', [b, 4, 16, 16]),
        timestep: filled('float32', [b]),
        text_embedding: filled('float32', [b, 16, 64]),
      }),
    ],
    ['image_decoder', buildImageDecoder, (b: number) => ({ latent: filled('float32', [b, 4, 16, 16]) })],
  ] as const;
  for (const [name, build, feeds] of modules) {
    const start = performance.now();
    const bytes = build();
    const buildMs = performance.now() - start;
    const line: string[] = [`${name}: build ${buildMs.toFixed(1)} ms, ${(bytes.length / 1024).toFixed(0)} KiB`];
    for (const [label, options] of [
      ['default', {}],
      ['1 thread', { intraOpNumThreads: 1, interOpNumThreads: 1 }],
    ] as const) {
      const session = await ort.InferenceSession.create(bytes, options);
      for (const batch of [1, 2]) line.push(`${label} b${batch} ${(await msPerRun(session, feeds(batch))).toFixed(3)} ms`);
      await session.release();
    }
    console.log(line.join(', '));
  }
}

async function main(): Promise<void> {
  await textToImage();
  if (!process.argv.includes('--skip-large')) await large();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
