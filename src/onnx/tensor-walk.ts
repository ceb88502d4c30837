/**
 * Visiting and replacing every TensorProto of a model: initializers, sparse initializers, tensor
 * attributes (Constant's value, ...), in the main graph, in subgraphs (If/Loop/Scan bodies) and in
 * model-local functions. TrainingInfoProto is kept encoded and is not visited.
 *
 * mapModelTensors copies only what changes (structural sharing), so the caller's model is never
 * modified and an unchanged model comes back as the same object.
 */
import type { AttributeProto, FunctionProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto } from './messages';

/** Where a tensor sits: graph initializer, sparse initializer part, or node attribute. */
export type TensorSite = 'initializer' | 'sparse' | 'attribute';

export type TensorMapper = (tensor: TensorProto, site: TensorSite) => TensorProto;

export function mapModelTensors(model: ModelProto, mapper: TensorMapper): ModelProto {
  const graph = model.graph && mapGraphTensors(model.graph, mapper);
  const functions = mapList(model.functions, (fn) => mapFunction(fn, mapper));
  if (graph === model.graph && functions === model.functions) return model;
  return { ...model, graph, functions };
}

export function forEachTensor(model: ModelProto, visit: (tensor: TensorProto, site: TensorSite) => void): void {
  mapModelTensors(model, (tensor, site) => {
    visit(tensor, site);
    return tensor;
  });
}

function mapGraphTensors(graph: GraphProto, mapper: TensorMapper): GraphProto {
  const initializer = mapList(graph.initializer, (tensor) => mapper(tensor, 'initializer'));
  const sparseInitializer = mapList(graph.sparseInitializer, (sparse) => mapSparse(sparse, mapper, 'sparse'));
  const node = mapList(graph.node, (n) => mapNode(n, mapper));
  if (initializer === graph.initializer && sparseInitializer === graph.sparseInitializer && node === graph.node) return graph;
  return { ...graph, initializer, sparseInitializer, node };
}

function mapFunction(fn: FunctionProto, mapper: TensorMapper): FunctionProto {
  const node = mapList(fn.node, (n) => mapNode(n, mapper));
  const attributeProto = mapList(fn.attributeProto, (a) => mapAttribute(a, mapper));
  if (node === fn.node && attributeProto === fn.attributeProto) return fn;
  return { ...fn, node, attributeProto };
}

function mapNode(node: NodeProto, mapper: TensorMapper): NodeProto {
  const attribute = mapList(node.attribute, (a) => mapAttribute(a, mapper));
  return attribute === node.attribute ? node : { ...node, attribute };
}

function mapAttribute(attribute: AttributeProto, mapper: TensorMapper): AttributeProto {
  const t = attribute.t && mapper(attribute.t, 'attribute');
  const tensors = mapList(attribute.tensors, (tensor) => mapper(tensor, 'attribute'));
  const sparseTensor = attribute.sparseTensor && mapSparse(attribute.sparseTensor, mapper, 'attribute');
  const sparseTensors = mapList(attribute.sparseTensors, (sparse) => mapSparse(sparse, mapper, 'attribute'));
  const g = attribute.g && mapGraphTensors(attribute.g, mapper);
  const graphs = mapList(attribute.graphs, (graph) => mapGraphTensors(graph, mapper));
  if (
    t === attribute.t && tensors === attribute.tensors && sparseTensor === attribute.sparseTensor &&
    sparseTensors === attribute.sparseTensors && g === attribute.g && graphs === attribute.graphs
  ) {
    return attribute;
  }
  return { ...attribute, t, tensors, sparseTensor, sparseTensors, g, graphs };
}

function mapSparse(sparse: SparseTensorProto, mapper: TensorMapper, site: TensorSite): SparseTensorProto {
  const values = sparse.values && mapper(sparse.values, site);
  const indices = sparse.indices && mapper(sparse.indices, site);
  return values === sparse.values && indices === sparse.indices ? sparse : { ...sparse, values, indices };
}

/** Maps a list, returning the same list when no element changed. */
function mapList<T>(list: T[] | undefined, map: (item: T) => T): T[] | undefined {
  if (list === undefined) return undefined;
  let result: T[] | undefined;
  for (let i = 0; i < list.length; i++) {
    const mapped = map(list[i]);
    if (mapped !== list[i] && result === undefined) result = list.slice(0, i);
    if (result !== undefined) result.push(mapped);
  }
  return result ?? list;
}
