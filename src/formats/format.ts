import type { StoredSample } from '../capture/sample-store';
import type { ModuleSignature } from '../capture/signature';
import type { ModuleConfig } from '../config/module-config';
import type { ModelProto } from '../onnx/messages';

export type Precision = 'fp32' | 'tf32' | 'fp16' | 'bf16' | 'int8' | 'fp8' | 'int4';

/** A model file produced by a format: what runners load. */
export interface ModelArtifact {
  /** The format's name, e.g. 'onnx', 'onnx-int8', 'trt-fp16'. */
  format: string;
  /** Absolute path of the file runners load (an ONNX model or a TensorRT engine). */
  path: string;
  precision: Precision;
  sizeBytes: number;
  /** Set when the artifact only accepts these exact input shapes (e.g. static-shape specialization). */
  fixedShapes?: Record<string, number[]>;
}

export interface ConversionContext {
  module: string;
  /** The user's model, as given. */
  source: ModelArtifact;
  /** An empty directory of this format's own in the module's workspace. */
  outputDir: string;
  signature: ModuleSignature;
  config: ModuleConfig;
  /**
   * The source model, decoded afresh on each call (a conversion may change what it gets) over bytes
   * read once for all of a module's conversions, so that a large model is not in memory twice.
   */
  readSource(): ModelProto;
  /** The module's recorded calls (inputs and the source's outputs): calibration data for static quantization. */
  samples(): readonly StoredSample[];
  log(message: string): void;
}

export type ConversionResult = { artifact: ModelArtifact; notes?: string } | { notApplicable: string };

/**
 * A way of turning the source model into another file that runners can load.
 * A format that does not apply to a model returns `{ notApplicable: reason }`; one that fails throws.
 */
export interface Format {
  readonly name: string;
  readonly precision: Precision;
  readonly description: string;
  convert(context: ConversionContext): Promise<ConversionResult>;
}
