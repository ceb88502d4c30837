import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession } from 'onnxruntime-node';
import type { Format } from './format';

/**
 * onnxruntime's offline-optimized graph. 'extended' is the highest level whose saved graph is still
 * portable across machines (above it ORT warns that the file is hardware-specific); sessions created
 * from it skip those rewrites and start faster.
 */
export const onnxOptimizedFormat: Format = {
  name: 'onnx-optimized',
  precision: 'fp32',
  description: "onnxruntime's graph optimizations (level 'extended') applied offline and saved",
  async convert({ source, outputDir }) {
    const target = path.join(outputDir, 'model.onnx');
    const partial = `${target}.partial`;
    const session = await InferenceSession.create(source.path, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'extended',
      logSeverityLevel: 3, // opset warnings of old models are noise here; failures still throw
      optimizedModelFilePath: partial,
    });
    await session.release();
    fs.renameSync(partial, target);
    return {
      artifact: { format: 'onnx-optimized', path: target, precision: 'fp32', sizeBytes: fs.statSync(target).size },
    };
  },
};
