import * as ort from 'onnxruntime-node';
import { buildTextClassifier, buildTextDetector, buildTextRecognizer, TEXT_CLASSES, withConstantWeights } from '../../src/models';
import { decodeModel } from '../../src/onnx/proto';
import { randomFloats } from '../helpers/models';

async function run(bytes: Uint8Array, input: string, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const result = await session.run({ [input]: randomFloats(dims, dims[3]) });
    expect(Object.keys(result)).toHaveLength(1);
    const out = Object.values(result)[0];
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
    return out;
  } finally {
    await session.release();
  }
}

describe('OCR-shaped models', () => {
  it('detector: image [b, 3, H, W] → probability [b, 1, H, W] in (0, 1), with Resize, Concat, ConvTranspose', async () => {
    const bytes = buildTextDetector();
    const ops = new Set(decodeModel(bytes).graph!.node!.map((n) => n.opType));
    for (const op of ['Resize', 'Concat', 'ConvTranspose', 'Sigmoid']) expect(ops).toContain(op);
    for (const dims of [[1, 3, 64, 96], [2, 3, 96, 64]]) {
      const out = await run(bytes, 'image', dims);
      expect(out.dims).toEqual([dims[0], 1, dims[2], dims[3]]);
      const p = out.data as Float32Array;
      expect(Math.min(...p)).toBeGreaterThan(0);
      expect(Math.max(...p)).toBeLessThan(1);
      expect(Math.max(...p) - Math.min(...p)).toBeGreaterThan(0.05);
    }
  });

  it('angle classifier: crops [n, 3, 32, W] → logits [n, 2]', async () => {
    for (const width of [64, 160]) expect((await run(buildTextClassifier(), 'pixel_values', [3, 3, 32, width])).dims).toEqual([3, 2]);
  });

  it('recognizer: crops [n, 3, 32, W] → logits [n, W / 4, 97]', async () => {
    for (const width of [64, 132]) {
      expect((await run(buildTextRecognizer(), 'crops', [2, 3, 32, width])).dims).toEqual([2, width / 4, TEXT_CLASSES]);
    }
  });

  it('all three build at opset 11 with Constant weights too', async () => {
    const detector = withConstantWeights(buildTextDetector({ opset: 11 }));
    expect((await run(detector, 'image', [1, 3, 64, 64])).dims).toEqual([1, 1, 64, 64]);
    expect((await run(withConstantWeights(buildTextClassifier({ opset: 11 })), 'pixel_values', [1, 3, 32, 64])).dims).toEqual([1, 2]);
    expect((await run(withConstantWeights(buildTextRecognizer({ opset: 11 })), 'crops', [1, 3, 32, 64])).dims).toEqual([1, 16, TEXT_CLASSES]);
  });
});
