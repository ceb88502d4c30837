/**
 * A two-model convolutional pipeline, as a photo service would run: a detector (a ResNet on the
 * whole 192x192 image) proposes four regions, and a crop classifier (a smaller ResNet) labels the
 * four 96x96 crops in one batch. The sample service and bench/serve serve it.
 */
import 'reflect-metadata';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, pipeline } from '../src';
import { buildResNet } from '../src/models';
import { sampleModelPath } from './sample-models';

export const IMAGE_SIZE = 192;
export const CROP_SIZE = 96;
export const REGIONS = 4;
export const LABELS = 10;

export interface Region {
  x: number;
  y: number;
  label: number;
  score: number;
}

/** An image as the service receives it: RGB bytes, row-major, IMAGE_SIZE x IMAGE_SIZE. */
export function syntheticImage(seed: number): Uint8Array {
  return Uint8Array.from({ length: IMAGE_SIZE * IMAGE_SIZE * 3 }, (_, i) => (Math.sin(i * 0.013 + seed) * 0.5 + 0.5) * 255);
}

@pipeline<VisionPipeline>({
  dataloader: () => [1, 2, 3].map((seed) => [1, syntheticImage(seed)] as const),
  call: (p, image: Uint8Array) => p.analyze(image),
  // CPU only, one converted format, batch sizes for the batching defaults: optimize stays short.
  config: { runners: ['OnnxCPU'], targetFormats: ['onnx-optimized', 'onnx-int8-static'], batchSizes: [1, 2, 4, 8], sampleCount: 4, profiling: { windowMs: 150, maxWindows: 6 } },
})
export class VisionPipeline {
  @navModule({ name: 'detector' })
  detector = new OnnxModule(
    sampleModelPath('detector', () => buildResNet({ blocks: [1, 1, 1, 1], baseWidth: 32, bottleneck: false, imageSize: IMAGE_SIZE, classes: 2 * REGIONS, name: 'detector' })),
  );

  @navModule({ name: 'crop_classifier' })
  classifier = new OnnxModule(
    sampleModelPath('crop_classifier', () => buildResNet({ blocks: [1, 1, 1], baseWidth: 32, bottleneck: false, imageSize: CROP_SIZE, classes: LABELS, name: 'crop_classifier', seed: 1 })),
  );

  /**
   * Input buffers of finished calls, for the next ones. A service allocating ~1 MB of floats per
   * request made V8 run a mark-compact about every 20 MB of it (external memory counts towards the
   * GC), ~9 a second at 190 req/s, each stalling the event loop for up to ~10 ms. (Shared memory
   * would spare served calls their copy, but onnxruntime-node refuses SharedArrayBuffer tensors.)
   */
  private readonly scratch: { pixels: Float32Array; crops: Float32Array }[] = [];

  /** Regions of one image, each with its crop's label. `image` is read before the first await only. */
  async analyze(image: Uint8Array): Promise<Region[]> {
    const scratch = this.scratch.pop() ?? { pixels: new Float32Array(3 * IMAGE_SIZE * IMAGE_SIZE), crops: new Float32Array(REGIONS * 3 * CROP_SIZE * CROP_SIZE) };
    try {
      return await this.analyzeInto(image, scratch.pixels, scratch.crops);
    } finally {
      this.scratch.push(scratch); // the runs have settled: nothing reads the buffers any more
    }
  }

  private async analyzeInto(image: Uint8Array, pixels: Float32Array, crops: Float32Array): Promise<Region[]> {
    normalize(image, pixels);
    const { logits } = await this.detector.run({ pixel_values: new Tensor('float32', pixels, [1, 3, IMAGE_SIZE, IMAGE_SIZE]) });
    const centers = Array.from({ length: REGIONS }, (_, r) => {
      const place = (v: number) => Math.round((1 / (1 + Math.exp(-v))) * (IMAGE_SIZE - CROP_SIZE));
      const raw = logits.data as Float32Array;
      return { x: place(raw[2 * r]), y: place(raw[2 * r + 1]) };
    });
    centers.forEach(({ x, y }, r) => {
      for (let c = 0; c < 3; c++) {
        for (let row = 0; row < CROP_SIZE; row++) {
          const from = c * IMAGE_SIZE * IMAGE_SIZE + (y + row) * IMAGE_SIZE + x;
          crops.set(pixels.subarray(from, from + CROP_SIZE), ((r * 3 + c) * CROP_SIZE + row) * CROP_SIZE);
        }
      }
    });
    const labels = await this.classifier.run({ pixel_values: new Tensor('float32', crops, [REGIONS, 3, CROP_SIZE, CROP_SIZE]) });
    const scores = labels.logits.data as Float32Array;
    return centers.map(({ x, y }, r) => {
      let best = 0;
      for (let k = 1; k < LABELS; k++) if (scores[r * LABELS + k] > scores[r * LABELS + best]) best = k;
      return { x, y, label: best, score: Number(scores[r * LABELS + best].toFixed(4)) };
    });
  }
}

/** HWC bytes to CHW floats in [-1, 1], into `out`. */
function normalize(image: Uint8Array, out: Float32Array): void {
  const plane = IMAGE_SIZE * IMAGE_SIZE;
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = image[i * 3 + c] / 127.5 - 1;
}
