/**
 * Sample (a): an image classifier (a ResNet-shaped CNN) in code that uses no decorators: the model
 * is wrapped with navModule(model, options) and a plain function is optimized.
 *
 *   node dist/samples/classifier.js
 */
import 'reflect-metadata';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../src';
import { tinyResNet } from '../src/models';
import { sampleModelPath } from './sample-models';

const IMAGE = 32;
const classifier = navModule(new OnnxModule(sampleModelPath('classifier', () => tinyResNet({ imageSize: IMAGE }))), { name: 'classifier' });

/** Top class of each image in a batch of synthetic images. */
export async function classify(batch: number, seed: number): Promise<number[]> {
  const pixels = Float32Array.from({ length: batch * 3 * IMAGE * IMAGE }, (_, i) => Math.sin(i * 0.01 + seed));
  const outputs = await classifier.run({ pixel_values: new Tensor('float32', pixels, [batch, 3, IMAGE, IMAGE]) });
  const logits = Object.values(outputs)[0];
  const classes = logits.dims[1];
  const data = logits.data as Float32Array;
  return Array.from({ length: batch }, (_, row) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (data[row * classes + k] > data[row * classes + best]) best = k;
    return best;
  });
}

async function main(): Promise<void> {
  const status = await optimize(classify, [[1, 1, 0], [4, 4, 1], [1, 1, 2], [8, 8, 3]], { runners: ['OnnxCPU'] });
  console.log(`\nclasses: ${(await classify(4, 7)).join(', ')}`);
  console.log(classifier.describe());
  console.log(`speedup of the classifier at the observed batch sizes: ${status.modules.classifier.selected.speedup.toFixed(2)}x`);
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
