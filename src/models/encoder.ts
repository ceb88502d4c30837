import type { Dim } from '../onnx/builder';
import { Net, gelu, int64s, layerNorm, linear, newNet, scalar } from './layers';

/**
 * BERT-shaped transformer encoder, with the node patterns a PyTorch export has (MatMul + Add linears,
 * Reshape/Transpose heads, Div-scaled scores, Softmax, Erf GELU, LayerNormalization), so the graph
 * optimizers meet what they would meet in a real model.
 *
 * Inputs `input_ids` int64 [batch, sequence] (and `attention_mask` int64 [batch, sequence] when asked)
 * → output float32 [batch, sequence, hidden].
 */
export interface EncoderOptions {
  layers: number;
  hidden: number;
  heads: number;
  /** FFN width, 4·hidden in BERT. */
  intermediate: number;
  vocab: number;
  /** Rows of the position embedding table: the longest sequence the model accepts. */
  maxSeq: number;
  /** The sequence dimension: symbolic by default, a number to fix it. */
  sequence: Dim;
  /** Add an `attention_mask` input (1 = attend, 0 = padding), applied as an additive -10000 bias. */
  attentionMask: boolean;
  outputName: string;
  seed: number;
  name: string;
}

export const ENCODER_DEFAULTS: EncoderOptions = {
  layers: 2,
  hidden: 32,
  heads: 2,
  intermediate: 128,
  vocab: 100,
  maxSeq: 64,
  sequence: 'sequence',
  attentionMask: false,
  outputName: 'last_hidden_state',
  seed: 0,
  name: 'encoder',
};

/**
 * Word embedding (Gather) + position embedding for positions 0..seq-1 (Slice of the table up to
 * Shape(input_ids)[1], so the sequence length stays dynamic), then LayerNorm.
 */
function embeddings(net: Net, ids: string, o: EncoderOptions, output?: string): string {
  const { b } = net;
  // Embedding rows are LayerNorm'ed right away, so their scale does not matter; BERT's is ~0.02-0.05.
  const words = b.op('Gather', [b.randomWeight('embeddings.word_embeddings.weight', [o.vocab, o.hidden], 0.05), ids]);
  const positionTable = b.randomWeight('embeddings.position_embeddings.weight', [o.maxSeq, o.hidden], 0.05);
  const seqLen = b.op('Shape', [ids], { start: 1, end: 2 });
  const positions = b.op('Slice', [positionTable, int64s(b, 'embeddings.pos_start', [0]), seqLen, int64s(b, 'embeddings.pos_axes', [0])]);
  return layerNorm(net, b.op('Add', [words, positions]), 'embeddings.LayerNorm', o.hidden, output);
}

/** (1 - mask)·-10000 as [batch, 1, 1, seq], added to every layer's attention scores. */
function maskBias(net: Net, mask: string): string {
  const { b } = net;
  const keep = b.op('Cast', [mask], { to: 1 /* FLOAT */ });
  const masked = b.op('Sub', [scalar(b, 'mask.one', 1), keep]);
  const bias = b.op('Mul', [masked, scalar(b, 'mask.neg', -10000)]);
  return b.op('Unsqueeze', [bias, int64s(b, 'mask.axes', [1, 2])]);
}

/** [batch, seq, hidden] → [batch, heads, seq, headDim] (or [batch, heads, headDim, seq] for keys). */
function splitHeads(net: Net, x: string, shape: string, keys: boolean): string {
  const reshaped = net.b.op('Reshape', [x, shape]);
  return net.b.op('Transpose', [reshaped], { perm: keys ? [0, 2, 3, 1] : [0, 2, 1, 3] });
}

/** Multi-head self-attention including the output projection; returns [batch, seq, hidden]. */
function selfAttention(net: Net, x: string, name: string, hidden: number, heads: number, bias?: string): string {
  const { b } = net;
  const headDim = hidden / heads;
  if (!Number.isInteger(headDim)) throw new Error(`hidden ${hidden} is not divisible by heads ${heads}`);
  const headShape = int64s(b, `${name}.head_shape`, [0, 0, heads, headDim]);
  const q = splitHeads(net, linear(net, x, `${name}.query`, hidden, hidden), headShape, false);
  const kT = splitHeads(net, linear(net, x, `${name}.key`, hidden, hidden), headShape, true);
  const v = splitHeads(net, linear(net, x, `${name}.value`, hidden, hidden), headShape, false);
  let scores = b.op('Div', [b.op('MatMul', [q, kT]), scalar(b, `${name}.scale`, Math.sqrt(headDim))]);
  if (bias) scores = b.op('Add', [scores, bias]);
  const context = b.op('MatMul', [b.op('Softmax', [scores], { axis: -1 }), v]);
  const merged = b.op('Reshape', [
    b.op('Transpose', [context], { perm: [0, 2, 1, 3] }),
    int64s(b, `${name}.merge_shape`, [0, 0, hidden]),
  ]);
  return linear(net, merged, `${name}.output`, hidden, hidden);
}

/** Post-LN BERT layer: x = LN(x + attn(x)); x = LN(x + W2·gelu(W1·x)). */
function encoderLayer(net: Net, x: string, name: string, o: EncoderOptions, bias?: string, output?: string): string {
  const { b } = net;
  const attn = selfAttention(net, x, `${name}.attention`, o.hidden, o.heads, bias);
  const h = layerNorm(net, b.op('Add', [x, attn]), `${name}.attention.LayerNorm`, o.hidden);
  const inner = gelu(b, linear(net, h, `${name}.intermediate`, o.hidden, o.intermediate), `${name}.gelu`);
  const ffn = linear(net, inner, `${name}.ffn_output`, o.intermediate, o.hidden);
  return layerNorm(net, b.op('Add', [h, ffn]), `${name}.output.LayerNorm`, o.hidden, output);
}

/** Adds the encoder to `net`; its last LayerNorm writes the tensor `o.outputName` (not yet a graph output). */
export function encoderGraph(net: Net, o: EncoderOptions): string {
  const { b } = net;
  const ids = b.input('input_ids', 'int64', ['batch', o.sequence]);
  const bias = o.attentionMask ? maskBias(net, b.input('attention_mask', 'int64', ['batch', o.sequence])) : undefined;
  const outputOf = (layer: number): string | undefined => (layer === o.layers - 1 ? o.outputName : undefined);
  let x = embeddings(net, ids, o, outputOf(-1));
  for (let i = 0; i < o.layers; i++) x = encoderLayer(net, x, `encoder.layer.${i}`, o, bias, outputOf(i));
  return x;
}

export function buildTransformerEncoder(options: Partial<EncoderOptions> = {}): Uint8Array {
  const o: EncoderOptions = { ...ENCODER_DEFAULTS, ...options };
  const net = newNet(o.name, o.seed);
  encoderGraph(net, o);
  net.b.output(o.outputName, 'float32', ['batch', o.sequence, o.hidden]);
  return net.b.toBytes();
}

/** BERT-base shapes: 12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522, 512 positions. */
export function bertBase(options: Partial<EncoderOptions> = {}): Uint8Array {
  return buildTransformerEncoder({
    layers: 12,
    hidden: 768,
    heads: 12,
    intermediate: 3072,
    vocab: 30522,
    maxSeq: 512,
    name: 'bert_base',
    ...options,
  });
}

/** Tests' encoder: 2 layers, hidden 32, 2 heads, vocab 100. */
export function tinyEncoder(options: Partial<EncoderOptions> = {}): Uint8Array {
  return buildTransformerEncoder({ ...ENCODER_DEFAULTS, name: 'tiny_encoder', ...options });
}
