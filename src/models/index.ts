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
