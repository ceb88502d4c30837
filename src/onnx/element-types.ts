/**
 * Element types of a graph's tensors without full shape inference: a forward pass over the nodes
 * with a table of how each op's output types follow from its inputs and attributes.
 *
 * Declared types win: graph inputs, initializers, value_info and graph outputs are taken as they
 * are written. Every other node output gets its op's rule; ops not in the tables give each output
 * the type of their first input whose type is known, which holds for elementwise math, data
 * movement (Reshape, Gather, Slice, Concat, ...) and the com.microsoft fusions. Values that are not
 * tensors (sequences, optionals, maps) get NON_TENSOR. A name missing from the result has an
 * unknown type.
 */
import { DataType } from './data-types';
import { getAttribute, intAttribute, isDefaultDomain, subgraphsOf, topologicalOrder } from './graph';
import type { GraphProto, NodeProto, TypeProto } from './messages';

/** The type given to values that are not tensors (sequences, maps, optionals). */
export const NON_TENSOR = -1;

type Rule = (node: NodeProto, inputs: (number | undefined)[]) => (number | undefined)[];

const all = (type: number | undefined): Rule => (node) => (node.output ?? []).map(() => type);
const attributeOr = (name: string, fallback: (inputs: (number | undefined)[]) => number | undefined): Rule => (node, inputs) =>
  all(intAttribute(node, name) ?? fallback(inputs))(node, inputs);
const firstThen = (...rest: number[]): Rule => (_node, inputs) => [inputs[0], ...rest];

const SEQUENCE_OPS = [
  'SequenceConstruct', 'SequenceEmpty', 'SequenceInsert', 'SequenceErase', 'SplitToSequence', 'SequenceMap',
  'Optional', 'OptionalGetElement', 'ZipMap',
];

/** Default-domain (and com.microsoft) ops whose outputs do not simply follow their first input. */
const RULES: Record<string, Rule> = {
  Cast: attributeOr('to', () => undefined),
  CastLike: (node, inputs) => all(inputs[1])(node, inputs),
  Constant: (node) => [constantType(node)],
  ConstantOfShape: (node) => [getAttribute(node, 'value')?.t?.dataType ?? DataType.FLOAT],
  EyeLike: attributeOr('dtype', (inputs) => inputs[0]),
  RandomNormalLike: attributeOr('dtype', (inputs) => inputs[0]),
  RandomUniformLike: attributeOr('dtype', (inputs) => inputs[0]),
  Bernoulli: attributeOr('dtype', (inputs) => inputs[0]),
  RandomNormal: attributeOr('dtype', () => DataType.FLOAT),
  RandomUniform: attributeOr('dtype', () => DataType.FLOAT),
  Multinomial: attributeOr('dtype', () => DataType.INT32),
  HannWindow: attributeOr('output_datatype', () => DataType.FLOAT),
  HammingWindow: attributeOr('output_datatype', () => DataType.FLOAT),
  BlackmanWindow: attributeOr('output_datatype', () => DataType.FLOAT),
  MelWeightMatrix: attributeOr('output_datatype', () => DataType.FLOAT),
  Shape: all(DataType.INT64),
  Size: all(DataType.INT64),
  NonZero: all(DataType.INT64),
  ArgMax: all(DataType.INT64),
  ArgMin: all(DataType.INT64),
  NonMaxSuppression: all(DataType.INT64),
  SequenceLength: all(DataType.INT64),
  Equal: all(DataType.BOOL), Less: all(DataType.BOOL), Greater: all(DataType.BOOL),
  LessOrEqual: all(DataType.BOOL), GreaterOrEqual: all(DataType.BOOL),
  And: all(DataType.BOOL), Or: all(DataType.BOOL), Xor: all(DataType.BOOL), Not: all(DataType.BOOL),
  IsNaN: all(DataType.BOOL), IsInf: all(DataType.BOOL), RegexFullMatch: all(DataType.BOOL),
  TfIdfVectorizer: all(DataType.FLOAT),
  ImageDecoder: all(DataType.UINT8),
  StringSplit: () => [DataType.STRING, DataType.INT64],
  TopK: firstThen(DataType.INT64),
  MaxPool: firstThen(DataType.INT64),
  Dropout: firstThen(DataType.BOOL),
  Unique: firstThen(DataType.INT64, DataType.INT64, DataType.INT64),
  Where: (node, inputs) => all(inputs[1] ?? inputs[2])(node, inputs),
  OneHot: (node, inputs) => all(inputs[2])(node, inputs),
  // Mean and InvStdDev use stash_type (float by default), not the input's type.
  LayerNormalization: (_node, inputs) => [inputs[0], DataType.FLOAT, DataType.FLOAT],
  DynamicQuantizeLinear: () => [DataType.UINT8, DataType.FLOAT, DataType.UINT8],
  QuantizeLinear: (node, inputs) => [inputs[2] ?? intAttribute(node, 'output_dtype') ?? DataType.UINT8],
  DequantizeLinear: (_node, inputs) => [inputs[1]],
  MatMulInteger: all(DataType.INT32),
  ConvInteger: all(DataType.INT32),
  QLinearMatMul: (node, inputs) => all(inputs[7])(node, inputs),
  QLinearConv: (node, inputs) => all(inputs[7])(node, inputs),
  ConcatFromSequence: all(undefined),
  SequenceAt: all(undefined),
  // com.microsoft
  DynamicQuantizeMatMul: all(DataType.FLOAT),
  MatMulIntegerToFloat: (node, inputs) => all(inputs[2])(node, inputs),
  EmbedLayerNormalization: (_node, inputs) => [inputs[2], DataType.INT32, inputs[2]],
  SkipLayerNormalization: (_node, inputs) => [inputs[0], DataType.FLOAT, DataType.FLOAT, inputs[0]],
  SimplifiedLayerNormalization: (_node, inputs) => [inputs[0], DataType.FLOAT],
  SkipSimplifiedLayerNormalization: (_node, inputs) => [inputs[0], DataType.FLOAT, DataType.FLOAT, inputs[0]],
};
for (const op of SEQUENCE_OPS) RULES[op] = all(NON_TENSOR);

/**
 * The element type (a DataType code) of every tensor name the graph defines or reads, subgraphs
 * excluded; `outer` gives the types of names visible from enclosing graphs. `order` is the graph's
 * topological order when the caller has it already.
 */
export function inferElementTypes(graph: GraphProto, outer: ReadonlyMap<string, number> = new Map(), order?: readonly NodeProto[]): Map<string, number> {
  const types = new Map(outer);
  const declared = new Map<string, number>();
  for (const info of [...(graph.valueInfo ?? []), ...(graph.output ?? []), ...(graph.input ?? [])]) {
    const type = typeProtoElementType(info.type);
    if (info.name && type !== undefined) declared.set(info.name, type);
  }
  for (const input of graph.input ?? []) if (input.name && declared.has(input.name)) types.set(input.name, declared.get(input.name)!);
  for (const tensor of graph.initializer ?? []) if (tensor.name && tensor.dataType) types.set(tensor.name, tensor.dataType);
  for (const sparse of graph.sparseInitializer ?? []) if (sparse.values?.name && sparse.values.dataType) types.set(sparse.values.name, sparse.values.dataType);

  for (const node of order ?? topologicalOrder(graph, types.keys())) {
    const inputs = (node.input ?? []).map((name) => (name ? types.get(name) : undefined));
    const inferred = nodeOutputTypes(node, inputs);
    (node.output ?? []).forEach((name, index) => {
      if (!name) return;
      const type = declared.get(name) ?? inferred[index];
      if (type !== undefined) types.set(name, type);
    });
  }
  return types;
}

/** The element type of a TypeProto: the tensor's elem_type, NON_TENSOR for other values, undefined if absent. */
function typeProtoElementType(type: TypeProto | undefined): number | undefined {
  if (!type) return undefined;
  if (type.tensorType) return type.tensorType.elemType || undefined;
  if (type.sequenceType || type.mapType || type.optionalType || type.opaqueType || type.sparseTensorType) return NON_TENSOR;
  return undefined;
}

function nodeOutputTypes(node: NodeProto, inputs: (number | undefined)[]): (number | undefined)[] {
  const op = node.opType ?? '';
  const known = isDefaultDomain(node.domain) || node.domain === 'com.microsoft';
  const rule = known ? RULES[op] : undefined;
  if (rule) return rule(node, inputs);
  const bodies = subgraphsOf(node);
  if (bodies.length > 0 && isDefaultDomain(node.domain)) return controlFlowOutputTypes(node, bodies[0]);
  if (!known) return (node.output ?? []).map(() => undefined);
  const first = inputs.find((type) => type !== undefined);
  return (node.output ?? []).map(() => first);
}

/**
 * If: the then-branch's outputs. Loop: the body's outputs after its condition. Scan: the body's
 * outputs (scan outputs are stacked, same element type).
 */
function controlFlowOutputTypes(node: NodeProto, body: GraphProto): (number | undefined)[] {
  const bodyOutputs = (body.output ?? []).map((info) => typeProtoElementType(info.type));
  const skip = node.opType === 'Loop' ? 1 : 0;
  return (node.output ?? []).map((_, index) => bodyOutputs[index + skip]);
}

function constantType(node: NodeProto): number | undefined {
  for (const attribute of node.attribute ?? []) {
    switch (attribute.name) {
      case 'value': return attribute.t?.dataType;
      case 'sparse_value': return attribute.sparseTensor?.values?.dataType;
      case 'value_float': case 'value_floats': return DataType.FLOAT;
      case 'value_int': case 'value_ints': return DataType.INT64;
      case 'value_string': case 'value_strings': return DataType.STRING;
    }
  }
  return undefined;
}
