import { saveConvertedModel, type RewriteResult } from '../onnx/converted-model';
import type { ModelProto } from '../onnx/messages';
import type { ConversionContext, Format, Precision } from './format';

/**
 * A format that rewrites the source graph in TypeScript and saves the result: the shape fp16, int8
 * and int4 share. `rewrite` gets a freshly decoded source it may change.
 */
export function graphRewriteFormat(spec: {
  name: string;
  precision: Precision;
  description: string;
  rewrite(model: ModelProto, context: ConversionContext): RewriteResult;
}): Format {
  return {
    name: spec.name,
    precision: spec.precision,
    description: spec.description,
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
