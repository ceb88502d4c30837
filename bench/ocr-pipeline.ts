/**
 * An OCR-shaped pipeline for the CPU benchmark: text detector → crops (TypeScript) → angle
 * classifier → recognizer, over the models of src/models/ocr.ts, and synthetic document images.
 * The same class runs plain onnxruntime sessions or the navigator's modules: anything with `run`.
 */
import { Tensor } from 'onnxruntime-node';
import type { Feeds } from '../src';
import { TEXT_LINE_HEIGHT } from '../src/models';

export interface Runnable {
  run(feeds: Feeds): Promise<Record<string, Tensor>>;
}

/** Text lines read per image. */
const LINES = 3;
/** Crop positions are snapped to blocks of this many pixels, so small changes of the map move no box. */
const BLOCK = 32;
/** A crop is turned upside down when the classifier says so with at least this probability (PaddleOCR's cls_thresh). */
const FLIP_THRESHOLD = 0.9;

export class OcrPipeline {
  constructor(
    readonly detector: Runnable,
    readonly classifier: Runnable,
    readonly recognizer: Runnable,
  ) {}

  /** `image` [1, 3, H, W] (H, W multiples of 32) → recognizer logits [lines, steps, classes]. */
  async read(image: Tensor): Promise<Tensor> {
    const { probability } = await this.detector.run({ image });
    const crops = cropLines(image, probability);
    const { logits: angle } = await this.classifier.run({ pixel_values: crops });
    flipUpsideDown(crops, angle);
    const { logits } = await this.recognizer.run({ crops });
    return logits;
  }
}

/**
 * The crop step: the LINES bands of 32 rows with the highest mean text probability, each cut to the
 * span of its 32-column blocks at or above the band's mean (at least two blocks), then padded with
 * zeros to the widest: [LINES, 3, 32, width].
 */
export function cropLines(image: Tensor, probability: Tensor): Tensor {
  const [, , height, width] = image.dims;
  const p = probability.data as Float32Array;
  const rows = height / BLOCK, cols = width / BLOCK;
  const block = (r: number, c: number): number => {
    let sum = 0;
    for (let y = r * BLOCK; y < (r + 1) * BLOCK; y++) for (let x = c * BLOCK; x < (c + 1) * BLOCK; x++) sum += p[y * width + x];
    return sum / (BLOCK * BLOCK);
  };
  const scores = Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => block(r, c)));
  const bandMean = scores.map((s) => s.reduce((a, v) => a + v, 0) / cols);
  const bands = [...bandMean.keys()].sort((a, b) => bandMean[b] - bandMean[a]).slice(0, LINES).sort((a, b) => a - b);
  const spans = bands.map((r) => {
    const kept = scores[r].flatMap((s, c) => (s >= bandMean[r] ? [c] : []));
    const first = kept[0] ?? 0;
    const last = Math.max(kept[kept.length - 1] ?? 0, Math.min(first + 1, cols - 1));
    return { row: r * BLOCK, x0: first * BLOCK, x1: (last + 1) * BLOCK };
  });
  const cropWidth = Math.max(...spans.map((s) => s.x1 - s.x0));
  const src = image.data as Float32Array;
  const out = new Float32Array(LINES * 3 * TEXT_LINE_HEIGHT * cropWidth);
  spans.forEach(({ row, x0, x1 }, n) => {
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < TEXT_LINE_HEIGHT; y++) {
        const from = (ch * height + row + y) * width;
        const to = ((n * 3 + ch) * TEXT_LINE_HEIGHT + y) * cropWidth;
        out.set(src.subarray(from + x0, from + x1), to);
      }
    }
  });
  return new Tensor('float32', out, [LINES, 3, TEXT_LINE_HEIGHT, cropWidth]);
}

/** Rotates in place by 180° the crops whose upside-down probability (softmax of the 2 logits) passes the threshold. */
function flipUpsideDown(crops: Tensor, angle: Tensor): void {
  const logits = angle.data as Float32Array;
  const size = crops.data.length / crops.dims[0];
  const data = crops.data as Float32Array;
  for (let n = 0; n < crops.dims[0]; n++) {
    const upsideDown = 1 / (1 + Math.exp(logits[2 * n] - logits[2 * n + 1]));
    if (upsideDown < FLIP_THRESHOLD) continue;
    const plane = size / 3;
    for (let ch = 0; ch < 3; ch++) data.subarray(n * size + ch * plane, n * size + (ch + 1) * plane).reverse();
  }
}

/** Greedy CTC decoding of the logits: per line, the class ids with repeats and blanks (0) removed. */
export function ctcGreedy(logits: Tensor): number[][] {
  const [lines, steps, classes] = logits.dims;
  const data = logits.data as Float32Array;
  return Array.from({ length: lines }, (_, n) => {
    const ids: number[] = [];
    let previous = 0;
    for (let t = 0; t < steps; t++) {
      const row = data.subarray((n * steps + t) * classes, (n * steps + t + 1) * classes);
      const best = row.indexOf(Math.max(...row));
      if (best !== 0 && best !== previous) ids.push(best);
      previous = best;
    }
    return ids;
  });
}

/**
 * A synthetic document [1, 3, height, width], normalized to [-1, 1]: light paper with a few lines of
 * dark glyph-like blocks at seeded positions. The same seed and size give the same image.
 */
export function documentImage(height: number, width: number, seed: number): Tensor {
  let s = seed >>> 0;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const ink = new Float32Array(height * width);
  const lines = 2 + Math.floor(next() * 4);
  for (let l = 0; l < lines; l++) {
    const top = Math.floor(next() * (height - 24));
    const left = Math.floor(next() * width * 0.3);
    const right = left + Math.floor((0.3 + next() * 0.6) * (width - left));
    for (let x = left; x < right; x += 6 + Math.floor(next() * 6)) {
      const glyph = 3 + Math.floor(next() * 4), tall = 10 + Math.floor(next() * 10);
      for (let y = top; y < Math.min(top + tall, height); y++) for (let dx = 0; dx < glyph && x + dx < width; dx++) ink[y * width + x + dx] = 1;
    }
  }
  const data = new Float32Array(3 * height * width);
  for (let ch = 0; ch < 3; ch++) {
    for (let i = 0; i < ink.length; i++) data[ch * ink.length + i] = (0.9 - 0.75 * ink[i] + 0.05 * Math.sin(i * 0.013 + ch)) * 2 - 1;
  }
  return new Tensor('float32', data, [1, 3, height, width]);
}

