/**
 * Static QDQ quantization, following onnxruntime's quantize_static (QDQ format) so that its CPU
 * provider fuses DequantizeLinear → op → QuantizeLinear into integer kernels (QLinearConv, QGemm,
 * QLinearAdd, ...):
 *
 * - Weighted ops (Conv, ConvTranspose, MatMul and Gemm with a constant float weight): the weight is
 *   int8, symmetric, per output channel (axis 0 for Conv, 1 for ConvTranspose and MatMul, per
 *   transB for Gemm) or per tensor; the bias int32 at input scale × weight scale; the activation
 *   input and output uint8 per tensor, from the calibrated ranges.
 * - Ops onnxruntime keeps in int8 between them (pooling, Add, Mul, Concat, Resize, Sigmoid,
 *   LeakyRelu, and data movement: Reshape, Flatten, Transpose, Squeeze, Unsqueeze) are quantized
 *   where one of their inputs already comes out of a quantized op; MaxPool and data movement reuse
 *   their input's scale (their values are the input's), as onnxruntime needs to drop their Q/DQ.
 * - A Relu or Clip that is the only reader of a quantized op's output is folded: only its output is
 *   quantized (zero point 0 for Relu), and onnxruntime then removes it, as it does for quantize_static.
 * - Everything else stays float; so do `exclude`d nodes (the accuracy repair's choice).
 */
import { DataType } from './data-types';
import { consumers, getAttribute, initializersByName, intAttr, intAttribute, nameGenerator, opsetVersion, tensorFromArray, tensorToFloat32, topologicalOrder } from './graph';
import type { GraphProto, ModelProto, NodeProto, TensorProto } from './messages';
import type { TensorRange } from './calibrate';
import { dropUnusedInitializers } from './graph-prep';
import { roundHalfEven } from './weight-matmuls';

const BETWEEN_OPS = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'Add', 'Mul', 'Concat', 'Resize', 'Sigmoid', 'LeakyRelu']);
/** Ops whose output holds (a selection of) their input's values: same scale in and out. */
const SAME_SCALE_OPS = new Set(['MaxPool', 'Reshape', 'Flatten', 'Transpose', 'Squeeze', 'Unsqueeze']);
const FOLDABLE_ACTIVATIONS = new Set(['Relu', 'Clip']);

export interface WeightUse {
  node: NodeProto;
  weight: TensorProto;
  /** The axis of output channels; undefined quantizes the weight per tensor. */
  axis?: number;
  bias?: TensorProto;
}

export interface StaticPlan {
  /** The nodes run in int8 (folded Relu/Clip not counted), in topological order. */
  nodes: NodeProto[];
  /** Activation tensors given QuantizeLinear → DequantizeLinear. */
  activations: string[];
  /** Float initializers read by quantized between-ops (Add's other operand, ...): quantized offline per tensor. */
  constants: Map<NodeProto, TensorProto[]>;
  /** Tensor → the tensor whose scale it reuses. */
  sameScale: Map<string, string>;
  weights: WeightUse[];
  /** Per quantized node (by name): the tensor whose int8 error is its output's (after a folded Relu, that one's). */
  measured: Map<string, string>;
  folded: number;
}

export interface StaticQuantizationOptions {
  /** Weights per output channel (needs opset 13). */
  perChannel: boolean;
  /** 7-bit weights ([-64, 64]), for CPUs whose u8×s8 dot products saturate (AVX2 without VNNI). */
  reduceRange: boolean;
  /**
   * 'uint8': asymmetric activations and int32 biases, what onnxruntime's CPU kernels take (u8s8).
   * 'int8': symmetric activations (zero point 0) and float biases, what TensorRT takes.
   */
  activations: 'uint8' | 'int8';
  /** Directory external tensors are relative to. */
  modelDir?: string;
}

/** Which nodes and tensors to quantize; nodes named in `exclude` stay float. Nodes must be named. */
export function planStaticQuantization(graph: GraphProto, exclude: ReadonlySet<string>, perChannel: boolean): StaticPlan | { notApplicable: string } {
  const initializers = initializersByName(graph);
  const readers = consumers(graph);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name));
  const floatInit = (name: string | undefined) => {
    const tensor = name ? initializers.get(name) : undefined;
    return tensor?.dataType === DataType.FLOAT ? tensor : undefined;
  };
  const plan: StaticPlan = { nodes: [], activations: [], constants: new Map(), sameScale: new Map(), weights: [], measured: new Map(), folded: 0 };
  const activations = new Set<string>();
  const int8 = new Set<string>();
  const quantizeOutput = (node: NodeProto, sameScaleAs?: string): void => {
    const output = node.output![0];
    const readBy = readers.get(output) ?? [];
    const activation = readBy.length === 1 && !graphOutputs.has(output) && FOLDABLE_ACTIVATIONS.has(readBy[0].opType ?? '') && !readBy[0].domain && !exclude.has(readBy[0].name!) && clipBoundsConstant(readBy[0], initializers)
      ? readBy[0]
      : undefined;
    const tensor = activation ? activation.output![0] : output;
    if (activation) plan.folded++;
    else if (sameScaleAs) plan.sameScale.set(tensor, sameScaleAs);
    plan.measured.set(node.name!, tensor);
    int8.add(tensor);
    if ((readers.get(tensor) ?? []).length > 0) activations.add(tensor);
  };

  for (const node of topologicalOrder(graph)) {
    if (node.domain || !node.name || exclude.has(node.name) || (node.output ?? []).filter(Boolean).length !== 1) continue;
    const weighted = weightUse(node, floatInit, perChannel);
    if (weighted) {
      if (initializers.has(node.input![0])) continue;
      activations.add(node.input![0]);
      plan.weights.push(weighted);
      plan.nodes.push(node);
      quantizeOutput(node);
      continue;
    }
    const op = node.opType ?? '';
    if (!BETWEEN_OPS.has(op) && !SAME_SCALE_OPS.has(op)) continue;
    const data = (op === 'Concat' ? node.input! : op === 'Add' || op === 'Mul' ? node.input!.slice(0, 2) : node.input!.slice(0, 1)).filter(Boolean);
    if (!data.some((name) => int8.has(name))) continue;
    const constants = data.filter((name) => initializers.has(name));
    if (constants.some((name) => !floatInit(name))) continue;
    data.filter((name) => !initializers.has(name)).forEach((name) => activations.add(name));
    if (constants.length) plan.constants.set(node, constants.map((name) => initializers.get(name)!));
    plan.nodes.push(node);
    quantizeOutput(node, SAME_SCALE_OPS.has(op) ? data[0] : undefined);
  }
  plan.activations = [...activations];
  if (plan.weights.length === 0) return { notApplicable: noWeightedOpReason(graph) };
  return plan;
}

function noWeightedOpReason(graph: GraphProto): string {
  const ops = (graph.node ?? []).filter((n) => !n.domain && ['Conv', 'ConvTranspose', 'MatMul', 'Gemm'].includes(n.opType ?? ''));
  if (ops.length === 0) return 'the model has no Conv, ConvTranspose, MatMul or Gemm node, the ops that run in int8';
  return `none of its ${ops.length} Conv/ConvTranspose/MatMul/Gemm nodes has a constant float32 weight (and a non-constant input) to quantize`;
}

/** Relu always folds; Clip only with constant bounds (attributes before opset 11, initializers after). */
function clipBoundsConstant(node: NodeProto, initializers: Map<string, TensorProto>): boolean {
  if (node.opType !== 'Clip') return true;
  return (node.input ?? []).slice(1).every((name) => !name || initializers.has(name));
}

function weightUse(node: NodeProto, floatInit: (name: string | undefined) => TensorProto | undefined, perChannel: boolean): WeightUse | undefined {
  const weight = floatInit(node.input?.[1]);
  const dims = weight?.dims ?? [];
  if (!weight) return undefined;
  const biasOf = (channels: number) => {
    const bias = floatInit(node.input?.[2]);
    return bias && bias.dims?.length === 1 && bias.dims[0] === channels ? bias : undefined;
  };
  const axisIf = (axis: number) => (perChannel ? axis : undefined);
  switch (node.opType) {
    case 'Conv':
      return dims.length >= 3 ? { node, weight, axis: axisIf(0), bias: biasOf(dims[0]) } : undefined;
    case 'ConvTranspose': {
      // Output channels are dims[1] · group; per channel only where that is one axis (group 1).
      const group = intAttribute(node, 'group') ?? 1;
      return dims.length >= 3 ? { node, weight, axis: group === 1 ? axisIf(1) : undefined, bias: group === 1 ? biasOf(dims[1]) : undefined } : undefined;
    }
    case 'MatMul':
      return dims.length === 2 ? { node, weight, axis: axisIf(1) } : undefined;
    case 'Gemm': {
      if (dims.length !== 2 || (intAttribute(node, 'transA') ?? 0) !== 0) return undefined;
      const transB = (intAttribute(node, 'transB') ?? 0) !== 0;
      // An int32 bias is added as is: only where Gemm adds C unscaled to the unscaled product.
      const plain = (getAttribute(node, 'alpha')?.f ?? 1) === 1 && (getAttribute(node, 'beta')?.f ?? 1) === 1;
      return { node, weight, axis: axisIf(transB ? 0 : 1), bias: plain ? biasOf(transB ? dims[0] : dims[1]) : undefined };
    }
    default:
      return undefined;
  }
}

interface QuantParams {
  scale: number;
  zeroPoint: number;
}

/**
 * uint8, asymmetric, over the range widened to include 0 (as onnxruntime computes activation
 * scales); or int8 symmetric over ±max |x|.
 */
function activationParams(range: TensorRange, type: 'uint8' | 'int8' = 'uint8'): QuantParams {
  if (type === 'int8') {
    const scale = Math.fround(Math.max(-range.min, range.max) / 127);
    return { scale: scale > 0 && Number.isFinite(scale) ? scale : 1, zeroPoint: 0 };
  }
  const low = Math.min(range.min, 0);
  const high = Math.max(range.max, 0);
  const scale = Math.fround((high - low) / 255);
  if (!(scale > 0) || !Number.isFinite(scale)) return { scale: 1, zeroPoint: 0 };
  return { scale, zeroPoint: Math.min(255, Math.max(0, roundHalfEven(-low / scale))) };
}

/**
 * The model with Q/DQ pairs per `plan` and `ranges` (the graph is replaced, not edited), and the
 * name of each quantized activation's DequantizeLinear output. Tensors without a range (never
 * computed on the calibration calls) stay float.
 */
export function applyStaticQuantization(
  model: ModelProto,
  plan: StaticPlan,
  ranges: ReadonlyMap<string, TensorRange>,
  options: StaticQuantizationOptions,
): { model: ModelProto; dequantized: Map<string, string> } {
  const graph = model.graph!;
  const fresh = nameGenerator(graph);
  const newInitializers: TensorProto[] = [];
  const params = new Map<string, QuantParams>();
  for (const name of plan.activations) {
    const range = ranges.get(name);
    if (range) params.set(name, activationParams(range, options.activations));
  }
  for (const [tensor, source] of plan.sameScale) {
    const reused = params.get(source);
    if (reused && params.has(tensor)) params.set(tensor, reused);
  }

  // Activations: Q → DQ right after the producer (graph inputs: first); readers read the DQ output.
  const renamed = new Map<string, string>();
  const pairsAfter = new Map<string, NodeProto[]>();
  const zeroPointOf = (value: number) => (options.activations === 'int8' ? Int8Array.of(value) : Uint8Array.of(value));
  const scalar = (base: string, value: number, dtype: 'float32' | 'zero point') => {
    const name = fresh(base);
    newInitializers.push(tensorFromArray(name, dtype === 'float32' ? Float32Array.of(value) : zeroPointOf(value), [], dtype === 'float32' ? 'float32' : options.activations));
    return name;
  };
  for (const [tensor, p] of params) {
    const scale = scalar(`${tensor}_scale`, p.scale, 'float32');
    const zeroPoint = scalar(`${tensor}_zero_point`, p.zeroPoint, 'zero point');
    const quantized = fresh(`${tensor}_QuantizeLinear_Output`);
    const dequantized = fresh(`${tensor}_DequantizeLinear_Output`);
    pairsAfter.set(tensor, [
      { input: [tensor, scale, zeroPoint], output: [quantized], name: fresh(`${tensor}_QuantizeLinear`), opType: 'QuantizeLinear' },
      { input: [quantized, scale, zeroPoint], output: [dequantized], name: fresh(`${tensor}_DequantizeLinear`), opType: 'DequantizeLinear' },
    ]);
    renamed.set(tensor, dequantized);
  }

  // Weights, biases and constant operands: quantized here, each read through a DequantizeLinear.
  const before = new Map<NodeProto, NodeProto[]>();
  const dequantize = (node: NodeProto, index: number, values: TensorProto, scales: Float32Array, zeroPoints: TensorProto, quantized: TensorProto, axis?: number) => {
    const scaleName = fresh(`${values.name}_scale`);
    newInitializers.push(quantized, zeroPoints, tensorFromArray(scaleName, scales, scales.length === 1 && axis === undefined ? [] : [scales.length], 'float32'));
    const output = fresh(`${values.name}_DequantizeLinear_Output`);
    const dq: NodeProto = { input: [quantized.name!, scaleName, zeroPoints.name!], output: [output], name: fresh(`${values.name}_DequantizeLinear`), opType: 'DequantizeLinear' };
    if (axis !== undefined) dq.attribute = [intAttr('axis', axis)];
    (before.get(node) ?? before.set(node, []).get(node)!).push(dq);
    inputs.get(node)![index] = output;
  };
  // The plan's nodes are the caller's: their new inputs are collected here, not written into them.
  const inputs = new Map<NodeProto, string[]>(plan.nodes.map((node) => [node, [...node.input!]]));
  for (const use of plan.weights) {
    const xParams = params.get(use.node.input![0]);
    const values = tensorToFloat32(use.weight, options.modelDir);
    const dims = use.weight.dims!;
    const w = quantizeWeightPerChannel(values, dims, use.axis, options.reduceRange);
    const axisParam = use.axis === undefined ? [] : [w.scales.length];
    dequantize(use.node, 1, use.weight, w.scales, tensorFromArray(fresh(`${use.weight.name}_zero_point`), new Int8Array(w.scales.length), axisParam, 'int8'), tensorFromArray(fresh(`${use.weight.name}_quantized`), w.values, dims, 'int8'), use.axis);
    // TensorRT quantizes biases itself and wants them float.
    if (use.bias && xParams && options.activations === 'uint8') {
      const bias = tensorToFloat32(use.bias, options.modelDir);
      // Scale input × weight scale, zero point 0: the int32 sum of the integer product takes it as is.
      const scales = Float32Array.from(w.scales, (scale) => Math.fround(xParams.scale * scale));
      const q = Int32Array.from(bias, (b, c) => Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, roundHalfEven(b / scales[use.axis === undefined ? 0 : c]))));
      const zeroPoints = tensorFromArray(fresh(`${use.bias.name}_zero_point`), new Int32Array(scales.length), use.axis === undefined ? [] : [scales.length], 'int32');
      dequantize(use.node, 2, use.bias, scales, zeroPoints, tensorFromArray(fresh(`${use.bias.name}_quantized`), q, [bias.length], 'int32'), use.axis === undefined ? undefined : 0);
    }
  }
  for (const [node, constants] of plan.constants) {
    for (const constant of constants) {
      const values = tensorToFloat32(constant, options.modelDir);
      let min = 0, max = 0;
      for (const v of values) { if (v < min) min = v; if (v > max) max = v; }
      const type = options.activations;
      const p = activationParams({ min, max }, type);
      const [qmin, qmax] = type === 'int8' ? [-127, 127] : [0, 255];
      const quantize = (v: number) => Math.min(qmax, Math.max(qmin, roundHalfEven(v / p.scale) + p.zeroPoint));
      const q = type === 'int8' ? Int8Array.from(values, quantize) : Uint8Array.from(values, quantize);
      const index = inputs.get(node)!.indexOf(constant.name!);
      dequantize(node, index, constant, Float32Array.of(p.scale), tensorFromArray(fresh(`${constant.name}_zero_point`), zeroPointOf(p.zeroPoint), [], type), tensorFromArray(fresh(`${constant.name}_quantized`), q, constant.dims ?? [], type));
    }
  }

  const nodes: NodeProto[] = [];
  for (const input of graph.input ?? []) nodes.push(...(pairsAfter.get(input.name!) ?? []));
  for (const node of graph.node ?? []) {
    const rewired = { ...node, input: (inputs.get(node) ?? node.input)?.map((name) => renamed.get(name) ?? name) };
    nodes.push(...(before.get(node) ?? []), rewired);
    for (const output of node.output ?? []) nodes.push(...(pairsAfter.get(output) ?? []));
  }
  const result: GraphProto = { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), ...newInitializers] };
  dropUnusedInitializers(result); // the float weights
  return { model: { ...model, graph: result }, dequantized: renamed };
}

/** int8 symmetric weights, per slice along `axis` (per tensor when undefined). */
function quantizeWeightPerChannel(values: Float32Array, dims: readonly number[], axis: number | undefined, reduceRange: boolean): { values: Int8Array; scales: Float32Array } {
  const qmax = reduceRange ? 64 : 127;
  const channels = axis === undefined ? 1 : dims[axis];
  const inner = axis === undefined ? values.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => (axis === undefined ? 0 : Math.floor(i / inner) % channels);
  const absMax = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) absMax[channelOf(i)] = Math.max(absMax[channelOf(i)], Math.abs(values[i]));
  const scales = Float32Array.from(absMax, (m) => (m > 0 ? Math.fround(m / qmax) : 1));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(-qmax, Math.min(qmax, roundHalfEven(values[i] / scales[channelOf(i)])));
  return { values: q, scales };
}

/** Ops whose definition is the same from opset 9 to 13 (so a model using only them can import 13). */
const SAME_9_TO_13 = new Set([
  'Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'Tanh', 'Add', 'Sub', 'Mul', 'Div',
  'Sum', 'Max', 'Min', 'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Pow', 'Floor', 'Ceil', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
  'GlobalMaxPool', 'Concat', 'Flatten', 'Reshape', 'Transpose', 'Identity', 'BatchNormalization', 'Shape', 'Gather', 'Cast',
  'InstanceNormalization', 'LRN', 'Softplus', 'Elu', 'Selu', 'Equal', 'Greater', 'Less', 'Not', 'And', 'Or', 'Where', 'Expand',
  'Tile', 'ConstantOfShape', 'Erf', 'Sin', 'Cos', 'Reciprocal', 'DepthToSpace', 'SpaceToDepth',
]);
/** Ops whose inputs or attributes changed at opset 11 and not since (safe to raise from 11). */
const SAME_11_TO_13 = new Set(['Clip', 'Pad', 'Resize']);

/**
 * The opset the quantized model imports and whether weights can be per channel: DequantizeLinear
 * takes `axis` from opset 13, QuantizeLinear exists from 10. A model below 13 is raised to 13 when
 * every op it uses is unchanged up to 13, else kept (per tensor, from 10); below 10 and not
 * raisable, quantization does not apply.
 */
export function quantizationOpset(model: ModelProto, wantPerChannel: boolean): { opset: number; perChannel: boolean; note: string } | { notApplicable: string } {
  const current = opsetVersion(model) ?? 1;
  if (current >= 13) return { opset: current, perChannel: wantPerChannel, note: `opset ${current}` };
  const blocking = [...new Set((model.graph?.node ?? []).filter((n) => !n.domain && !(SAME_9_TO_13.has(n.opType ?? '') || (current >= 11 && SAME_11_TO_13.has(n.opType ?? '')))).map((n) => n.opType))];
  if (current >= 9 && blocking.length === 0) return { opset: 13, perChannel: wantPerChannel, note: `opset raised from ${current} to 13 (per-channel weights need it)` };
  if (current >= 10) return { opset: current, perChannel: false, note: `opset ${current} kept (${blocking.join(', ')} changed before 13): weights per tensor` };
  if (current < 9) return { notApplicable: `the model's opset ${current} is below 10, where QuantizeLinear starts, and below 9, the oldest this quantizer raises` };
  return { notApplicable: `the model's opset ${current} is below 10, where QuantizeLinear starts, and its ${blocking.join(', ')} changed since, so it cannot be raised` };
}
