import * as ort from 'onnxruntime-node';
import { attr, f, GraphBuilder, seededRandom } from '../../src/onnx/builder';
import { findInitializer, tensorToArray, tensorToFloat32 } from '../../src/onnx/graph';
import { AttributeType, DataType, decodeModel, type ModelProto, type NodeProto } from '../../src/onnx/proto';
import { runModel } from '../helpers/models';

function weights(model: ModelProto, name: string): Float32Array {
  const tensor = findInitializer(model.graph!, name);
  if (!tensor) throw new Error(`no initializer ${name}`);
  return tensorToFloat32(tensor);
}

function attributeOf(node: NodeProto | undefined, name: string) {
  return node?.attribute?.find((a) => a.name === name);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > tolerance * (1 + Math.abs(expected[i]))) {
      throw new Error(`element ${i}: ${actual[i]} vs expected ${expected[i]}`);
    }
  }
}

/** y = relu(x @ w1 + b1) @ w2 + b2, in plain JS. */
function mlpReference(x: Float32Array, batch: number, w1: Float32Array, b1: Float32Array, w2: Float32Array, b2: Float32Array): Float32Array {
  const [inF, hidden, outF] = [4, 8, 3];
  const y = new Float32Array(batch * outF);
  for (let n = 0; n < batch; n++) {
    const h = new Float64Array(hidden);
    for (let j = 0; j < hidden; j++) {
      let sum = b1[j];
      for (let k = 0; k < inF; k++) sum += x[n * inF + k] * w1[k * hidden + j];
      h[j] = Math.max(0, sum);
    }
    for (let j = 0; j < outF; j++) {
      let sum = b2[j];
      for (let k = 0; k < hidden; k++) sum += h[k] * w2[k * outF + j];
      y[n * outF + j] = sum;
    }
  }
  return y;
}

describe('GraphBuilder', () => {
  function buildMlp(): GraphBuilder {
    const b = new GraphBuilder('mlp', { seed: 7 });
    const x = b.input('x', 'float32', ['batch', 4]);
    const hidden = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.randomWeight('w1', [4, 8], 0.5)]), b.randomWeight('b1', [8])])]);
    b.node('Add', [b.op('MatMul', [hidden, b.randomWeight('w2', [8, 3], 0.5)]), b.randomWeight('b2', [3])], {}, { outputs: ['y'] });
    b.output('y', 'float32', ['batch', 3]);
    return b;
  }

  it('builds an MLP with a symbolic batch that onnxruntime runs, matching plain JS', async () => {
    const b = buildMlp();
    const model = b.build();
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(model.graph!.input![0].type!.tensorType!.shape!.dim).toEqual([{ dimParam: 'batch' }, { dimValue: 4 }]);
    const bytes = b.toBytes();
    const [w1, b1, w2, b2] = ['w1', 'b1', 'w2', 'b2'].map((name) => weights(model, name));
    for (const batch of [1, 5]) {
      const x = Float32Array.from({ length: batch * 4 }, (_, i) => Math.sin(i + batch));
      const { y } = await runModel(bytes, { x: new ort.Tensor('float32', x, [batch, 4]) });
      expect(y.dims).toEqual([batch, 3]);
      expectClose(y.data as Float32Array, mlpReference(x, batch, w1, b1, w2, b2));
    }
  });

  it('builds a conv model (Conv + Elu + Reshape by a Constant) that matches plain JS', async () => {
    const b = new GraphBuilder('conv', { seed: 3 });
    const x = b.input('x', 'float32', [1, 2, 5, 5]);
    const conv = b.op('Conv', [x, b.randomWeight('w', [3, 2, 3, 3], 0.4), b.randomWeight('bias', [3])], {
      kernel_shape: [3, 3],
      pads: [1, 1, 1, 1],
      strides: [1, 1],
    });
    const elu = b.op('Elu', [conv], { alpha: 1 }); // a known float attribute: FLOAT despite the integer value
    const shape = b.constant('shape', BigInt64Array.from([1n, -1n]), [2], 'int64');
    b.node('Reshape', [elu, shape], {}, { outputs: ['y'] });
    b.output('y', 'float32', [1, 75]);
    const model = b.build();
    const eluNode = model.graph!.node!.find((n) => n.opType === 'Elu');
    expect(attributeOf(eluNode, 'alpha')).toMatchObject({ type: AttributeType.FLOAT, f: 1 });
    const constantNode = model.graph!.node!.find((n) => n.opType === 'Constant');
    expect(Array.from(tensorToArray(attributeOf(constantNode, 'value')!.t!) as BigInt64Array)).toEqual([1n, -1n]);

    const input = Float32Array.from({ length: 50 }, (_, i) => Math.cos(i * 0.7));
    const w = weights(model, 'w');
    const bias = weights(model, 'bias');
    const expected = new Float32Array(75);
    for (let o = 0; o < 3; o++) {
      for (let r = 0; r < 5; r++) {
        for (let c = 0; c < 5; c++) {
          let sum = bias[o];
          for (let i = 0; i < 2; i++) {
            for (let kr = 0; kr < 3; kr++) {
              for (let kc = 0; kc < 3; kc++) {
                const [rr, cc] = [r + kr - 1, c + kc - 1];
                if (rr < 0 || rr >= 5 || cc < 0 || cc >= 5) continue;
                sum += input[i * 25 + rr * 5 + cc] * w[((o * 2 + i) * 3 + kr) * 3 + kc];
              }
            }
          }
          expected[o * 25 + r * 5 + c] = sum > 0 ? sum : Math.expm1(sum);
        }
      }
    }
    const { y } = await runModel(b.toBytes(), { x: new ort.Tensor('float32', input, [1, 2, 5, 5]) });
    expect(y.dims).toEqual([1, 75]);
    expectClose(y.data as Float32Array, expected);
  });

  it('types attributes: integers INT, fractions FLOAT, wrappers win', () => {
    const b = new GraphBuilder('attrs');
    const x = b.input('x', 'float32', [2]);
    b.node('Custom', [x], {
      axis: -1,
      epsilon: 1e-5,
      gain: f(2),
      perm: [0, 2, 1],
      coeffs: [0.5, 1],
      table: new Float32Array([1, 2]),
      empty: attr.floats([]),
      nothing: attr.ints([]),
      mode: 'nearest',
      names: ['a', 'b'],
      huge: 9223372036854775807n,
      value: { data: new Int32Array([5]), dims: [] },
    }, { domain: 'test.domain', outputs: ['y'] });
    b.useOpset('test.domain', 1);
    b.output('y', 'float32', [2]);
    const node = decodeModel(b.toBytes()).graph!.node![0];
    const types = Object.fromEntries(node.attribute!.map((a) => [a.name, a.type]));
    expect(types).toEqual({
      axis: AttributeType.INT,
      epsilon: AttributeType.FLOAT,
      gain: AttributeType.FLOAT,
      perm: AttributeType.INTS,
      coeffs: AttributeType.FLOATS,
      table: AttributeType.FLOATS,
      empty: AttributeType.FLOATS,
      nothing: AttributeType.INTS,
      mode: AttributeType.STRING,
      names: AttributeType.STRINGS,
      huge: AttributeType.INT,
      value: AttributeType.TENSOR,
    });
    expect(attributeOf(node, 'axis')!.i).toBe(-1);
    expect(attributeOf(node, 'huge')!.i).toBe(9223372036854775807n);
    expect(Math.fround(1e-5)).toBe(attributeOf(node, 'epsilon')!.f);
    expect(new TextDecoder().decode(attributeOf(node, 'mode')!.s)).toBe('nearest');
    // A scalar: no dims on the wire, so none after decoding; no name for an attribute tensor.
    expect(attributeOf(node, 'value')!.t).toEqual({ dataType: DataType.INT32, rawData: new Uint8Array([5, 0, 0, 0]) });
  });

  it('names what is wrong in a graph', () => {
    const dangling = new GraphBuilder('dangling');
    dangling.input('x', 'float32', [1]);
    dangling.node('Add', ['x', 'missing'], {}, { name: 'adder', outputs: ['y'] });
    dangling.output('y', 'float32', [1]);
    expect(() => dangling.build()).toThrow(/node "adder" \(Add\) reads "missing"/);

    const twice = new GraphBuilder('twice');
    twice.input('x', 'float32', [1]);
    expect(() => twice.initializer('x', new Float32Array([1]), [1])).toThrow(/tensor "x" is defined twice/);
    expect(() => twice.initializer('w', new Float32Array([1, 2]), [3])).toThrow(/"w".*8 bytes of data but dims \[3\] of float32 need 12/);

    const noOutput = new GraphBuilder('no-output');
    noOutput.input('x', 'float32', [1]);
    noOutput.output('nowhere', 'float32', [1]);
    expect(() => noOutput.build()).toThrow(/graph output "nowhere" is not produced/);

    const noOpset = new GraphBuilder('no-opset');
    noOpset.input('x', 'float32', [1]);
    noOpset.node('QuickGelu', ['x'], {}, { domain: 'com.microsoft', outputs: ['y'] });
    noOpset.output('y', 'float32', [1]);
    expect(() => noOpset.build()).toThrow(/useOpset\('com.microsoft'/);
  });

  it('gives deterministic weights from the seed', () => {
    const first = weights(buildMlp().build(), 'w1');
    expect(weights(buildMlp().build(), 'w1')).toEqual(first);
    expect(first.every((v) => v >= -0.5 && v <= 0.5)).toBe(true);
    const random = seededRandom(42);
    const values = Array.from({ length: 1000 }, random);
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(Array.from({ length: 1000 }, seededRandom(42))).toEqual(values);
    expect(Array.from({ length: 5 }, seededRandom(43))).not.toEqual(values.slice(0, 5));
  });
});
