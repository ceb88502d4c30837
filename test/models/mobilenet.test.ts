import * as ort from 'onnxruntime-node';
import { buildMobileNet, mobileNetV2, mobileNetV2Legacy, withConstantWeights } from '../../src/models';
import { decodeModel } from '../../src/onnx/proto';
import { randomFloats } from '../helpers/models';

async function logits(bytes: Uint8Array, dims: number[], seed = 1): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return (await session.run({ pixel_values: randomFloats(dims, seed) })).logits;
  } finally {
    await session.release();
  }
}

function expectFiniteAndSpread(t: ort.Tensor): void {
  const data = t.data as Float32Array;
  expect(data.every(Number.isFinite)).toBe(true);
  expect(Math.max(...data) - Math.min(...data)).toBeGreaterThan(1e-2);
}

describe('mobileNetV2', () => {
  const bytes = mobileNetV2({ seed: 1 });

  it('runs at batch 1 and 2, on sizes of its symbolic height and width', async () => {
    for (const dims of [[1, 3, 224, 224], [2, 3, 160, 192]]) {
      const out = await logits(bytes, dims);
      expect(out.dims).toEqual([dims[0], 1000]);
      expectFiniteAndSpread(out);
    }
  });

  it('has torchvision mobilenet_v2 ops: depthwise convs, Clip, unfolded BatchNormalization, Gemm', () => {
    const nodes = decodeModel(bytes).graph!.node!;
    const ops = new Set(nodes.map((n) => n.opType));
    for (const op of ['Conv', 'Clip', 'BatchNormalization', 'Add', 'GlobalAveragePool', 'Gemm']) expect(ops).toContain(op);
    expect(nodes.filter((n) => n.opType === 'Conv' && n.attribute?.some((a) => a.name === 'group')).length).toBe(17);
  });

  it('squeeze-excite adds HardSigmoid gates', async () => {
    const small = buildMobileNet({ widthMultiplier: 0.25, squeezeExcite: true, lastChannels: 64, classes: 4, imageSize: 64 });
    expect(decodeModel(small).graph!.node!.some((n) => n.opType === 'HardSigmoid')).toBe(true);
    const out = await logits(small, [3, 3, 64, 64]);
    expect(out.dims).toEqual([3, 4]);
    expectFiniteAndSpread(out);
  });
});

describe('old-exporter variant', () => {
  it('opset 11, weights in Constant nodes, BatchNormalization kept: same outputs as the modern model', async () => {
    const legacy = mobileNetV2Legacy({ seed: 1 });
    const model = decodeModel(legacy);
    expect(model.opsetImport).toEqual([{ domain: '', version: 11 }]);
    expect(Number(model.irVersion)).toBe(6);
    expect(model.graph!.initializer ?? []).toHaveLength(0);
    expect(model.graph!.node!.filter((n) => n.opType === 'BatchNormalization').length).toBeGreaterThan(50);
    const weights = model.graph!.node!.filter((n) => n.opType === 'Constant').map((n) => n.output![0]);
    expect(weights).toContain('classifier.weight');
    const [a, b] = [await logits(legacy, [1, 3, 96, 96]), await logits(mobileNetV2({ seed: 1, opset: 11 }), [1, 3, 96, 96])];
    expect(a.dims).toEqual([1, 1000]);
    expect(a.data).toEqual(b.data);
  });

  it('withConstantWeights keeps a model with no initializers as it is', () => {
    const once = withConstantWeights(mobileNetV2Legacy({ seed: 2, classes: 3, imageSize: 32 }));
    expect(decodeModel(withConstantWeights(once)).graph!.node!.length).toBe(decodeModel(once).graph!.node!.length);
  });
});
