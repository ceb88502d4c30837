import * as ort from 'onnxruntime-node';
import { attr, GraphBuilder } from '../../src/onnx/builder';
import {
  bfloat16BitsToFloat32,
  consumers,
  findValueInfo,
  fixDimParam,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  isTopologicallySorted,
  nameGenerator,
  opCounts,
  opsetVersion,
  producers,
  setInputShape,
  tensorFromArray,
  tensorToArray,
  tensorToFloat32,
  topologicalOrder,
  valueInfoShape,
} from '../../src/onnx/graph';
import { DataType, decodeModel, encodeModel, type GraphProto, type NodeProto } from '../../src/onnx/proto';

function node(opType: string, input: string[], output: string[], name = output[0]): NodeProto {
  return { opType, input, output, name };
}

/** x → Relu → a → Neg → b → Add(a, b) → y, with an initializer w added to y. */
function chain(): GraphProto {
  return {
    input: [{ name: 'x' }],
    initializer: [{ name: 'w', dataType: DataType.FLOAT, dims: [1], rawData: new Uint8Array(4) }],
    node: [node('Relu', ['x'], ['a']), node('Neg', ['a'], ['b']), node('Add', ['a', 'b'], ['c']), node('Add', ['c', 'w'], ['y'])],
    output: [{ name: 'y' }],
  };
}

describe('topologicalOrder', () => {
  it('keeps a sorted graph as it is and sorts a shuffled one', () => {
    const graph = chain();
    expect(topologicalOrder(graph)).toEqual(graph.node);
    expect(isTopologicallySorted(graph)).toBe(true);
    const shuffled = { ...graph, node: [graph.node![3], graph.node![2], graph.node![1], graph.node![0]] };
    expect(isTopologicallySorted(shuffled)).toBe(false);
    expect(topologicalOrder(shuffled).map((n) => n.name)).toEqual(['a', 'b', 'c', 'y']);
  });

  it('names the node whose input has no producer', () => {
    const graph = chain();
    graph.node![2] = node('Add', ['a', 'typo'], ['c'], 'adder');
    expect(() => topologicalOrder(graph)).toThrow(/node "adder" \(Add\) reads "typo", which no node, graph input or initializer provides/);
    expect(() => topologicalOrder(graph)).toThrow(/Fix: add "typo" as a graph input or initializer/);
  });

  it('reports cycles and tensors with two producers', () => {
    const cycle = chain();
    cycle.node![0] = node('Add', ['x', 'c'], ['a'], 'first');
    expect(() => topologicalOrder(cycle)).toThrow(/is part of a cycle/);
    const twice = chain();
    twice.node!.push(node('Identity', ['x'], ['b'], 'again'));
    expect(() => topologicalOrder(twice)).toThrow(/node "again" \(Identity\) writes "b", which node "b" \(Neg\) already writes/);
  });

  it('orders a node after what its subgraphs read from the outer scope', () => {
    const branch: GraphProto = { node: [node('Identity', ['late'], ['branch_out'])], output: [{ name: 'branch_out' }] };
    const graph: GraphProto = {
      input: [{ name: 'cond' }, { name: 'x' }],
      node: [
        { ...node('If', ['cond'], ['y']), attribute: [{ name: 'then_branch', type: 5, g: branch }, { name: 'else_branch', type: 5, g: branch }] },
        node('Relu', ['x'], ['late']),
      ],
    };
    expect(topologicalOrder(graph).map((n) => n.opType)).toEqual(['Relu', 'If']);
    expect(() => topologicalOrder(branch)).toThrow(/reads "late"/);
    expect(topologicalOrder(branch, ['late'])).toHaveLength(1);
  });
});

describe('graph lookups', () => {
  it('counts ops, subgraphs and other domains included', () => {
    const graph = chain();
    graph.node!.push({ ...node('If', ['x'], ['z']), attribute: [{ name: 'then_branch', type: 5, g: { node: [node('Relu', ['x'], ['r'])] } }] });
    graph.node!.push({ ...node('FusedMatMul', ['x', 'x'], ['m']), domain: 'com.microsoft' });
    expect(opCounts(graph)).toEqual({ Relu: 2, Neg: 1, Add: 2, If: 1, 'com.microsoft:FusedMatMul': 1 });
    expect(opCounts(graph, { includeSubgraphs: false })).toEqual({ Relu: 1, Neg: 1, Add: 2, If: 1, 'com.microsoft:FusedMatMul': 1 });
  });

  it('maps producers and consumers, finds value infos and opsets', () => {
    const graph = chain();
    expect(producers(graph).get('b')?.opType).toBe('Neg');
    expect(consumers(graph).get('a')?.map((n) => n.opType)).toEqual(['Neg', 'Add']);
    expect(findValueInfo(graph, 'y')).toEqual({ name: 'y' });
    const model = { opsetImport: [{ domain: 'ai.onnx', version: 17 }, { domain: 'com.microsoft', version: 1 }], graph };
    expect(opsetVersion(model, '')).toBe(17);
    expect(opsetVersion(model, 'com.microsoft')).toBe(1);
    expect(opsetVersion(model, 'ai.onnx.ml')).toBeUndefined();
  });

  it('generates names that are used nowhere', () => {
    const fresh = nameGenerator(chain());
    expect([fresh('x'), fresh('x'), fresh('new'), fresh('new')]).toEqual(['x_1', 'x_2', 'new', 'new_1']);
  });
});

describe('input shapes', () => {
  function model(): Uint8Array {
    const b = new GraphBuilder('dims');
    const x = b.input('x', 'float32', ['batch', 'seq', 4]);
    b.node('Relu', [x], {}, { outputs: ['y'] });
    b.output('y', 'float32', ['batch', 'seq', 4]);
    return b.toBytes();
  }

  it('replaces dim_param by dim_value with fresh Dimension objects', async () => {
    const decoded = decodeModel(model());
    const graph = decoded.graph!;
    const before = graph.input![0].type!.tensorType!.shape!.dim!;
    expect(fixDimParam(graph, 'batch', 2)).toBe(2); // the input and the output
    const after = graph.input![0].type!.tensorType!.shape!.dim!;
    expect(after).toEqual([{ dimValue: 2 }, { dimParam: 'seq' }, { dimValue: 4 }]);
    expect(after[0]).not.toBe(before[0]);
    expect(before[0]).toEqual({ dimParam: 'batch' }); // the old objects are untouched
    setInputShape(graph, 'x', [null, 3, null]);
    expect(valueInfoShape(graph.input![0])).toEqual([2, 3, 4]);
    expect(graph.input![0].type!.tensorType!.shape!.dim!.every((d) => !('dimParam' in d))).toBe(true);

    const session = await ort.InferenceSession.create(encodeModel(decoded));
    try {
      const ok = await session.run({ x: new ort.Tensor('float32', new Float32Array(24).fill(-1), [2, 3, 4]) });
      expect(Array.from(ok.y.data as Float32Array)).toEqual(new Array(24).fill(0));
      await expect(session.run({ x: new ort.Tensor('float32', new Float32Array(12), [1, 3, 4]) })).rejects.toThrow(/dimension|shape/i);
    } finally {
      await session.release();
    }
    expect(() => setInputShape(graph, 'nope', [1])).toThrow(/"nope": no such graph input[^]*Fix: use one of: x/);
  });
});

describe('tensor values', () => {
  it('reads values from raw_data and from every typed field', () => {
    expect(tensorToArray({ dataType: DataType.FLOAT, dims: [2], floatData: new Float32Array([1, -2]) })).toEqual(new Float32Array([1, -2]));
    expect(tensorToArray({ dataType: DataType.FLOAT16, dims: [2], int32Data: new Int32Array([0x3c00, 0xc000]) })).toEqual(new Uint16Array([0x3c00, 0xc000]));
    expect(tensorToFloat32({ dataType: DataType.FLOAT16, dims: [2], int32Data: new Int32Array([0x3c00, 0xc000]) })).toEqual(new Float32Array([1, -2]));
    expect(tensorToArray({ dataType: DataType.INT8, dims: [2], int32Data: new Int32Array([-5, 7]) })).toEqual(new Int8Array([-5, 7]));
    expect(tensorToArray({ dataType: DataType.INT64, dims: [2], int64Data: new BigInt64Array([-1n, 2n ** 62n]) })).toEqual(new BigInt64Array([-1n, 2n ** 62n]));
    expect(tensorToArray({ dataType: DataType.UINT32, dims: [1], uint64Data: new BigUint64Array([4294967295n]) })).toEqual(new Uint32Array([4294967295]));
    expect(tensorToArray({ dataType: DataType.DOUBLE, dims: [1], doubleData: new Float64Array([Math.E]) })).toEqual(new Float64Array([Math.E]));
    expect(tensorToArray({ dataType: DataType.INT4, dims: [3], int32Data: new Int32Array([0x21, 0x03]) })).toEqual(new Uint8Array([0x21, 0x03]));
    const raw = tensorFromArray('w', new Float32Array([0.5, 2]), [2]);
    expect(tensorToFloat32(raw)).toEqual(new Float32Array([0.5, 2]));
    // Decoded raw_data sits at an arbitrary offset of the file buffer; the copy is aligned.
    const unaligned = { ...raw, rawData: new Uint8Array([0, ...raw.rawData!]).subarray(1) };
    expect(tensorToFloat32(unaligned)).toEqual(new Float32Array([0.5, 2]));
  });

  it('builds raw_data tensors and names the tensor when sizes disagree', () => {
    expect(tensorFromArray('h', new Uint16Array([0x3c00]), [1])).toMatchObject({ dataType: DataType.FLOAT16, dims: [1] });
    expect(tensorFromArray('b', new Uint8Array([1, 0]), [2], 'bool')).toMatchObject({ dataType: DataType.BOOL });
    expect(tensorFromArray('q', new Uint8Array([0x21, 0x03]), [3], 'int4').rawData).toEqual(new Uint8Array([0x21, 0x03]));
    expect(() => tensorFromArray('w', new Float32Array(3), [2, 2])).toThrow(/"w": has 12 bytes of data but dims \[2, 2\] of float32 need 16/);
    expect(() => tensorFromArray('w', new Float32Array(2), [2], 'int64')).toThrow(/"w": a Float32Array cannot hold int64 values/);
    expect(() => tensorToArray({ name: 'bad', dataType: DataType.FLOAT, dims: [3], rawData: new Uint8Array(8) })).toThrow(/"bad": holds 8 bytes, but dims \[3\] of float32 need 12/);
  });

  it('converts float16 and bfloat16 with round-to-nearest-even', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-Infinity, 0xfc00],
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [0.1, 0x2e66], [-0, 0x8000],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
    ];
    expect(cases.map(([value]) => float32ToFloat16Bits(value))).toEqual(cases.map(([, bits]) => bits));
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(NaN)))).toBe(true);
    const notRoundTripping: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (!isNaN && float32ToFloat16Bits(float16BitsToFloat32(bits)) !== bits) notRoundTripping.push(bits);
    }
    expect(notRoundTripping).toEqual([]);
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(bfloat16BitsToFloat32(float32ToBfloat16Bits(Math.PI))).toBeCloseTo(3.140625, 6);
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // a tie rounds to the even mantissa
  });

  it('supports a FLOAT attribute that holds a whole number via attr.float', () => {
    const b = new GraphBuilder('leaky');
    const x = b.input('x', 'float32', [2]);
    b.node('LeakyRelu', [x], { alpha: attr.float(2) }, { outputs: ['y'] });
    b.output('y', 'float32', [2]);
    expect(decodeModel(b.toBytes()).graph!.node![0].attribute![0]).toMatchObject({ type: 1, f: 2 });
  });
});
