import type { TensorSpec } from '../core/signature';
import { NavigatorError } from '../core/errors';
import { saveConvertedModel } from '../onnx/converted-model';
import { fixDimParam, setInputShape, valueInfoShape } from '../onnx/graph';
import { RUNNER_KINDS, type Format } from '../core/plugin';

/**
 * Static-shape specialization for a module that was only ever called with one input shape: the
 * graph inputs' symbolic dimensions become the captured sizes (and so do the same symbolic
 * dimensions on outputs and value_info), which lets onnxruntime plan memory and fold shape
 * computations at load. onnxruntime-node ignores `freeDimensionOverrides`, hence the rewrite. The
 * artifact's `fixedShapes` makes its sessions refuse other shapes, which then go to the source.
 */
export const onnxStaticFormat: Format = {
  name: 'onnx-static',
  precision: 'fp32',
  description: "the model with its inputs' symbolic dimensions fixed to the one shape it was called with",
  loadedBy: [RUNNER_KINDS.onnxruntime],
  async convert({ module, source, outputDir, signature, log, readSource }) {
    if (signature.inputs.length === 0) return { notApplicable: 'the module has no captured inputs' };
    const varying = signature.inputs.filter((spec) => spec.min.some((size, axis) => size !== spec.max[axis]));
    if (varying.length > 0) {
      const ranges = varying.map((spec) => `${spec.name} from ${spec.min.join('x')} to ${spec.max.join('x')}`).join(', ');
      return { notApplicable: `the module was called with more than one input shape (${ranges}); a static-shape model would serve only one` };
    }
    const model = readSource();
    const graph = model.graph ?? {};
    const fixedShapes: Record<string, number[]> = {};
    const params = new Map<string, Set<number>>();
    const changes: string[] = [];
    for (const spec of signature.inputs) {
      const input = graph.input?.find((info) => info.name === spec.name);
      if (!input) throw new NavigatorError('captured input is not a graph input of the model', { module, subject: spec.name, fix: 'the model file changed since capture; run optimize again' });
      const declared = valueInfoShape(input) ?? spec.min.map(() => '?'); // no shape at all: every axis unknown
      const shape = [...spec.min];
      checkRank(module, spec, declared);
      declared.forEach((dim, axis) => {
        if (typeof dim === 'number') return;
        changes.push(`${spec.name}[${axis}] ${dim === '?' ? '(unnamed)' : dim}=${shape[axis]}`);
        if (dim !== '?') (params.get(dim) ?? params.set(dim, new Set()).get(dim)!).add(shape[axis]);
      });
      fixedShapes[spec.name] = shape;
    }
    if (changes.length === 0) return { notApplicable: "the model's inputs have no symbolic dimensions: it is static already" };
    for (const spec of signature.inputs) setInputShape(graph, spec.name, fixedShapes[spec.name]);
    // A symbolic name that took one value everywhere is fixed on outputs and value_info too.
    for (const [param, values] of params) if (values.size === 1) fixDimParam(graph, param, [...values][0]);
    const notes = `fixed ${changes.join(', ')}`;
    log(notes);
    const saved = saveConvertedModel({ ...model, graph }, outputDir, model);
    return { artifact: { format: 'onnx-static', path: saved.path, precision: 'fp32', sizeBytes: saved.sizeBytes, fixedShapes }, notes };
  },
};

function checkRank(module: string, spec: TensorSpec, declared: (number | string)[]): void {
  const mismatch = declared.length !== spec.min.length || declared.some((dim, axis) => typeof dim === 'number' && dim !== spec.min[axis]);
  if (mismatch) {
    throw new NavigatorError(`captured shape ${spec.min.join('x')} does not fit the declared shape [${declared.join(', ')}]`, {
      module,
      subject: spec.name,
      fix: 'the model file changed since capture; run optimize again',
    });
  }
}
