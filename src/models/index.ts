/** Deterministic ONNX model generators for samples, tests and benchmarks (no model hub needed). */
export { buildResNet, resnet50, tinyResNet, RESNET_DEFAULTS } from './cnn';
export type { ResNetOptions } from './cnn';
export { buildTransformerEncoder, bertBase, tinyEncoder, ENCODER_DEFAULTS } from './encoder';
export type { EncoderOptions } from './encoder';
export {
  buildTextEncoder,
  buildDenoiser,
  buildImageDecoder,
  TEXT_TOKENS,
  TEXT_DIM,
  LATENT_CHANNELS,
  LATENT_SIZE,
  IMAGE_SIZE,
} from './text-to-image';
export type { TextToImageOptions, DenoiserOptions } from './text-to-image';
export { buildMobileNet, mobileNetV2, MOBILENET_DEFAULTS, MOBILENET_V2_STAGES } from './mobilenet';
export type { MobileNetOptions } from './mobilenet';
export { buildTextDetector, buildTextClassifier, buildTextRecognizer, TEXT_LINE_HEIGHT, TEXT_CLASSES, RECOGNIZER_STRIDE } from './ocr';
export type { OcrModelOptions } from './ocr';
export { withConstantWeights, mobileNetV2Legacy } from './legacy-export';
