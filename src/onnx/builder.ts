/**
 * Building ONNX models in code, for tests, samples and benchmarks.
 *
 *   const b = new GraphBuilder('mlp', { seed: 1 });
 *   const x = b.input('x', 'float32', ['batch', 4]);
 *   const h = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, b.randomWeight('w', [4, 8])]), b.randomWeight('b', [8])])]);
 *   b.node('Identity', [h], {}, { outputs: ['y'] });
 *   b.output('y', 'float32', ['batch', 8]);
 *   const bytes = b.toBytes();   // ready for ort.InferenceSession.create(bytes)
 *
 * Attribute typing (INT vs FLOAT) follows the rule documented in attributes.ts: integer-valued
 * numbers are INT unless the attribute is a known float one (alpha, epsilon, ...); wrap with
 * f(x) / attr.floats([...]) / attr.ints([...]) to say otherwise.
 * build() checks the graph (every input produced, outputs defined, opsets declared) and sets the
 * IR version that matches the opset, which onnxruntime-node 1.30 loads.
 */
import { NavigatorError } from '../core/errors';
import { toAttributeProto, type AttributeValue } from './attributes';
import { dataTypeOf } from './data-types';
import { irVersionFor, isDefaultDomain, topologicalOrder, type Dim } from './graph';
import type { GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto } from './messages';
import { encodeModel } from './proto';
import { elementCount, tensorFromArray, type ArrayData } from './tensor-data';

export type { Dim } from './graph';
export { attr, f, TypedAttribute, type AttributeValue, type TensorValue } from './attributes';

export interface GraphBuilderOptions {
  /** Default-domain opset version. Default 17. */
  opset?: number;
  /** Seed of randomWeight's generator. Default 1. */
  seed?: number;
}

export interface NodeOptions {
  /** How many outputs to create (auto-named), or their names. Default 1. */
  outputs?: number | string[];
  name?: string;
  domain?: string;
}

/** mulberry32: a small, fast, seeded PRNG; uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class GraphBuilder {
  private readonly opsets = new Map<string, number>();
  private readonly random: () => number;
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  /** Tensor name → what defined it, to refuse duplicates with a useful message. */
  private readonly tensors = new Map<string, string>();
  private readonly nodeNames = new Set<string>();
  private nodeCounter = 0;

  constructor(readonly name: string, options: GraphBuilderOptions = {}) {
    this.opsets.set('', options.opset ?? 17);
    this.random = seededRandom(options.seed ?? 1);
  }

  input(name: string, dtype: string, shape: Dim[]): string {
    this.define(name, 'graph input');
    this.inputs.push(valueInfo(name, dtype, shape));
    return name;
  }

  /** Marks an existing tensor (node output, input or initializer) as a graph output. */
  output(name: string, dtype: string, shape: Dim[]): void {
    if (this.outputs.some((output) => output.name === name)) throw this.error(`"${name}" is already a graph output`, 'declare each output once');
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  initializer(name: string, data: ArrayData, dims: number[], dtype?: string): string {
    const tensor = tensorFromArray(name, data, dims, dtype);
    this.define(name, 'initializer');
    this.initializers.push(tensor);
    return name;
  }

  /** A Constant node producing `name` (its value is a tensor attribute, not an initializer). */
  constant(name: string, data: ArrayData, dims: number[], dtype?: string): string {
    return this.node('Constant', [], { value: { data, dims, dtype } }, { outputs: [name], name: `${name}_constant` })[0];
  }

  /** A deterministic float32 initializer, uniform in [-scale, scale] (default scale 0.1). */
  randomWeight(name: string, dims: number[], scale = 0.1): string {
    const values = new Float32Array(elementCount(dims));
    for (let i = 0; i < values.length; i++) values[i] = (this.random() * 2 - 1) * scale;
    return this.initializer(name, values, dims, 'float32');
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, options: NodeOptions = {}): string[] {
    const name = options.name ?? this.freshNodeName(opType);
    if (this.nodeNames.has(name)) throw this.error(`a node named "${name}" already exists`, 'give the node another name');
    const label = `node "${name}" (${opType})`;
    const requested = options.outputs ?? 1;
    const outputs = typeof requested === 'number' ? Array.from({ length: requested }, (_, i) => this.freshTensorName(`${name}_output_${i}`)) : requested;
    outputs.forEach((output) => output !== '' && this.define(output, label));
    this.nodeNames.add(name);
    const node: NodeProto = { input: [...inputs], output: outputs, name, opType };
    const attributeList = Object.entries(attributes).map(([key, value]) => toAttributeProto(key, value, label));
    if (attributeList.length > 0) node.attribute = attributeList;
    if (options.domain !== undefined && !isDefaultDomain(options.domain)) node.domain = options.domain;
    this.nodes.push(node);
    return outputs;
  }

  /** A node with a single output; returns that output's name. */
  op(opType: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    return this.node(opType, inputs, attributes)[0];
  }

  /** Declares an opset for a domain, e.g. useOpset('com.microsoft', 1); also changes the default one. */
  useOpset(domain: string, version: number): void {
    this.opsets.set(isDefaultDomain(domain) ? '' : domain, version);
  }

  /** The graph alone (e.g. an If or Loop body); `outerScope` names the tensors it reads from outside. */
  buildGraph(outerScope: Iterable<string> = []): GraphProto {
    const graph: GraphProto = {
      node: [...this.nodes],
      name: this.name,
      initializer: [...this.initializers],
      input: [...this.inputs],
      output: [...this.outputs],
    };
    topologicalOrder(graph, outerScope);
    const defined = new Set([...this.tensors.keys(), ...outerScope]);
    for (const output of this.outputs) {
      if (!defined.has(output.name!)) throw this.error(`graph output "${output.name}" is not produced by any node, input or initializer`, 'add the node that computes it, or fix the name');
    }
    return graph;
  }

  build(): ModelProto {
    const graph = this.buildGraph();
    for (const node of this.nodes) {
      const domain = node.domain ?? '';
      if (!this.opsets.has(domain)) {
        throw this.error(`node "${node.name}" (${node.opType}) uses domain "${domain}", which has no opset`, `call useOpset('${domain}', <version>) before build()`);
      }
    }
    const opsetImport: OperatorSetIdProto[] = [...this.opsets].map(([domain, version]) => ({ domain, version }));
    return { irVersion: irVersionFor(this.opsets.get('')!), producerName: 'model-navigator-ts', opsetImport, graph };
  }

  toBytes(): Uint8Array {
    return encodeModel(this.build());
  }

  private define(name: string, by: string): void {
    if (!name) throw this.error(`${by} needs a non-empty tensor name`, 'pass a name');
    const previous = this.tensors.get(name);
    if (previous !== undefined) throw this.error(`tensor "${name}" is defined twice: by ${previous} and by ${by}`, 'tensor names must be unique; pick another name');
    this.tensors.set(name, by);
  }

  private freshNodeName(opType: string): string {
    let name: string;
    do name = `${opType}_${this.nodeCounter++}`;
    while (this.nodeNames.has(name) || this.tensors.has(name));
    return name;
  }

  private freshTensorName(base: string): string {
    let name = base;
    for (let suffix = 1; this.tensors.has(name); suffix++) name = `${base}_${suffix}`;
    return name;
  }

  private error(problem: string, fix: string): NavigatorError {
    return new NavigatorError(problem, { subject: this.name, fix });
  }
}

function valueInfo(name: string, dtype: string, shape: Dim[]): ValueInfoProto {
  const dim = shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: dataTypeOf(dtype), shape: { dim } } } };
}
