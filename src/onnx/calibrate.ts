/**
 * Activation ranges for static quantization, from the module's recorded calls: the float model runs
 * in onnxruntime with the tensors of interest added as graph outputs, and each tensor's values are
 * summarized as they come (min, max and a histogram of |x|), so no call's tensors are kept.
 *
 * Methods (as onnxruntime's calibrators): minmax keeps the observed range; percentile clips |x| at
 * the given percentile; entropy clips at the threshold whose 128-level quantization of the |x|
 * histogram diverges least (KL) from the histogram itself, as TensorRT's calibrator does.
 */
import * as fs from 'fs';
import type { CalibrationSettings } from '../core/config';
import type { Feeds } from '../core/feeds';
import { saveConvertedModel } from './converted-model';
import type { ModelProto } from './messages';
import { createInferenceSession } from './inference-session';

export interface TensorRange {
  min: number;
  max: number;
}

const BINS = 2048;
const QUANTIZED_BINS = 128;

/**
 * Runs `model` (written under `workDir`) on each feed with `names` as extra graph outputs, and
 * calls `visit` with each run's outputs. `source` is the model it was read from (external data).
 */
export async function runWithOutputs(
  model: ModelProto,
  source: ModelProto,
  workDir: string,
  names: readonly string[],
  feeds: readonly Feeds[],
  visit: (outputs: Feeds, index: number) => void,
): Promise<void> {
  const present = new Set((model.graph?.output ?? []).map((o) => o.name));
  const extra = names.filter((name) => !present.has(name)).map((name) => ({ name }));
  // onnxruntime infers the type of an output declared by name only.
  const augmented: ModelProto = { ...model, graph: { ...model.graph, output: [...(model.graph?.output ?? []), ...extra] } };
  fs.mkdirSync(workDir, { recursive: true });
  const saved = saveConvertedModel(augmented, workDir, source);
  // The navigator's own session: never one that interceptSessions would hand back as a module.
  const session = await createInferenceSession(saved.path, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    for (let i = 0; i < feeds.length; i++) visit((await session.run(feeds[i])) as Feeds, i);
  } finally {
    await session.release();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

/** The range of each of `names` over the calibration feeds, by `settings.method`. */
export async function calibrate(
  model: ModelProto,
  source: ModelProto,
  workDir: string,
  names: readonly string[],
  feeds: readonly Feeds[],
  settings: CalibrationSettings,
): Promise<Map<string, TensorRange>> {
  const stats = new Map(names.map((name) => [name, new TensorStats(settings.method !== 'minmax')]));
  await runWithOutputs(model, source, workDir, names, feeds, (outputs) => {
    for (const [name, stat] of stats) {
      const tensor = outputs[name];
      if (tensor?.type === 'float32') stat.add(tensor.data as Float32Array);
    }
  });
  const ranges = new Map<string, TensorRange>();
  for (const [name, stat] of stats) {
    if (!stat.seen) continue;
    const limit = settings.method === 'percentile' ? stat.percentile(settings.percentile) : settings.method === 'entropy' ? stat.entropyThreshold() : Infinity;
    ranges.set(name, { min: Math.max(stat.min, -limit), max: Math.min(stat.max, limit) });
  }
  return ranges;
}

/** Running min, max and (when asked) a histogram of |x| over [0, absMax], widened as larger values arrive. */
class TensorStats {
  min = Infinity;
  max = -Infinity;
  seen = false;
  private histogram = new Float64Array(BINS);
  private width = 0; // of one bin; 0 until a non-zero value arrives

  constructor(private readonly keepHistogram: boolean) {}

  add(values: Float32Array): void {
    let min = this.min, max = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.min = min;
    this.max = max;
    this.seen ||= values.length > 0;
    if (!this.keepHistogram) return;
    const absMax = Math.max(-min, max);
    if (absMax === 0 || !Number.isFinite(absMax)) return;
    if (absMax > this.width * BINS) this.widen(absMax);
    const scale = 1 / this.width;
    for (let i = 0; i < values.length; i++) {
      const bin = Math.min(BINS - 1, Math.floor(Math.abs(values[i]) * scale));
      if (bin >= 0) this.histogram[bin]++;
    }
  }

  /** Re-bins the counts so far into bins covering [0, absMax]: each old bin's count goes to where its centre falls. */
  private widen(absMax: number): void {
    const width = absMax / BINS;
    const next = new Float64Array(BINS);
    if (this.width > 0) {
      for (let i = 0; i < BINS; i++) if (this.histogram[i]) next[Math.min(BINS - 1, Math.floor(((i + 0.5) * this.width) / width))] += this.histogram[i];
    }
    this.histogram = next;
    this.width = width;
  }

  /** The |x| below which `percent` of the values lie. */
  percentile(percent: number): number {
    const total = this.histogram.reduce((a, b) => a + b, 0);
    if (total === 0) return Infinity;
    let sum = 0;
    for (let i = 0; i < BINS; i++) {
      sum += this.histogram[i];
      if (sum >= (total * percent) / 100) return (i + 1) * this.width;
    }
    return BINS * this.width;
  }

  /** TensorRT's KL-divergence threshold over the |x| histogram (candidates every 16 bins, for speed). */
  entropyThreshold(): number {
    const hist = this.histogram;
    if (hist.every((c) => c === 0)) return Infinity;
    let best = BINS, bestKl = Infinity;
    for (let i = QUANTIZED_BINS; i <= BINS; i += 16) {
      // P: the first i bins, with everything beyond folded into the last.
      const p = Float64Array.from(hist.subarray(0, i));
      for (let j = i; j < BINS; j++) p[i - 1] += hist[j];
      // Q: the first i bins merged into QUANTIZED_BINS levels, spread back over their non-empty bins.
      const q = new Float64Array(i);
      const per = i / QUANTIZED_BINS;
      for (let level = 0; level < QUANTIZED_BINS; level++) {
        const start = Math.floor(level * per), end = level === QUANTIZED_BINS - 1 ? i : Math.floor((level + 1) * per);
        let sum = 0, nonEmpty = 0;
        for (let j = start; j < end; j++) if (hist[j]) { sum += hist[j]; nonEmpty++; }
        for (let j = start; j < end; j++) if (hist[j]) q[j] = sum / nonEmpty;
      }
      const kl = divergence(p, q);
      if (kl < bestKl) { bestKl = kl; best = i; }
    }
    return best * this.width;
  }
}

/** KL(P || Q) of two unnormalized histograms; bins where P is 0 add nothing, where only Q is 0 a large penalty. */
function divergence(p: Float64Array, q: Float64Array): number {
  let pSum = 0, qSum = 0;
  for (let i = 0; i < p.length; i++) { pSum += p[i]; qSum += q[i]; }
  if (pSum === 0 || qSum === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const pi = p[i] / pSum;
    const qi = q[i] / qSum;
    kl += pi * Math.log(pi / (qi > 0 ? qi : 1e-12));
  }
  return kl;
}
