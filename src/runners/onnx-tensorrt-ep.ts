import { gpuProviderRunner, type GpuProviderSettings } from './onnx-cuda';
import type { Runner } from '../core/plugin';

/**
 * onnxruntime's TensorRT execution provider (TensorRT builds engines for the subgraphs it supports,
 * CUDA runs the rest). onnxruntime-node 1.30 passes it `deviceId` only: no `trt_fp16_enable`, no
 * engine cache, no profiles (microsoft/onnxruntime#26854), so it runs at TensorRT's defaults, fp32/tf32;
 * for fp16/int8 engines and profiles use the 'TensorRT' runner (the native addon) instead.
 */
export const onnxTensorRtRunner: Runner<GpuProviderSettings> = gpuProviderRunner('OnnxTensorRT', 'tensorrt');
