/**
 * float32 → float16 conversion of an ONNX model's main graph: weights, constants and computation in
 * float16, graph inputs and outputs kept in their types (with Casts), some ops kept in float32.
 *
 * How it decides (the facts follow onnxconverter_common's convert_float_to_float16 with
 * keep_io_types; the algorithm is this project's own):
 * - element types come from a forward pass (element-types.ts), not from shape inference;
 * - every node runs in float16 except: ops in the keep list (DEFAULT_FP16_KEEP_OPS plus the
 *   caller's), every ai.onnx.ml op, ops of other domains unless known to have float16 kernels,
 *   control flow (If/Loop/Scan: their bodies stay float32 untouched), and Constant nodes that only
 *   float32 readers use;
 * - a float tensor lives in the precision of its producer; a reader that needs the other precision
 *   gets a Cast (one per tensor and precision, shared by all its readers);
 * - float initializers read only in float16 become float16 in place; read in both precisions, a
 *   float16 copy is added; values are clamped into float16's range first (|x| > 65504 → ±65504,
 *   0 < |x| < 1e-7 → ±1e-7, so that epsilons do not flush to zero); 0, ±inf and NaN are kept;
 * - a graph output computed in float16 is renamed `<name>_fp16` inside and Cast back under its name.
 */
import type { RewriteResult } from './converted-model';
import { DataType } from './data-types';
import { inferElementTypes, NON_TENSOR } from './element-types';
import {
  definedNames,
  float32ToFloat16Bits,
  getAttribute,
  initializersByName,
  intAttr,
  isDefaultDomain,
  nameGenerator,
  opsetVersion,
  outerScopeReads,
  subgraphsOf,
  tensorFromArray,
  tensorToFloat32,
  topologicalOrder,
} from './graph';
import { AttributeType, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './messages';
import { modelSourceDir } from './model-io';

const FLOAT = DataType.FLOAT;
const FLOAT16 = DataType.FLOAT16;

/**
 * Ops kept in float32: onnxconverter_common's default block list (numerically unsafe in float16,
 * or without float16 kernels), plus what the ONNX backend test models showed necessary:
 * - random generators, TfIdfVectorizer and the window functions (float32 outputs by definition);
 * - quantization ops, whose scales are float32 before opset 19/21 (QLinearConv, QLinearMatMul, ...);
 * - ops whose type constraints exclude float16 before recent opsets (Celu, IsInf);
 * - EyeLike (no float16 kernel on onnxruntime's CPU provider) and MeanVarianceNormalization (a
 *   function whose float32 constants do not follow a float16 input in onnxruntime).
 */
export const DEFAULT_FP16_KEEP_OPS: readonly string[] = [
  'RandomUniformLike', 'NonMaxSuppression', 'TopK', 'RoiAlign', 'Resize', 'Range', 'CumSum', 'Min', 'Max', 'Upsample',
  'RandomNormal', 'RandomUniform', 'RandomNormalLike', 'Multinomial', 'Bernoulli',
  'TfIdfVectorizer', 'HannWindow', 'HammingWindow', 'BlackmanWindow', 'MelWeightMatrix',
  'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearConv', 'QLinearMatMul',
  'Celu', 'IsInf', 'EyeLike', 'MeanVarianceNormalization',
];

/** Scatters that accumulate (reduction add/mul/min/max) lose precision in float16 and lack CPU kernels: kept. */
const ACCUMULATING_SCATTERS = new Set(['ScatterND', 'ScatterElements']);

/** Cast takes its target type as an integer from opset 6 (a string before). */
const MIN_OPSET = 6;

/** com.microsoft ops with float16 kernels on the GPU providers; other non-standard ops stay float32. */
const FLOAT16_CONTRIB_OPS = new Set([
  'Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'RotaryEmbedding', 'FusedMatMul', 'BiasAdd', 'BiasGelu',
  'FastGelu', 'Gelu', 'QuickGelu', 'BiasSplitGelu', 'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization',
  'SimplifiedLayerNormalization', 'EmbedLayerNormalization', 'GroupNorm',
]);

/** Outputs whose type is float32 whatever the node's precision (statistics in stash_type). */
const FLOAT32_OUTPUTS: Record<string, number[]> = {
  LayerNormalization: [1, 2],
  SkipLayerNormalization: [1, 2],
  SkipSimplifiedLayerNormalization: [1, 2],
  SimplifiedLayerNormalization: [1],
};

/** Ops that read a tensor's metadata only: they take whichever precision the tensor has. */
const TYPE_AGNOSTIC_OPS = new Set(['Shape', 'Size']);

/** float16's largest finite value, and the smallest magnitude a constant is clamped up to. */
const FLOAT16_MAX = 65504;
const FLOAT16_MIN_POSITIVE = 1e-7;

export interface Float16Options {
  /** Ops kept in float32 besides DEFAULT_FP16_KEEP_OPS: 'OpType' (default domain) or 'domain:OpType'. */
  keepOps?: readonly string[];
  /** Names of nodes kept in float32. */
  keepNodes?: readonly string[];
}

type Precision = typeof FLOAT | typeof FLOAT16;

export function convertToFloat16(model: ModelProto, options: Float16Options = {}): RewriteResult {
  const graph = model.graph;
  if (!graph) return { notApplicable: 'the model has no graph' };
  const opset = opsetVersion(model) ?? 1;
  if (opset < MIN_OPSET) return { notApplicable: `the model's opset ${opset} is below ${MIN_OPSET}, where Cast takes its target type as an integer` };
  const already = float16Evidence(graph);
  if (already) return { notApplicable: `the model is already in float16 (${already})` };
  const order = topologicalOrder(graph);
  const types = inferElementTypes(graph, new Map(), order);
  const nonTensor = [...types].find(([, type]) => type === NON_TENSOR);
  if (nonTensor) return { notApplicable: `the graph passes a sequence, map or optional value ("${nonTensor[0]}"), which this conversion does not handle` };
  if (![...types.values()].includes(FLOAT)) return { notApplicable: 'the model has no float32 tensors to convert' };
  const converter = new Float16Converter(graph, types, order, options, modelSourceDir(model));
  const problem = converter.plan();
  if (problem) return { notApplicable: problem };
  return converter.rewrite(model);
}

class Float16Converter {
  private readonly precisionOf = new Map<NodeProto, Precision>();
  private readonly keepOps: Set<string>;
  private readonly keepNodes: Set<string>;
  private readonly graphInputs: Set<string>;
  private readonly graphOutputs: Set<string>;
  private readonly initializers: Map<string, TensorProto>;
  /** Float tensor → its name and precision where it is produced. */
  private readonly home = new Map<string, { name: string; precision: Precision }>();
  /** Float tensor → the names of its versions in each precision (casts, initializer copies). */
  private readonly versions = new Map<string, Map<Precision, string>>();
  private readonly nodes: NodeProto[] = [];
  private readonly newInitializers: TensorProto[] = [];
  private fresh: (base: string) => string;
  private casts = 0;
  private clamped = 0;
  private convertedInitializers = 0;

  constructor(
    private readonly graph: GraphProto,
    private readonly types: Map<string, number>,
    /** The graph's nodes in topological order. */
    private readonly order: NodeProto[],
    options: Float16Options,
    /** Directory external tensors are relative to (readModel's directory). */
    private readonly modelDir: string | undefined,
  ) {
    this.keepOps = new Set([...DEFAULT_FP16_KEEP_OPS, ...(options.keepOps ?? [])]);
    this.keepNodes = new Set(options.keepNodes ?? []);
    this.graphInputs = new Set((graph.input ?? []).map((input) => input.name ?? ''));
    this.graphOutputs = new Set((graph.output ?? []).map((output) => output.name ?? ''));
    this.initializers = initializersByName(graph);
    this.fresh = nameGenerator(graph);
  }

  private isFloat(name: string | undefined): name is string {
    return !!name && this.types.get(name) === FLOAT;
  }

  /** Chooses each node's precision; returns why the conversion cannot be done, if it cannot. */
  plan(): string | undefined {
    const fp32Readers = new Set<string>(this.graphOutputs);
    for (const node of this.order) {
      if (node.opType === 'Constant' && isDefaultDomain(node.domain)) continue;
      const precision = this.chosenPrecision(node);
      this.precisionOf.set(node, precision);
      if (precision === FLOAT) {
        for (const name of node.input ?? []) if (this.isFloat(name)) fp32Readers.add(name);
        for (const body of subgraphsOf(node)) for (const name of outerScopeReads(body)) if (this.isFloat(name)) fp32Readers.add(name);
      }
    }
    // A Constant read in float32 stays float32 (Resize scales, ...); float16 readers get a Cast.
    for (const node of this.order) {
      if (this.precisionOf.has(node)) continue;
      this.precisionOf.set(node, (node.output ?? []).some((name) => fp32Readers.has(name)) ? FLOAT : FLOAT16);
    }
    for (const node of this.order) {
      if (this.precisionOf.get(node) !== FLOAT16) continue;
      for (const name of [...(node.input ?? []), ...(node.output ?? [])]) {
        if (name && !this.types.has(name)) {
          return `cannot tell the element type of "${name}" (${describe(node)}), so it cannot decide where float16 casts go`;
        }
      }
    }
    this.planInitializers(fp32Readers);
    return undefined;
  }

  private chosenPrecision(node: NodeProto): Precision {
    const op = node.opType ?? '';
    if (subgraphsOf(node).length > 0) return FLOAT;
    if (node.name && this.keepNodes.has(node.name)) return FLOAT;
    if (isDefaultDomain(node.domain)) {
      const reduction = getAttribute(node, 'reduction')?.s;
      const accumulates = ACCUMULATING_SCATTERS.has(op) && reduction !== undefined && new TextDecoder().decode(reduction) !== 'none';
      return this.keepOps.has(op) || accumulates ? FLOAT : FLOAT16;
    }
    if (node.domain === 'ai.onnx.ml' || this.keepOps.has(`${node.domain}:${op}`)) return FLOAT;
    return node.domain === 'com.microsoft' && FLOAT16_CONTRIB_OPS.has(op) ? FLOAT16 : FLOAT;
  }

  /** Float initializers read only in float16 become float16 under their own name. */
  private planInitializers(fp32Readers: Set<string>): void {
    const fp16Readers = new Set<string>();
    for (const node of this.order) {
      if (this.precisionOf.get(node) === FLOAT16 && !TYPE_AGNOSTIC_OPS.has(node.opType ?? '')) {
        for (const name of node.input ?? []) if (this.isFloat(name)) fp16Readers.add(name);
      }
    }
    for (const tensor of this.graph.initializer ?? []) {
      const name = tensor.name ?? '';
      if (!this.isFloat(name) || this.graphInputs.has(name)) continue;
      const inPlace = fp16Readers.has(name) && !fp32Readers.has(name);
      this.home.set(name, { name, precision: inPlace ? FLOAT16 : FLOAT });
    }
    for (const name of this.graphInputs) if (this.isFloat(name)) this.home.set(name, { name, precision: FLOAT });
  }

  rewrite(model: ModelProto): RewriteResult {
    const graph = this.graph;
    const initializer = (graph.initializer ?? []).map((tensor) => {
      const name = tensor.name ?? '';
      if (this.home.get(name)?.precision !== FLOAT16 || this.graphInputs.has(name)) return tensor;
      this.convertedInitializers++;
      return this.toFloat16Tensor(tensor, name);
    });
    let converted = 0;
    const kept: Record<string, number> = {};
    for (const node of this.order) {
      const precision = this.precisionOf.get(node)!;
      const touchesFloat = [...(node.input ?? []), ...(node.output ?? [])].some((name) => this.isFloat(name)) || subgraphsOf(node).length > 0;
      if (precision === FLOAT16) {
        this.nodes.push(...this.float16Node(node));
        if (touchesFloat) converted++;
      } else {
        this.nodes.push(this.float32Node(node));
        if (touchesFloat) kept[node.opType ?? '?'] = (kept[node.opType ?? '?'] ?? 0) + 1;
      }
    }
    const valueInfo = graph.valueInfo?.map((info) => (this.home.get(info.name ?? '')?.precision === FLOAT16 && this.home.get(info.name ?? '')?.name === info.name ? withElemType(info, FLOAT16) : info));
    const newGraph: GraphProto = { ...graph, node: this.nodes, initializer: [...initializer, ...this.newInitializers], valueInfo };
    if (graph.valueInfo === undefined) delete newGraph.valueInfo;
    const keptText = Object.entries(kept).map(([op, count]) => `${op}×${count}`).join(', ');
    const notes = [
      `${converted} node(s) in float16`,
      keptText ? `kept in float32: ${keptText}` : 'none kept in float32',
      `${this.convertedInitializers + this.newInitializers.length} initializer(s) converted${this.clamped ? ` (${this.clamped} value(s) clamped to float16's range)` : ''}`,
      `${this.casts} Cast(s) inserted`,
    ].join('; ');
    return { model: { ...model, graph: newGraph }, notes };
  }

  /** The node in float16, followed by the Casts that give its graph outputs back their float32 type. */
  private float16Node(node: NodeProto): NodeProto[] {
    const agnostic = TYPE_AGNOSTIC_OPS.has(node.opType ?? '');
    const input = (node.input ?? []).map((name) => {
      if (!this.isFloat(name)) return name;
      return agnostic ? this.homeOf(name).name : this.need(name, FLOAT16);
    });
    const fixed = isDefaultDomain(node.domain) || node.domain === 'com.microsoft' ? FLOAT32_OUTPUTS[node.opType ?? ''] ?? [] : [];
    const outputCasts: NodeProto[] = [];
    const output = (node.output ?? []).map((name, index) => {
      if (!this.isFloat(name)) return name;
      if (fixed.includes(index)) {
        this.home.set(name, { name, precision: FLOAT });
        return name;
      }
      if (!this.graphOutputs.has(name)) {
        this.home.set(name, { name, precision: FLOAT16 });
        return name;
      }
      // Graph outputs keep their name and type: compute under another name, Cast back.
      const inner = this.fresh(`${name}_fp16`);
      this.home.set(name, { name: inner, precision: FLOAT16 });
      this.version(name).set(FLOAT, name);
      outputCasts.push(this.castNode(inner, name, FLOAT));
      return inner;
    });
    const attribute = node.attribute?.map((a) => this.float16Attribute(a, node));
    const result: NodeProto = { ...node, input, output };
    if (attribute) result.attribute = attribute;
    return [result, ...outputCasts];
  }

  private float32Node(node: NodeProto): NodeProto {
    const input = (node.input ?? []).map((name) => (this.isFloat(name) ? this.need(name, FLOAT) : name));
    for (const name of node.output ?? []) if (this.isFloat(name)) this.home.set(name, { name, precision: FLOAT });
    let attribute = node.attribute;
    if (subgraphsOf(node).length > 0) {
      const rename = (name: string): string | undefined => (this.isFloat(name) && this.home.has(name) && this.homeOf(name).precision !== FLOAT ? this.need(name, FLOAT) : undefined);
      attribute = attribute?.map((a) => mapSubgraphs(a, (g) => renameOuterReads(g, rename)));
    }
    return { ...node, input, attribute };
  }

  private float16Attribute(attribute: AttributeProto, node: NodeProto): AttributeProto {
    const name = attribute.name ?? '';
    if (attribute.t && attribute.t.dataType === FLOAT) return { ...attribute, t: this.toFloat16Tensor(attribute.t, attribute.t.name ?? '') };
    if (attribute.tensors?.some((t) => t.dataType === FLOAT)) {
      return { ...attribute, tensors: attribute.tensors.map((t) => (t.dataType === FLOAT ? this.toFloat16Tensor(t, t.name ?? '') : t)) };
    }
    if (node.opType === 'Constant' && (name === 'value_float' || name === 'value_floats')) {
      const values = name === 'value_float' ? new Float32Array([attribute.f ?? 0]) : Float32Array.from(attribute.floats ?? []);
      const t = this.toFloat16Tensor(tensorFromArray('', values, name === 'value_float' ? [] : [values.length], 'float32'), '');
      return { name: 'value', type: AttributeType.TENSOR, t };
    }
    const typed = node.opType === 'Cast' ? 'to' : ['dtype', 'output_datatype'].includes(name) ? name : undefined;
    if (typed === name && Number(attribute.i) === FLOAT) return { ...attribute, i: FLOAT16 };
    return attribute;
  }

  private homeOf(name: string): { name: string; precision: Precision } {
    const home = this.home.get(name);
    if (!home) throw new Error(`internal: no producer seen yet for "${name}"`);
    return home;
  }

  private version(name: string): Map<Precision, string> {
    let versions = this.versions.get(name);
    if (!versions) this.versions.set(name, (versions = new Map()));
    return versions;
  }

  /** The name of `name`'s value in `precision`, adding a Cast (or an initializer copy) the first time. */
  private need(name: string, precision: Precision): string {
    const home = this.homeOf(name);
    if (home.precision === precision) return home.name;
    const versions = this.version(name);
    const existing = versions.get(precision);
    if (existing) return existing;
    const suffix = precision === FLOAT16 ? 'fp16' : 'fp32';
    const target = this.fresh(`${name}_${suffix}`);
    const tensor = !this.graphInputs.has(name) ? this.initializers.get(name) : undefined;
    if (tensor && precision === FLOAT16) this.newInitializers.push(this.toFloat16Tensor(tensor, target));
    else this.nodes.push(this.castNode(home.name, target, precision));
    versions.set(precision, target);
    return target;
  }

  private castNode(from: string, to: string, precision: Precision): NodeProto {
    this.casts++;
    return { input: [from], output: [to], name: this.fresh(`${to}_cast`), opType: 'Cast', attribute: [intAttr('to', precision)] };
  }

  private toFloat16Tensor(tensor: TensorProto, name: string): TensorProto {
    const values = tensorToFloat32(tensor, this.modelDir);
    const bits = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) {
      let value = values[i];
      const magnitude = Math.abs(value);
      if (magnitude > FLOAT16_MAX && magnitude !== Infinity) {
        value = Math.sign(value) * FLOAT16_MAX;
        this.clamped++;
      } else if (magnitude > 0 && magnitude < FLOAT16_MIN_POSITIVE) {
        value = Math.sign(value) * FLOAT16_MIN_POSITIVE;
        this.clamped++;
      }
      bits[i] = float32ToFloat16Bits(value);
    }
    const { rawData, floatData, int32Data, int64Data, doubleData, uint64Data, externalData, dataLocation, segment, ...rest } = tensor;
    const converted: TensorProto = { ...rest, ...tensorFromArray(name, bits, tensor.dims ?? [], 'float16') };
    if (!name) delete converted.name;
    return converted;
  }
}

/** Where a graph (or one of its subgraphs) already holds float16: a reason to leave it alone. */
function float16Evidence(graph: GraphProto): string | undefined {
  const tensor = graph.initializer?.find((t) => t.dataType === FLOAT16);
  if (tensor) return `initializer "${tensor.name}" is float16`;
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    if (info.type?.tensorType?.elemType === FLOAT16) return `"${info.name}" is declared float16`;
  }
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      if (attribute.t?.dataType === FLOAT16 || attribute.tensors?.some((t) => t.dataType === FLOAT16)) return `${describe(node)} holds a float16 tensor`;
      if (node.opType === 'Cast' && attribute.name === 'to' && Number(attribute.i) === FLOAT16) return `${describe(node)} casts to float16`;
    }
    for (const body of subgraphsOf(node)) {
      const found = float16Evidence(body);
      if (found) return found;
    }
  }
  return undefined;
}

/** A copy of a subgraph whose reads of enclosing-scope names are renamed where `rename` gives a name. */
function renameOuterReads(graph: GraphProto, rename: (name: string) => string | undefined): GraphProto {
  const own = definedNames(graph);
  const outer = (name: string): string | undefined => (own.has(name) ? undefined : rename(name));
  const node = (graph.node ?? []).map((n) => {
    const input = (n.input ?? []).map((name) => (name ? outer(name) ?? name : name));
    const attribute = n.attribute?.map((a) => mapSubgraphs(a, (g) => renameOuterReads(g, outer)));
    return { ...n, input, attribute };
  });
  return { ...graph, node };
}

/** The attribute with the graph(s) it holds replaced by `map`'s results; other attributes as they are. */
function mapSubgraphs(attribute: AttributeProto, map: (graph: GraphProto) => GraphProto): AttributeProto {
  if (attribute.g) return { ...attribute, g: map(attribute.g) };
  if (attribute.graphs) return { ...attribute, graphs: attribute.graphs.map((g) => map(g)) };
  return attribute;
}

function withElemType(info: ValueInfoProto, elemType: number): ValueInfoProto {
  const tensorType = info.type?.tensorType;
  if (!tensorType) return info;
  return { ...info, type: { ...info.type, tensorType: { ...tensorType, elemType } } };
}

function describe(node: NodeProto): string {
  return node.name ? `node "${node.name}" (${node.opType})` : `a ${node.opType} node`;
}
