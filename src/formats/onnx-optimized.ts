import * as fs from 'fs';
import * as path from 'path';
import { EXTERNAL_DATA_ABOVE_BYTES, EXTERNAL_TENSOR_THRESHOLD, keepsWeightsExternal } from '../onnx/converted-model';
import { readModel } from '../onnx/model-io';
import { RUNNER_KINDS, type Format } from '../core/plugin';
import { createInferenceSession } from '../onnx/inference-session';

/**
 * onnxruntime's offline-optimized graph. 'extended' is the highest level whose saved graph is still
 * portable across machines (above it ORT warns that the file is hardware-specific); sessions created
 * from it skip those rewrites and start faster.
 */
export const onnxOptimizedFormat: Format = {
  name: 'onnx-optimized',
  precision: 'fp32',
  description: "onnxruntime's graph optimizations (level 'extended') applied offline and saved",
  // Saved by the CPU provider's session: GPU providers would see nodes fused for the CPU.
  loadedBy: [RUNNER_KINDS.onnxruntimeCpu],
  async convert({ source, outputDir }) {
    const target = path.join(outputDir, 'model.onnx');
    const partial = `${target}.partial`;
    const dataFile = 'model.onnx.data';
    // A large model's weights (or one whose weights are already external) go to an external file:
    // ORT then streams them out instead of building one more in-memory protobuf of the whole model
    // (and a protobuf cannot pass 2 GB at all). A large .onnx file decides it without being read; a
    // small one is read on its own (not the module's shared copy of the source, which would then sit
    // in memory beside ORT's session) to see whether it points at external weights.
    const external = source.sizeBytes > EXTERNAL_DATA_ABOVE_BYTES || keepsWeightsExternal(readModel(source.path));
    const session = await createInferenceSession(source.path, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'extended',
      logSeverityLevel: 3, // opset warnings of old models are noise here; failures still throw
      optimizedModelFilePath: partial,
      extra: external
        ? { session: { optimized_model_external_initializers_file_name: dataFile, optimized_model_external_initializers_min_size_in_bytes: String(EXTERNAL_TENSOR_THRESHOLD) } }
        : {},
    });
    await session.release();
    fs.renameSync(partial, target);
    const sizeBytes = fs.statSync(target).size + (external ? fs.statSync(path.join(outputDir, dataFile)).size : 0);
    return { artifact: { format: 'onnx-optimized', path: target, precision: 'fp32', sizeBytes } };
  },
};
