/**
 * The MatMul and Gemm nodes of a graph whose weight (input B) is a constant float32 initializer:
 * what weight quantization (dynamic int8, 4-bit MatMulNBits) rewrites. Shared by both quantizers:
 * discovery with the reasons nodes are left alone, the rewrite around each quantizer's own nodes
 * (the weight as a [K, N] matrix, quantized once per weight; the Gemm epilogue, alpha and beta·C),
 * and the rounding rule.
 */
import { DataType } from './data-types';
import {
  findInitializer,
  getAttribute,
  initializersByName,
  intAttribute,
  isDefaultDomain,
  nameGenerator,
  unreadNames,
  tensorFromArray,
  tensorToFloat32,
  topologicalOrder,
} from './graph';
import type { GraphProto, NodeProto, TensorProto } from './messages';

/**
 * Default smallest weight worth quantizing, in elements (K·N). Below it the weight is a few KB,
 * the MatMul is dominated by fixed costs (quantizing the activations, kernel launch), and the
 * rounding error is not paid back; onnxruntime's quantize_dynamic has no such threshold.
 */
export const DEFAULT_MIN_WEIGHT_ELEMENTS = 1024;

export interface WeightMatMul {
  node: NodeProto;
  /** Input A: the activation. */
  activation: string;
  /** The initializer holding B. */
  weight: TensorProto;
  /** Rows of the [K, N] weight: the reduction size. */
  k: number;
  /** Columns: the output features. */
  n: number;
  /** Gemm with transB = 1: the initializer is stored [N, K]. */
  transposed: boolean;
  /** Gemm only: alpha, and beta·C added after the product. */
  alpha: number;
  beta: number;
  bias?: string;
}

interface WeightMatMulScan {
  /** Nodes to quantize, in topological order. */
  found: WeightMatMul[];
  /** How many MatMul and Gemm nodes the graph has, quantizable or not. */
  total: number;
  /** Why the others are left alone, with how many each. */
  skipped: Record<string, number>;
}

export interface WeightMatMulOptions {
  /** Weights with fewer elements are left in float32. Default DEFAULT_MIN_WEIGHT_ELEMENTS. */
  minWeightElements?: number;
  /** Node names never quantized. */
  nodesToExclude?: readonly string[];
}

/** Finds the nodes to quantize; `order` is the graph's topological order. */
function findWeightMatMuls(graph: GraphProto, options: WeightMatMulOptions, order: readonly NodeProto[]): WeightMatMulScan {
  const minElements = options.minWeightElements ?? DEFAULT_MIN_WEIGHT_ELEMENTS;
  const excluded = new Set(options.nodesToExclude ?? []);
  const graphInputs = new Set((graph.input ?? []).map((input) => input.name));
  const initializers = initializersByName(graph);
  const scan: WeightMatMulScan = { found: [], total: 0, skipped: {} };
  const skip = (reason: string): void => {
    scan.skipped[reason] = (scan.skipped[reason] ?? 0) + 1;
  };
  for (const node of order) {
    const op = node.opType;
    if (!isDefaultDomain(node.domain) || (op !== 'MatMul' && op !== 'Gemm')) continue;
    scan.total++;
    const [activation, weightName, bias] = node.input ?? [];
    const weight = weightName && !graphInputs.has(weightName) ? initializers.get(weightName) : undefined;
    if (node.name && excluded.has(node.name)) skip('excluded by name');
    else if (!weight) skip('B is not a constant initializer');
    else if (weight.dataType !== DataType.FLOAT) skip('B is not float32');
    else if (weight.dims?.length !== 2) skip('B is not 2-D');
    else if (op === 'Gemm' && (intAttribute(node, 'transA') ?? 0) !== 0) skip('Gemm with transA');
    else if (weight.dims[0] * weight.dims[1] < minElements) skip(`B under ${minElements} elements`);
    else {
      const transposed = op === 'Gemm' && (intAttribute(node, 'transB') ?? 0) !== 0;
      const [rows, columns] = weight.dims;
      scan.found.push({
        node,
        activation,
        weight,
        k: transposed ? columns : rows,
        n: transposed ? rows : columns,
        transposed,
        alpha: op === 'Gemm' ? floatAttribute(node, 'alpha', 1) : 1,
        beta: op === 'Gemm' ? floatAttribute(node, 'beta', 1) : 1,
        bias: op === 'Gemm' && bias ? bias : undefined,
      });
    }
  }
  return scan;
}

/** "quantized 24 of 26 MatMul/Gemm (left: 2: B under 1024 elements)". */
function scanSummary(scan: WeightMatMulScan): string {
  const reasons = Object.entries(scan.skipped).map(([reason, n]) => `${n}: ${reason}`);
  return `quantized ${scan.found.length} of ${scan.total} MatMul/Gemm${reasons.length ? ` (left: ${reasons.join('; ')})` : ''}`;
}

/** Why nothing was quantized, for notApplicable. */
function nothingToQuantize(scan: WeightMatMulScan): string {
  if (scan.total === 0) return 'the model has no MatMul or Gemm node';
  return `none of its ${scan.total} MatMul/Gemm nodes has a quantizable weight (${Object.entries(scan.skipped).map(([reason, n]) => `${n}: ${reason}`).join('; ')})`;
}

/** A quantizer's part of the rewrite; rewriteWeightMatMuls calls it in this order for each node. */
export interface WeightMatMulRewriter<W> {
  /** Nodes placed before the node's own (dynamic int8: the activation's quantizer). */
  before?(target: WeightMatMul, fresh: (base: string) => string): NodeProto[];
  /** The quantized weight and its initializers: called once per weight initializer (and transposition). */
  quantize(target: WeightMatMul, matrix: Float32Array, fresh: (base: string) => string): { weight: W; initializers: TensorProto[] };
  /** The nodes computing A·B into `product`. */
  product(target: WeightMatMul, weight: W, product: string, fresh: (base: string) => string): NodeProto[];
}

/**
 * The rewrite both quantizers share: each quantizable node, in topological order, becomes the
 * rewriter's nodes followed by Gemm's epilogue; the float32 weights nothing reads any more are
 * dropped. `modelDir` is where external tensors are (readModel's directory). Returns the new graph
 * with a summary of what was quantized and how many weights, or why nothing applies.
 */
export function rewriteWeightMatMuls<W>(
  graph: GraphProto,
  options: WeightMatMulOptions,
  modelDir: string | undefined,
  rewriter: WeightMatMulRewriter<W>,
): { graph: GraphProto; summary: string; weights: number } | { notApplicable: string } {
  const order = topologicalOrder(graph);
  const scan = findWeightMatMuls(graph, options, order);
  if (scan.found.length === 0) return { notApplicable: nothingToQuantize(scan) };
  const fresh = nameGenerator(graph);
  const targets = new Map(scan.found.map((target) => [target.node, target]));
  const weights = new Map<string, W>();
  const initializers: TensorProto[] = [];
  const nodes: NodeProto[] = [];
  for (const node of order) {
    const target = targets.get(node);
    if (!target) {
      nodes.push(node);
      continue;
    }
    if (rewriter.before) nodes.push(...rewriter.before(target, fresh));
    // A weight shared by several nodes is quantized once.
    const key = `${target.weight.name}${target.transposed ? ':T' : ''}`;
    let weight = weights.get(key);
    if (weight === undefined) {
      const quantized = rewriter.quantize(target, weightMatrix(target, modelDir), fresh);
      weight = quantized.weight;
      initializers.push(...quantized.initializers);
      weights.set(key, weight);
    }
    const epilogue = gemmEpilogue(target, graph, fresh, modelDir);
    nodes.push(...rewriter.product(target, weight, epilogue.product, fresh), ...epilogue.nodes);
    initializers.push(...epilogue.initializers);
  }
  const kept = withoutUnusedInitializers({ ...graph, node: nodes }, scan.found.flatMap((target) => target.node.input ?? []));
  return { graph: { ...graph, node: nodes, initializer: [...kept, ...initializers] }, summary: scanSummary(scan), weights: weights.size };
}

/** The weight as a row-major [K, N] float32 matrix (Gemm's transB undone). */
function weightMatrix(target: WeightMatMul, modelDir?: string): Float32Array {
  const values = tensorToFloat32(target.weight, modelDir);
  if (!target.transposed) return values;
  const { k, n } = target;
  const matrix = new Float32Array(k * n);
  for (let row = 0; row < n; row++) for (let col = 0; col < k; col++) matrix[col * n + row] = values[row * k + col];
  return matrix;
}

/**
 * Gemm's epilogue after the product A·B: Y = alpha·(A·B) + beta·C. Returns the name the product
 * must be written to, and the nodes and initializers that turn it into the node's output.
 * MatMul (and Gemm with alpha 1, no C) write their output directly.
 */
function gemmEpilogue(
  target: WeightMatMul,
  graph: GraphProto,
  fresh: (base: string) => string,
  modelDir?: string,
): { product: string; nodes: NodeProto[]; initializers: TensorProto[] } {
  const output = target.node.output![0];
  const base = target.node.name || output;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  if (target.alpha === 1 && (target.bias === undefined || target.beta === 0)) return { product: output, nodes, initializers };
  const product = fresh(`${output}_product`);
  let scaled = product;
  if (target.alpha !== 1) {
    const alpha = fresh(`${base}_alpha`);
    initializers.push(tensorFromArray(alpha, new Float32Array([target.alpha]), [], 'float32'));
    scaled = target.bias === undefined || target.beta === 0 ? output : fresh(`${output}_scaled`);
    nodes.push({ input: [product, alpha], output: [scaled], name: fresh(`${base}_alpha_mul`), opType: 'Mul' });
  }
  if (target.bias !== undefined && target.beta !== 0) {
    let bias = target.bias;
    if (target.beta !== 1) {
      const constant = findInitializer(graph, bias);
      if (constant && constant.dataType === DataType.FLOAT) {
        const values = tensorToFloat32(constant, modelDir).map((v) => v * target.beta);
        bias = fresh(`${bias}_beta`);
        initializers.push(tensorFromArray(bias, values, constant.dims ?? [], 'float32'));
      } else {
        const beta = fresh(`${base}_beta`);
        initializers.push(tensorFromArray(beta, new Float32Array([target.beta]), [], 'float32'));
        const scaledBias = fresh(`${bias}_beta`);
        nodes.push({ input: [bias, beta], output: [scaledBias], name: fresh(`${base}_beta_mul`), opType: 'Mul' });
        bias = scaledBias;
      }
    }
    nodes.push({ input: [scaled, bias], output: [output], name: fresh(`${base}_bias_add`), opType: 'Add' });
  }
  return { product, nodes, initializers };
}

/** Round half to even, as numpy's round (which onnxruntime's quantizers use). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Drops initializers among `candidates` that no node (of the graph or its subgraphs) and no graph output reads any more. */
function withoutUnusedInitializers(graph: GraphProto, candidates: Iterable<string>): TensorProto[] {
  const unused = unreadNames(graph, candidates);
  return (graph.initializer ?? []).filter((tensor) => !unused.has(tensor.name ?? ''));
}

function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  return getAttribute(node, name)?.f ?? fallback;
}

