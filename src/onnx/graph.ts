/**
 * Graph utilities for model conversions (fp16, int8, int4, shape specialization): lookups,
 * producer/consumer maps, op counts, topological order, opset versions, fresh names, input shapes.
 * Tensor values ↔ typed arrays are in tensor-data.ts and re-exported here.
 *
 * Functions that change a graph say so; they replace the objects they change (a new ValueInfoProto,
 * new Dimension objects) rather than editing nested objects that may be shared.
 */
import { NavigatorError } from '../core/errors';
import {
  AttributeType,
  type AttributeProto,
  type Dimension,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OperatorSetIdProto,
  type TensorProto,
  type ValueInfoProto,
} from './messages';

export * from './tensor-data';

/** A dimension: a number for a fixed size, a string for a symbolic one ('batch'). */
export type Dim = number | string;

export function findInitializer(graph: GraphProto, name: string): TensorProto | undefined {
  return graph.initializer?.find((tensor) => tensor.name === name);
}

/** The graph's initializers by name, for repeated lookups; like findInitializer, the first of a name wins. */
export function initializersByName(graph: GraphProto): Map<string, TensorProto> {
  const byName = new Map<string, TensorProto>();
  for (const tensor of graph.initializer ?? []) if (tensor.name !== undefined && !byName.has(tensor.name)) byName.set(tensor.name, tensor);
  return byName;
}

/** The ValueInfoProto describing `name`, looked up in inputs, outputs, then value_info. */
export function findValueInfo(graph: GraphProto, name: string): ValueInfoProto | undefined {
  for (const list of [graph.input, graph.output, graph.valueInfo]) {
    const found = list?.find((info) => info.name === name);
    if (found) return found;
  }
  return undefined;
}

/** The node producing each tensor name. */
export function producers(graph: GraphProto): Map<string, NodeProto> {
  const result = new Map<string, NodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) if (output) result.set(output, node);
  return result;
}

/** The nodes reading each tensor name (a node appears once per input slot that reads it). */
export function consumers(graph: GraphProto): Map<string, NodeProto[]> {
  const result = new Map<string, NodeProto[]>();
  for (const node of graph.node ?? []) {
    for (const input of node.input ?? []) {
      if (!input) continue;
      const list = result.get(input);
      if (list) list.push(node);
      else result.set(input, [node]);
    }
  }
  return result;
}

/** True for the ONNX default domain, which is spelt '' or 'ai.onnx'. */
export function isDefaultDomain(domain: string | undefined): boolean {
  return !domain || domain === 'ai.onnx';
}

/**
 * How many nodes of each op type: keys are op types for the default domain, `domain:opType` for
 * others (e.g. 'com.microsoft:FusedMatMul'). Counts nodes of subgraphs (If/Loop bodies) too unless
 * includeSubgraphs is false.
 */
export function opCounts(graph: GraphProto, options: { includeSubgraphs?: boolean } = {}): Record<string, number> {
  const counts: Record<string, number> = {};
  const visit = (g: GraphProto): void => {
    for (const node of g.node ?? []) {
      const key = isDefaultDomain(node.domain) ? (node.opType ?? '') : `${node.domain}:${node.opType}`;
      counts[key] = (counts[key] ?? 0) + 1;
      if (options.includeSubgraphs !== false) subgraphsOf(node).forEach(visit);
    }
  };
  visit(graph);
  return counts;
}

/** The names among `candidates` that no node (of the graph or its subgraphs) and no graph output reads. */
export function unreadNames(graph: GraphProto, candidates: Iterable<string>): Set<string> {
  const unread = new Set(candidates);
  const visit = (g: GraphProto): void => {
    for (const node of g.node ?? []) {
      for (const name of node.input ?? []) unread.delete(name);
      subgraphsOf(node).forEach(visit);
    }
    for (const output of g.output ?? []) unread.delete(output.name ?? '');
  };
  visit(graph);
  return unread;
}

/** The graphs held by a node's attributes (If branches, Loop and Scan bodies). */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  for (const attribute of node.attribute ?? []) {
    if (attribute.g) graphs.push(attribute.g);
    if (attribute.graphs) graphs.push(...attribute.graphs);
  }
  return graphs;
}

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((attribute) => attribute.name === name);
}

/** An INT attribute's value as a number; undefined when the node does not set it. */
export function intAttribute(node: NodeProto, name: string): number | undefined {
  const value = getAttribute(node, name)?.i;
  return value === undefined ? undefined : Number(value);
}

/** A new INT attribute. */
export function intAttr(name: string, value: number): AttributeProto {
  return { name, type: AttributeType.INT, i: value };
}

/** Names a graph defines itself: inputs, initializers (dense and sparse), node outputs. */
export function definedNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const input of graph.input ?? []) if (input.name) names.add(input.name);
  for (const tensor of graph.initializer ?? []) if (tensor.name) names.add(tensor.name);
  for (const sparse of graph.sparseInitializer ?? []) if (sparse.values?.name) names.add(sparse.values.name);
  for (const node of graph.node ?? []) for (const output of node.output ?? []) if (output) names.add(output);
  return names;
}

/** Names a subgraph reads from enclosing scopes: node inputs it does not define itself. */
export function outerScopeReads(graph: GraphProto): Set<string> {
  const defined = definedNames(graph);
  const reads = new Set<string>();
  for (const node of graph.node ?? []) {
    for (const name of nodeReads(node)) if (!defined.has(name)) reads.add(name);
  }
  return reads;
}

/** Every tensor a node needs before it can run: its inputs and what its subgraphs read from outside. */
function nodeReads(node: NodeProto): string[] {
  const reads = (node.input ?? []).filter((name) => name !== '');
  for (const graph of subgraphsOf(node)) reads.push(...outerScopeReads(graph));
  return reads;
}

function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? `node "${node.name}" (${node.opType})` : `node #${index} (${node.opType}, unnamed)`;
}

/**
 * The graph's nodes in an order where every node comes after the producers of its inputs (and of
 * the outer-scope values its subgraphs read). Already-sorted graphs keep their order. Throws,
 * naming the node, when an input has no producer, two nodes write one tensor, or there is a cycle.
 * `outerScope` lists names visible from enclosing graphs, for checking a subgraph on its own.
 */
export function topologicalOrder(graph: GraphProto, outerScope: Iterable<string> = []): NodeProto[] {
  const nodes = graph.node ?? [];
  const available = new Set<string>(outerScope);
  for (const input of graph.input ?? []) if (input.name) available.add(input.name);
  for (const tensor of graph.initializer ?? []) if (tensor.name) available.add(tensor.name);
  for (const sparse of graph.sparseInitializer ?? []) if (sparse.values?.name) available.add(sparse.values.name);

  const producerIndex = new Map<string, number>();
  nodes.forEach((node, index) => {
    for (const output of node.output ?? []) {
      if (!output) continue;
      const earlier = producerIndex.get(output);
      if (earlier !== undefined) {
        throw new NavigatorError(`${nodeLabel(node, index)} writes "${output}", which ${nodeLabel(nodes[earlier], earlier)} already writes`, {
          subject: output,
          fix: 'give one of the outputs another name: each tensor must have a single producer',
        });
      }
      producerIndex.set(output, index);
    }
  });

  const dependencies = nodes.map((node, index) =>
    nodeReads(node).flatMap((name) => {
      const producer = producerIndex.get(name);
      if (producer !== undefined) return [producer];
      if (available.has(name)) return [];
      throw new NavigatorError(`${nodeLabel(node, index)} reads "${name}", which no node, graph input or initializer provides`, {
        subject: name,
        fix: `add "${name}" as a graph input or initializer, or connect the node to an existing tensor`,
      });
    }),
  );

  // Depth-first, in the original order, with an explicit stack: deep graphs would overflow recursion.
  const state = new Uint8Array(nodes.length); // 0 = unseen, 1 = in progress, 2 = placed
  const order: NodeProto[] = [];
  for (let root = 0; root < nodes.length; root++) {
    if (state[root] === 2) continue;
    const stack: [node: number, next: number][] = [[root, 0]];
    state[root] = 1;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const [index, next] = frame;
      if (next < dependencies[index].length) {
        frame[1]++;
        const dependency = dependencies[index][next];
        if (state[dependency] === 1) {
          throw new NavigatorError(`${nodeLabel(nodes[dependency], dependency)} is part of a cycle`, {
            subject: nodes[dependency].name,
            fix: 'an ONNX graph must be acyclic; use a Loop node for iteration',
          });
        }
        if (state[dependency] === 0) {
          state[dependency] = 1;
          stack.push([dependency, 0]);
        }
      } else {
        state[index] = 2;
        order.push(nodes[index]);
        stack.pop();
      }
    }
  }
  return order;
}

/** Whether graph.node is already in a valid order (throws like topologicalOrder on broken graphs). */
export function isTopologicallySorted(graph: GraphProto, outerScope: Iterable<string> = []): boolean {
  const order = topologicalOrder(graph, outerScope);
  return order.every((node, index) => node === graph.node![index]);
}

/** IR version released with each default-domain opset (onnx/docs/Versioning.md). */
export function irVersionFor(opset: number): number {
  const table: [maxOpset: number, irVersion: number][] = [[8, 3], [9, 4], [10, 5], [11, 6], [14, 7], [18, 8], [20, 9], [22, 10]];
  return table.find(([maxOpset]) => opset <= maxOpset)?.[1] ?? 11;
}

/** The model's opset import for a domain ('' and 'ai.onnx' are the same); undefined if none. */
export function findOpset(model: ModelProto, domain = ''): OperatorSetIdProto | undefined {
  return model.opsetImport?.find((opset) => (isDefaultDomain(domain) ? isDefaultDomain(opset.domain) : opset.domain === domain));
}

/** The opset version the model imports for a domain; undefined if none. */
export function opsetVersion(model: ModelProto, domain = ''): number | undefined {
  return findOpset(model, domain)?.version;
}

/**
 * A generator of names unused anywhere in the graph (tensors and nodes, subgraphs included):
 * `fresh('x')` gives 'x' if free, else 'x_1', 'x_2', ... Each name it returns is taken.
 */
export function nameGenerator(graph: GraphProto): (base: string) => string {
  const taken = new Set<string>();
  const collect = (g: GraphProto): void => {
    for (const name of definedNames(g)) taken.add(name);
    for (const info of [...(g.output ?? []), ...(g.valueInfo ?? [])]) if (info.name) taken.add(info.name);
    for (const node of g.node ?? []) {
      if (node.name) taken.add(node.name);
      for (const input of node.input ?? []) if (input) taken.add(input);
      subgraphsOf(node).forEach(collect);
    }
  };
  collect(graph);
  return (base) => {
    let name = base;
    for (let suffix = 1; taken.has(name); suffix++) name = `${base}_${suffix}`;
    taken.add(name);
    return name;
  };
}

/**
 * Sets the shape of a tensor graph input (changes the graph). A number fixes a dimension, a string
 * makes it symbolic, null keeps the current one. Each Dimension is a fresh object holding only
 * dimValue or only dimParam (plus its denotation), never both.
 */
export function setInputShape(graph: GraphProto, inputName: string, shape: (Dim | null)[]): void {
  const inputs = graph.input ?? [];
  const index = inputs.findIndex((input) => input.name === inputName);
  if (index < 0) {
    throw new NavigatorError('no such graph input', {
      subject: inputName,
      fix: `use one of: ${inputs.map((input) => input.name).join(', ') || '(the graph has no inputs)'}`,
    });
  }
  const input = inputs[index];
  const tensorType = input.type?.tensorType;
  if (!tensorType) throw new NavigatorError('graph input is not a tensor, so it has no shape to set', { subject: inputName });
  const current = tensorType.shape?.dim ?? [];
  inputs[index] = withDims(input, shape.map((value, axis): Dimension => (value === null ? current[axis] ?? {} : makeDimension(value, current[axis]))));
}

/**
 * Replaces the symbolic dimension `dimParam` by `value` wherever it appears in graph inputs,
 * outputs and value_info (changes the graph). Returns how many dimensions were fixed.
 */
export function fixDimParam(graph: GraphProto, dimParam: string, value: number): number {
  let fixed = 0;
  const fixList = (list: ValueInfoProto[] | undefined): void => {
    list?.forEach((info, index) => {
      const dims = info.type?.tensorType?.shape?.dim;
      if (!dims?.some((d) => d.dimParam === dimParam)) return;
      list[index] = withDims(info, dims.map((d) => (d.dimParam === dimParam ? (fixed++, makeDimension(value, d)) : d)));
    });
  };
  fixList(graph.input);
  fixList(graph.output);
  fixList(graph.valueInfo);
  return fixed;
}

/** The dims of a tensor value info: numbers, strings for symbolic dims, '?' for unknown ones. */
export function valueInfoShape(info: ValueInfoProto): Dim[] | undefined {
  const dims = info.type?.tensorType?.shape?.dim;
  return dims?.map((d) => d.dimValue ?? d.dimParam ?? '?');
}

/** A copy of a tensor value info with new dims; the objects around them are copied, not changed. */
function withDims(info: ValueInfoProto, dim: Dimension[]): ValueInfoProto {
  const tensorType = info.type?.tensorType;
  return { ...info, type: { ...info.type, tensorType: { ...tensorType, shape: { ...tensorType?.shape, dim } } } };
}

function makeDimension(value: Dim, previous?: Dimension): Dimension {
  if (typeof value === 'number' && (!Number.isSafeInteger(value) || value < 0)) {
    throw new NavigatorError(`dimension ${value} is not a non-negative integer`, { fix: 'pass a whole number of elements, or a name for a symbolic dimension' });
  }
  const dimension: Dimension = typeof value === 'number' ? { dimValue: value } : { dimParam: value };
  if (previous?.denotation !== undefined) dimension.denotation = previous.denotation;
  return dimension;
}
