/**
 * Sample (c): a service that gets the optimized pipeline injected through the container.
 * `bootstrap` optimizes every @pipeline class where needed (or only loads the cache with
 * optimize: 'never') and returns the tsyringe container.
 *
 *   node dist/samples/service.js [never|if-missing|always]
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import { bootstrap, pipeline } from '../src';
import { TextToImagePipeline, sampleDataloader } from './text-to-image';

// The sample pipeline class, made injectable and known to bootstrap, with its dataloader.
@pipeline<ImagePipeline>({ dataloader: () => sampleDataloader, call: (p, prompts: string[]) => p.generate(prompts), config: { runners: ['OnnxCPU'] } })
class ImagePipeline extends TextToImagePipeline {}

@injectable()
class ThumbnailService {
  constructor(@inject(ImagePipeline) private readonly images: ImagePipeline) {}

  async thumbnail(prompt: string): Promise<string> {
    const image = await this.images.generate([prompt]);
    const pixels = image.data as Float32Array;
    const mean = pixels.reduce((s, v) => s + v, 0) / pixels.length;
    return `${prompt}: ${image.dims.join('x')} image, mean ${mean.toFixed(3)}, denoiser on ${this.images.denoiser.binding.format}/${this.images.denoiser.binding.runner}`;
  }
}

async function main(): Promise<void> {
  const mode = (process.argv[2] ?? 'if-missing') as 'never' | 'if-missing' | 'always';
  const container = await bootstrap({ optimize: mode });
  const service = container.resolve(ThumbnailService);
  console.log(await service.thumbnail('a lighthouse at dusk'));
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
