/**
 * Sample (b): a text-to-image-shaped pipeline of three ONNX models, orchestrated by ordinary
 * TypeScript: a text encoder, a denoiser called in a loop on a doubled batch (classifier-free
 * guidance), and an image decoder. The denoiser has its own settings through @optimizeConfig.
 *
 *   npm run sample                      optimize on the CPU (cached after the first run), then generate
 *   npm run sample -- --force           re-optimize
 */
import 'reflect-metadata';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize, optimizeConfig, strategies } from '../src';
import { buildDenoiser, buildImageDecoder, buildTextEncoder, LATENT_CHANNELS, LATENT_SIZE, TEXT_TOKENS } from '../src/models';
import { sampleModelPath } from './sample-models';

export class TextToImagePipeline {
  @navModule({ name: 'text_encoder' })
  textEncoder = new OnnxModule(sampleModelPath('text_encoder', buildTextEncoder));

  // The denoiser runs most often, so it gets its own profiling range and strategy.
  @navModule({ name: 'denoiser' })
  @optimizeConfig({ maxBatchSize: 8, strategy: strategies.observedLatency(), sampleCount: 6 })
  denoiser = new OnnxModule(sampleModelPath('denoiser', buildDenoiser));

  @navModule({ name: 'image_decoder' })
  decoder = new OnnxModule(sampleModelPath('image_decoder', buildImageDecoder));

  constructor(
    readonly steps = 4,
    readonly guidance = 3,
  ) {}

  /** Images [batch, 3, 64, 64] for the prompts. */
  async generate(prompts: string[]): Promise<Tensor> {
    const batch = prompts.length;
    const promptIds = tokenize(prompts);
    const emptyIds = tokenize(prompts.map(() => ''));
    // Unconditional and conditional embeddings in one batch, as guided pipelines do.
    const { text_embedding: text } = await this.textEncoder.run({ input_ids: concat(emptyIds, promptIds) });
    let latent = noise(batch, 42);
    for (let step = 0; step < this.steps; step++) {
      const t = 1 - step / this.steps;
      const { noise_pred } = await this.denoiser.run({
        latent: concat(latent, latent),
        timestep: new Tensor('float32', new Float32Array(2 * batch).fill(t), [2 * batch]),
        text_embedding: text,
      });
      latent = guidedStep(latent, noise_pred, this.guidance, 1 / this.steps);
    }
    const { image } = await this.decoder.run({ latent });
    return image;
  }
}

/** Characters to ids, padded to the encoder's 16 tokens: a stand-in for a real tokenizer. */
function tokenize(prompts: string[]): Tensor {
  const ids = new BigInt64Array(prompts.length * TEXT_TOKENS);
  prompts.forEach((prompt, row) => {
    for (let i = 0; i < TEXT_TOKENS; i++) ids[row * TEXT_TOKENS + i] = BigInt(i < prompt.length ? prompt.charCodeAt(i) % 1000 : 0);
  });
  return new Tensor('int64', ids, [prompts.length, TEXT_TOKENS]);
}

function noise(batch: number, seed: number): Tensor {
  let state = seed;
  const values = Float32Array.from({ length: batch * LATENT_CHANNELS * LATENT_SIZE * LATENT_SIZE }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  });
  return new Tensor('float32', values, [batch, LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE]);
}

function concat(a: Tensor, b: Tensor): Tensor {
  const data = new (a.data.constructor as Float32ArrayConstructor)(a.data.length + b.data.length);
  data.set(a.data as Float32Array);
  data.set(b.data as Float32Array, a.data.length);
  return new Tensor(a.type as 'float32', data, [a.dims[0] + b.dims[0], ...a.dims.slice(1)]);
}

/** latent - rate * (uncond + guidance * (cond - uncond)). */
function guidedStep(latent: Tensor, prediction: Tensor, guidance: number, rate: number): Tensor {
  const x = latent.data as Float32Array;
  const p = prediction.data as Float32Array;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - rate * (p[i] + guidance * (p[i + x.length] - p[i]));
  return new Tensor('float32', out, latent.dims);
}

/** The dataloader: [batchSize, prompts] items, the batch size first as in the Python tool. */
export const sampleDataloader: [number, string[]][] = [
  [1, ['a red fox in the snow']],
  [2, ['a lighthouse at dusk', 'a bowl of ramen']],
  [1, ['an astronaut riding a horse']],
];

async function main(): Promise<void> {
  const started = performance.now();
  const pipeline = new TextToImagePipeline();
  const status = await optimize(pipeline, sampleDataloader, {
    call: (p: TextToImagePipeline, prompts: string[]) => p.generate(prompts),
    force: process.argv.includes('--force'),
    runners: ['OnnxCPU'],
  });
  const optimizeSeconds = (performance.now() - started) / 1000;
  const images = await pipeline.generate(['a lighthouse at dusk']);
  const pixels = images.data as Float32Array;
  const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length;
  console.log(`\nGenerated ${images.dims.join('x')} image, mean pixel ${mean.toFixed(4)}.`);
  for (const module of [pipeline.textEncoder, pipeline.denoiser, pipeline.decoder]) console.log(`  ${module.describe()}`);
  console.log(`optimize took ${optimizeSeconds.toFixed(1)} s (${Object.values(status.modules).every((m) => m.cached) ? 'cached' : 'optimized'}); report: ${status.workspace}/optimize-report.{txt,json,html}`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
