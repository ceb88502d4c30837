import { ENCODER_DEFAULTS, encoderGraph } from './encoder';
import { Net, conv2d, int64s, layerNorm, linear, newNet, scalar, silu } from './layers';

/**
 * Three small modules shaped like a latent text-to-image pipeline (text encoder → denoiser called in a
 * loop → image decoder). They are sized to run in about 0.2-3 ms each on one CPU core, so that the main
 * sample can optimize all of them end to end in well under a minute.
 */

export const TEXT_TOKENS = 16;
export const TEXT_DIM = 64;
export const LATENT_CHANNELS = 4;
export const LATENT_SIZE = 16;
export const IMAGE_SIZE = 64;

export interface TextToImageOptions {
  seed: number;
}

/** `input_ids` int64 [batch, 16] → `text_embedding` float32 [batch, 16, 64]: a 3-layer transformer encoder. */
export function buildTextEncoder(options: Partial<TextToImageOptions> = {}): Uint8Array {
  const net = newNet('text_encoder', options.seed ?? 1);
  encoderGraph(net, {
    ...ENCODER_DEFAULTS,
    layers: 3,
    hidden: TEXT_DIM,
    heads: 4,
    intermediate: 4 * TEXT_DIM,
    vocab: 1000,
    maxSeq: TEXT_TOKENS,
    sequence: TEXT_TOKENS,
    outputName: 'text_embedding',
  });
  net.b.output('text_embedding', 'float32', ['batch', TEXT_TOKENS, TEXT_DIM]);
  return net.b.toBytes();
}

/**
 * Sinusoidal timestep embedding followed by a 2-layer MLP, as diffusion UNets do:
 * t [batch] → [batch, channels, 1, 1], ready to broadcast over the feature map.
 */
function timestepEmbedding(net: Net, t: string, channels: number): string {
  const { b } = net;
  const half = 16;
  // Frequencies 1 / 10000^(i/half), i.e. from 1 down to 1/10000 geometrically.
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const angles = b.op('Mul', [b.op('Unsqueeze', [t, int64s(b, 'time.axis1', [1])]), b.constant('time.freqs', freqs, [1, half], 'float32')]);
  const sinusoid = b.op('Concat', [b.op('Sin', [angles]), b.op('Cos', [angles])], { axis: 1 });
  const h = silu(b, linear(net, sinusoid, 'time.linear_1', 2 * half, channels, Math.SQRT2));
  const emb = linear(net, h, 'time.linear_2', channels, channels, Math.SQRT2);
  return b.op('Unsqueeze', [emb, int64s(b, 'time.axes23', [2, 3])]);
}

/** conv → SiLU → conv, added back to the input: the denoiser's residual block. */
function resBlock(net: Net, x: string, name: string, channels: number): string {
  const h = silu(net.b, conv2d(net, x, `${name}.conv1`, channels, channels, 3, { bias: true }));
  // The branch is scaled down (gain 0.5) so the residual stream stays O(1).
  const branch = conv2d(net, h, `${name}.conv2`, channels, channels, 3, { bias: true, gain: 0.5 });
  return net.b.op('Add', [x, branch]);
}

/**
 * Cross-attention from the feature map (queries, one token per latent pixel) to the text embedding
 * (keys/values), with a residual: [batch, C, 16, 16] → [batch, C, 16, 16].
 */
function crossAttention(net: Net, x: string, text: string, channels: number, dim: number): string {
  const { b } = net;
  const tokens = b.op('Transpose', [b.op('Reshape', [x, int64s(b, 'attn.flatten', [0, channels, -1])])], { perm: [0, 2, 1] });
  const q = linear(net, layerNorm(net, tokens, 'attn.norm', channels), 'attn.to_q', channels, dim);
  const kT = b.op('Transpose', [linear(net, text, 'attn.to_k', TEXT_DIM, dim)], { perm: [0, 2, 1] });
  const v = linear(net, text, 'attn.to_v', TEXT_DIM, dim);
  const scores = b.op('Mul', [b.op('MatMul', [q, kT]), scalar(b, 'attn.scale', 1 / Math.sqrt(dim))]);
  const attended = b.op('MatMul', [b.op('Softmax', [scores], { axis: -1 }), v]);
  const out = b.op('Add', [tokens, linear(net, attended, 'attn.to_out', dim, channels)]);
  const back = b.op('Transpose', [out], { perm: [0, 2, 1] });
  return b.op('Reshape', [back, int64s(b, 'attn.unflatten', [0, channels, LATENT_SIZE, LATENT_SIZE])]);
}

export interface DenoiserOptions extends TextToImageOptions {
  /** Feature channels of the UNet-ish body. */
  channels: number;
}

/**
 * `latent` float32 [batch, 4, 16, 16], `timestep` float32 [batch], `text_embedding` float32
 * [batch, 16, 64] → `noise_pred` float32 [batch, 4, 16, 16].
 */
export function buildDenoiser(options: Partial<DenoiserOptions> = {}): Uint8Array {
  const { seed = 2, channels = 32 } = options;
  const net = newNet('denoiser', seed);
  const { b } = net;
  const latent = b.input('latent', 'float32', ['batch', LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE]);
  const timestep = b.input('timestep', 'float32', ['batch']);
  const text = b.input('text_embedding', 'float32', ['batch', TEXT_TOKENS, TEXT_DIM]);

  let h = conv2d(net, latent, 'conv_in', LATENT_CHANNELS, channels, 3, { bias: true, gain: 1 });
  h = b.op('Add', [h, timestepEmbedding(net, timestep, channels)]);
  h = resBlock(net, h, 'down', channels);
  h = crossAttention(net, h, text, channels, channels);
  h = resBlock(net, h, 'up', channels);
  const out = conv2d(net, silu(b, h), 'conv_out', channels, LATENT_CHANNELS, 3, { bias: true, gain: 1 });
  // Predicted noise = the latent plus a learned correction: the long skip a UNet has.
  b.node('Add', [latent, out], {}, { outputs: ['noise_pred'] });
  b.output('noise_pred', 'float32', ['batch', LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE]);
  return b.toBytes();
}

/** Nearest-neighbour 2x upsampling (Resize with scales, no roi). */
function upsample2x(net: Net, x: string, name: string): string {
  const { b } = net;
  const scales = b.constant(`${name}.scales`, new Float32Array([1, 1, 2, 2]), [4], 'float32');
  return b.op('Resize', [x, '', scales], { mode: 'nearest' });
}

/** `latent` float32 [batch, 4, 16, 16] → `image` float32 [batch, 3, 64, 64], values in (0, 1). */
export function buildImageDecoder(options: Partial<TextToImageOptions> = {}): Uint8Array {
  const net = newNet('image_decoder', options.seed ?? 3);
  const { b } = net;
  const latent = b.input('latent', 'float32', ['batch', LATENT_CHANNELS, LATENT_SIZE, LATENT_SIZE]);
  // ~65 MFLOP at batch 1, most of it in the two convs after the upsamplings.
  let h = silu(b, conv2d(net, latent, 'conv_in', LATENT_CHANNELS, 32, 3, { bias: true }));
  h = resBlock(net, h, 'mid', 32);
  h = silu(b, conv2d(net, upsample2x(net, h, 'up1'), 'up1.conv', 32, 32, 3, { bias: true })); // 32x32
  h = silu(b, conv2d(net, upsample2x(net, h, 'up2'), 'up2.conv', 32, 16, 3, { bias: true })); // 64x64
  // Gain 3 puts the pre-sigmoid values at std ~1, so the image uses the (0, 1) range rather than sitting at 0.5.
  const rgb = conv2d(net, h, 'conv_out', 16, 3, 3, { bias: true, gain: 3 });
  b.node('Sigmoid', [rgb], {}, { outputs: ['image'] });
  b.output('image', 'float32', ['batch', 3, IMAGE_SIZE, IMAGE_SIZE]);
  return b.toBytes();
}
