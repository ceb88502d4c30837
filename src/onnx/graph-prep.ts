/**
 * Graph preparation before weight-based rewrites (static int8): real exports (Paddle2ONNX, older
 * PyTorch at opset 9-11) keep weights in Constant nodes and leave BatchNormalization unfolded, so a
 * rewrite that looks for Conv weights among the initializers would find none.
 *
 * - foldConstants: Constant nodes of the main graph become initializers of the same name.
 * - foldBatchNorms: Conv → BatchNormalization (inference, the Conv's only reader) becomes one Conv
 *   with W' = W·γ/√(σ²+ε) per output channel and b' = (b − μ)·γ/√(σ²+ε) + β.
 * Both change the graph they are given and return how many nodes they folded.
 */
import { DataType } from './data-types';
import { consumers, getAttribute, initializersByName, intAttribute, nameGenerator, producers, tensorFromArray, tensorToFloat32, unreadNames } from './graph';
import type { GraphProto, NodeProto, TensorProto } from './messages';

/** Constant's value attributes other than `value` (a tensor), with the tensor each makes. */
const SCALAR_CONSTANTS: Record<string, (name: string, node: NodeProto) => TensorProto | undefined> = {
  value_float: (name, node) => tensorFromArray(name, Float32Array.of(getAttribute(node, 'value_float')!.f ?? 0), [], 'float32'),
  value_floats: (name, node) => {
    const values = getAttribute(node, 'value_floats')!.floats ?? [];
    return tensorFromArray(name, Float32Array.from(values), [values.length], 'float32');
  },
  value_int: (name, node) => tensorFromArray(name, BigInt64Array.of(BigInt(getAttribute(node, 'value_int')!.i ?? 0)), [], 'int64'),
  value_ints: (name, node) => {
    const values = getAttribute(node, 'value_ints')!.ints ?? [];
    return tensorFromArray(name, BigInt64Array.from(values, (v) => BigInt(v)), [values.length], 'int64');
  },
};

export function foldConstants(graph: GraphProto): number {
  const kept: NodeProto[] = [];
  let folded = 0;
  for (const node of graph.node ?? []) {
    const output = node.output?.[0];
    const tensor = node.opType === 'Constant' && !node.domain && output ? constantTensor(node, output) : undefined;
    if (!tensor) {
      kept.push(node);
      continue;
    }
    (graph.initializer ??= []).push(tensor);
    folded++;
  }
  graph.node = kept;
  return folded;
}

function constantTensor(node: NodeProto, name: string): TensorProto | undefined {
  const value = getAttribute(node, 'value')?.t;
  if (value) return { ...value, name };
  for (const [attribute, make] of Object.entries(SCALAR_CONSTANTS)) if (getAttribute(node, attribute)) return make(name, node);
  return undefined; // sparse_value, value_string(s): left as nodes
}

export function foldBatchNorms(graph: GraphProto, modelDir?: string): number {
  const readers = consumers(graph);
  const made = producers(graph);
  const initializers = initializersByName(graph);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name));
  const fresh = nameGenerator(graph);
  const removed = new Set<NodeProto>();
  for (const bn of graph.node ?? []) {
    if (bn.opType !== 'BatchNormalization' || bn.domain || (bn.output ?? []).filter(Boolean).length !== 1) continue;
    if ((intAttribute(bn, 'spatial') ?? 1) !== 1 || (intAttribute(bn, 'training_mode') ?? 0) !== 0) continue;
    const producer = made.get(bn.input?.[0] ?? '');
    const conv = producer?.opType === 'Conv' && !producer.domain ? producer : undefined;
    const convOut = conv?.output?.[0];
    if (!conv || !convOut || graphOutputs.has(convOut) || readers.get(convOut)?.length !== 1) continue;
    const floats = (name: string | undefined) => {
      const tensor = name ? initializers.get(name) : undefined;
      return tensor?.dataType === DataType.FLOAT ? tensorToFloat32(tensor, modelDir) : undefined;
    };
    const weight = floats(conv.input?.[1]);
    const weightDims = initializers.get(conv.input?.[1] ?? '')?.dims;
    const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => floats(bn.input?.[i]));
    if (!weight || !weightDims || !gamma || !beta || !mean || !variance) continue;
    const channels = weightDims[0];
    if ([gamma, beta, mean, variance].some((a) => a.length !== channels)) continue;
    const bias = conv.input?.[2] ? floats(conv.input[2]) : new Float32Array(channels);
    if (!bias || bias.length !== channels) continue;
    const epsilon = getAttribute(bn, 'epsilon')?.f ?? 1e-5;
    const perChannel = weight.length / channels;
    const newWeight = new Float32Array(weight.length);
    const newBias = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      const factor = gamma[c] / Math.sqrt(variance[c] + epsilon);
      for (let i = c * perChannel; i < (c + 1) * perChannel; i++) newWeight[i] = weight[i] * factor;
      newBias[c] = (bias[c] - mean[c]) * factor + beta[c];
    }
    // New initializers: the originals may be shared with other nodes.
    const weightName = fresh(`${conv.input![1]}_bn_folded`);
    const biasName = fresh(`${conv.name || convOut}_bias_bn_folded`);
    graph.initializer!.push(tensorFromArray(weightName, newWeight, weightDims, 'float32'), tensorFromArray(biasName, newBias, [channels], 'float32'));
    conv.input = [conv.input![0], weightName, biasName];
    conv.output = [bn.output![0]];
    removed.add(bn);
  }
  if (removed.size === 0) return 0;
  graph.node = graph.node!.filter((node) => !removed.has(node));
  dropUnusedInitializers(graph);
  return removed.size;
}

/**
 * Removes initializers no node (subgraphs included) reads and no graph output names, and the graph
 * inputs of the same names (models before IR 4 list every initializer among the inputs too).
 */
export function dropUnusedInitializers(graph: GraphProto): void {
  const unused = unreadNames(graph, (graph.initializer ?? []).map((t) => t.name ?? ''));
  graph.initializer = (graph.initializer ?? []).filter((tensor) => !unused.has(tensor.name ?? ''));
  graph.input = (graph.input ?? []).filter((input) => !unused.has(input.name ?? ''));
}
