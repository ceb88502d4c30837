import { saveConvertedModel, type RewriteResult } from '../onnx/converted-model';
import type { ModelProto } from '../onnx/messages';
import type { ConversionContext, Format } from '../core/plugin';
import type { Precision } from '../core/precision';

/**
 * A format that rewrites the source graph in TypeScript and saves the result: the shape fp16, int8
 * and int4 share. `rewrite` gets a freshly decoded source it may change.
 */
export function graphRewriteFormat<Options extends object = object>(spec: {
  name: string;
  precision: Precision;
  description: string;
  loadedBy: readonly string[];
  options?: new () => Options;
  rewrite(model: ModelProto, context: ConversionContext<Options>): RewriteResult;
}): Format<Options> {
  return {
    name: spec.name,
    precision: spec.precision,
    description: spec.description,
    loadedBy: spec.loadedBy,
    options: spec.options,
    async convert(context) {
      const model = context.readSource();
      const result = spec.rewrite(model, context);
      if ('notApplicable' in result) return result;
      context.log(result.notes);
      const saved = saveConvertedModel(result.model, context.outputDir, model);
      return { artifact: { format: spec.name, path: saved.path, precision: spec.precision, sizeBytes: saved.sizeBytes }, notes: result.notes };
    },
  };
}
