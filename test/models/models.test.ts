import * as ort from 'onnxruntime-node';
import {
  buildDenoiser,
  buildImageDecoder,
  buildResNet,
  buildTextEncoder,
  tinyEncoder,
  tinyResNet,
} from '../../src/models';
import { lcg, randomFloats } from '../helpers/models';

function randomIds(dims: number[], vocab: number, seed: number): ort.Tensor {
  const next = lcg(seed);
  const n = dims.reduce((p, d) => p * d, 1);
  return new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(Math.floor(next() * vocab))), dims);
}

function std(data: Float32Array): number {
  let mean = 0;
  for (const v of data) mean += v;
  mean /= data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  return Math.sqrt(sq / data.length);
}

/** Runs a model once and checks its single output: name, shape, finite values, sane spread. */
async function runChecked(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  output: string,
  dims: number[],
): Promise<Float32Array> {
  const result = await session.run(feeds);
  expect(Object.keys(result)).toEqual([output]);
  const tensor = result[output];
  expect(tensor.type).toBe('float32');
  expect(tensor.dims).toEqual(dims);
  const data = tensor.data as Float32Array;
  expect(data.every(Number.isFinite)).toBe(true);
  const spread = std(data);
  expect(spread).toBeGreaterThan(0.05);
  expect(spread).toBeLessThan(20);
  return data;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

function byteEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

describe('tinyResNet', () => {
  it('builds fast and runs at batch 1 and 3', async () => {
    const start = performance.now();
    const bytes = tinyResNet();
    expect(performance.now() - start).toBeLessThan(1000); // ~20 ms; generous for a loaded CI machine
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(['pixel_values']);
    for (const batch of [1, 3]) {
      await runChecked(session, { pixel_values: randomFloats([batch, 3, 32, 32], 7) }, 'logits', [batch, 10]);
    }
  });

  it('bottleneck blocks with strided projections work too', async () => {
    const bytes = buildResNet({ blocks: [2, 1, 1], baseWidth: 8, bottleneck: true, imageSize: 64, classes: 5 });
    const session = await ort.InferenceSession.create(bytes);
    for (const batch of [1, 3]) {
      await runChecked(session, { pixel_values: randomFloats([batch, 3, 64, 64], 3) }, 'logits', [batch, 5]);
    }
  });
});

describe('tinyEncoder', () => {
  it('runs at batch 1/3 and sequence 8/16', async () => {
    const session = await ort.InferenceSession.create(tinyEncoder());
    expect(session.inputNames).toEqual(['input_ids']);
    for (const batch of [1, 3]) {
      for (const seq of [8, 16]) {
        const ids = randomIds([batch, seq], 100, batch * 100 + seq);
        await runChecked(session, { input_ids: ids }, 'last_hidden_state', [batch, seq, 32]);
      }
    }
  });

  it('attention_mask hides padded positions', async () => {
    const session = await ort.InferenceSession.create(tinyEncoder({ attentionMask: true }));
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask']);
    const mask = new ort.Tensor('int64', BigInt64Array.from([1, 1, 1, 1, 1, 0, 0, 0], BigInt), [1, 8]);
    const ids1 = BigInt64Array.from([5, 6, 7, 8, 9, 10, 11, 12], BigInt);
    const ids2 = BigInt64Array.from([5, 6, 7, 8, 9, 90, 91, 92], BigInt); // differs only under the mask
    const run = async (ids: BigInt64Array): Promise<Float32Array> =>
      (await session.run({ input_ids: new ort.Tensor('int64', ids, [1, 8]), attention_mask: mask })).last_hidden_state
        .data as Float32Array;
    const [a, b] = [await run(ids1), await run(ids2)];
    const visible = 5 * 32;
    expect(maxAbsDiff(a.subarray(0, visible), b.subarray(0, visible))).toBeLessThan(1e-4);
    expect(maxAbsDiff(a.subarray(visible), b.subarray(visible))).toBeGreaterThan(1e-2);
  });
});

describe('text-to-image modules', () => {
  /** The default denoiser, built and loaded once for the two tests that run it. */
  let denoiser: Promise<ort.InferenceSession> | undefined;
  const denoiserSession = (): Promise<ort.InferenceSession> => (denoiser ??= ort.InferenceSession.create(buildDenoiser()));
  afterAll(async () => {
    await (await denoiser)?.release();
  });

  it('text encoder: input_ids [b, 16] → text_embedding [b, 16, 64]', async () => {
    const session = await ort.InferenceSession.create(buildTextEncoder());
    for (const batch of [1, 3]) {
      await runChecked(session, { input_ids: randomIds([batch, 16], 1000, batch) }, 'text_embedding', [batch, 16, 64]);
    }
  });

  it('denoiser: latent, timestep, text_embedding → noise_pred', async () => {
    const session = await denoiserSession();
    expect([...session.inputNames].sort()).toEqual(['latent', 'text_embedding', 'timestep']);
    for (const batch of [1, 3]) {
      const feeds = {
        latent: randomFloats([batch, 4, 16, 16], 1),
        timestep: new ort.Tensor('float32', Float32Array.from({ length: batch }, (_, i) => 999 - 300 * i), [batch]),
        text_embedding: randomFloats([batch, 16, 64], 2, 1.7),
      };
      await runChecked(session, feeds, 'noise_pred', [batch, 4, 16, 16]);
    }
  });

  it('the denoiser depends on the timestep and the text', async () => {
    const session = await denoiserSession();
    const latent = randomFloats([1, 4, 16, 16], 1);
    const run = async (t: number, textSeed: number): Promise<Float32Array> =>
      (
        await session.run({
          latent,
          timestep: new ort.Tensor('float32', new Float32Array([t]), [1]),
          text_embedding: randomFloats([1, 16, 64], textSeed, 1.7),
        })
      ).noise_pred.data as Float32Array;
    const base = await run(500, 2);
    expect(maxAbsDiff(base, await run(100, 2))).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(base, await run(500, 3))).toBeGreaterThan(1e-2);
  });

  it('image decoder: latent [b, 4, 16, 16] → image [b, 3, 64, 64] in (0, 1)', async () => {
    const session = await ort.InferenceSession.create(buildImageDecoder());
    for (const batch of [1, 3]) {
      const image = await runChecked(session, { latent: randomFloats([batch, 4, 16, 16], 4) }, 'image', [batch, 3, 64, 64]);
      expect(image.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
  });
});

/** Every generator with a seed option, and a batch-1 input for it. */
const SEEDED: [string, (seed: number) => Uint8Array, () => Record<string, ort.Tensor>][] = [
  ['tinyResNet', (seed) => tinyResNet({ seed }), () => ({ pixel_values: randomFloats([1, 3, 32, 32], 7) })],
  ['tinyEncoder', (seed) => tinyEncoder({ seed }), () => ({ input_ids: randomIds([1, 8], 100, 5) })],
  ['textEncoder', (seed) => buildTextEncoder({ seed }), () => ({ input_ids: randomIds([1, 16], 1000, 5) })],
  [
    'denoiser',
    (seed) => buildDenoiser({ seed }),
    () => ({
      latent: randomFloats([1, 4, 16, 16], 1),
      timestep: new ort.Tensor('float32', new Float32Array([500]), [1]),
      text_embedding: randomFloats([1, 16, 64], 2, 1.7),
    }),
  ],
  ['imageDecoder', (seed) => buildImageDecoder({ seed }), () => ({ latent: randomFloats([1, 4, 16, 16], 4) })],
];

describe.each(SEEDED)('%s is deterministic in its seed', (_name, generate, feeds) => {
  it('same seed → identical bytes; another seed → other outputs', async () => {
    // The model last built per seed, so that the outputs of seed 5 come from the bytes just compared.
    const built = new Map<number, Uint8Array>();
    const build = (seed: number): Uint8Array => {
      const bytes = generate(seed);
      built.set(seed, bytes);
      return bytes;
    };
    expect(byteEqual(build(5), build(5))).toBe(true);
    const outputOf = async (seed: number): Promise<Float32Array> => {
      const session = await ort.InferenceSession.create(built.get(seed) ?? build(seed));
      const result = await session.run(feeds());
      return result[session.outputNames[0]].data as Float32Array;
    };
    expect(maxAbsDiff(await outputOf(5), await outputOf(6))).toBeGreaterThan(1e-3);
  });
});

// resnet50() and bertBase() are checked by bench/models-check.ts (parameter counts, onnxruntime load,
// timings): under jest they take ~70 s on 2 cores, against ~10 s in plain node.
