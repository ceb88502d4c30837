import { onnxFp16Format } from './formats/onnx-fp16';
import { onnxInt4Format } from './formats/onnx-int4';
import { onnxInt8Format } from './formats/onnx-int8';
import { onnxInt8StaticFormat } from './formats/onnx-int8-static';
import { onnxOptimizedFormat } from './formats/onnx-optimized';
import { onnxSourceFormat } from './formats/onnx-source';
import { onnxStaticFormat } from './formats/onnx-static';
import { tensorRTFormats } from './formats/tensorrt-engine';
import type { Format } from './core/plugin';
import { onnxCpuRunner } from './runners/onnx-cpu';
import { onnxCudaRunner } from './runners/onnx-cuda';
import { onnxTensorRtRunner } from './runners/onnx-tensorrt-ep';
import { onnxWebGpuRunner } from './runners/onnx-webgpu';
import { tensorRTRunner } from './runners/tensorrt';
import type { Runner } from './core/plugin';
import { Registry } from './registry';

/** Every format the navigator can produce; `targetFormats` names entries of this table. */
export const formatRegistry = new Registry<Format>('format');
/** Every runner the navigator can use; `runners` names entries of this table. */
export const runnerRegistry = new Registry<Runner>('runner');

for (const format of [
  onnxSourceFormat,
  onnxOptimizedFormat,
  onnxStaticFormat,
  onnxFp16Format,
  onnxInt8Format,
  onnxInt8StaticFormat,
  onnxInt4Format,
  ...tensorRTFormats,
]) formatRegistry.register(format);
for (const runner of [
  onnxCpuRunner,
  onnxWebGpuRunner,
  onnxCudaRunner,
  onnxTensorRtRunner,
  tensorRTRunner,
]) runnerRegistry.register(runner);

/** For users' own formats and runners: registered ones can then be named in the config. */
export function registerFormat(format: Format): void {
  formatRegistry.register(format);
}

export function registerRunner(runner: Runner): void {
  runnerRegistry.register(runner);
}
