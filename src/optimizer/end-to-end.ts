import { Tensor } from 'onnxruntime-node';
import type { Strategy } from '../config/strategy';
import type { OnnxModule } from '../module/onnx-module';
import { ModuleStatus, baselineCandidate, selectedCandidate } from '../status';
import { asNumbers, similarity } from '../tensors';
import { bindSelected } from './binding';
import { describeSelection } from './module-optimizer';
import { selectCandidate } from './select';

/** One numeric leaf of the pipeline's results (a tensor, typed array, number array or number). */
export interface LeafComparison {
  /** Where in the results, e.g. 'item[1].image'. */
  path: string;
  cosine: number;
  /** ||candidate - original|| / ||original||. */
  relL2: number;
}

export interface EndToEndThresholds {
  minCosine: number;
  maxRelativeError: number;
  /** Replaces the two thresholds: whether the candidate pipeline's results agree with the original's. */
  compare?: (candidate: unknown[], original: unknown[]) => boolean;
}

export const defaultEndToEnd: EndToEndThresholds & { enabled: boolean } = { enabled: true, minCosine: 0.99, maxRelativeError: 0.05 };

/**
 * Compares the pipeline's final results item by item: every numeric leaf found in both, by path.
 * Results with no numeric leaves cannot be compared and yield an empty list.
 */
export function compareResults(candidate: unknown[], original: unknown[]): LeafComparison[] {
  const want = new Map<string, Float64Array>();
  original.forEach((result, i) => collectLeaves(result, `item[${i}]`, want));
  const got = new Map<string, Float64Array>();
  candidate.forEach((result, i) => collectLeaves(result, `item[${i}]`, got));
  const comparisons: LeafComparison[] = [];
  for (const [path, reference] of want) {
    const values = got.get(path);
    if (!values || values.length !== reference.length) {
      comparisons.push({ path, cosine: 0, relL2: Infinity });
      continue;
    }
    let dot = 0, a2 = 0, b2 = 0, d2 = 0;
    for (let i = 0; i < reference.length; i++) {
      const a = values[i], b = reference[i];
      dot += a * b; a2 += a * a; b2 += b * b; d2 += (a - b) * (a - b);
    }
    const { cosine, relL2 } = similarity(dot, a2, b2, d2);
    comparisons.push({ path, cosine: Number.isNaN(cosine) ? 0 : cosine, relL2 });
  }
  return comparisons;
}

export function drifted(comparisons: LeafComparison[], thresholds: EndToEndThresholds): LeafComparison[] {
  return comparisons.filter((c) => !(c.cosine >= thresholds.minCosine) || !(c.relL2 <= thresholds.maxRelativeError));
}

/** The leaves that drift, or (with a metric of the user's) one entry when it says the results disagree. */
export function resultsDrift(candidate: unknown[], original: unknown[], thresholds: EndToEndThresholds): { bad: LeafComparison[]; comparisons: LeafComparison[] } {
  const comparisons = compareResults(candidate, original);
  if (!thresholds.compare) return { bad: drifted(comparisons, thresholds), comparisons };
  const agree = thresholds.compare(candidate, original);
  return { bad: agree ? [] : [{ path: '(config.endToEnd.compare)', cosine: NaN, relL2: NaN }], comparisons };
}

function collectLeaves(value: unknown, path: string, out: Map<string, Float64Array>): void {
  if (value instanceof Tensor) {
    if (value.location === 'cpu' && value.type !== 'string') out.set(path, asNumbers(value));
  } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    out.set(path, Float64Array.from(value as unknown as ArrayLike<number>, Number));
  } else if (typeof value === 'number') {
    out.set(path, Float64Array.of(value));
  } else if (Array.isArray(value) && value.every((v) => typeof v === 'number')) {
    out.set(path, Float64Array.from(value));
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectLeaves(v, `${path}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) collectLeaves(v, `${path}.${key}`, out);
  }
}

/** What the end-to-end check did, for the status and the report. */
export interface EndToEndReport {
  checked: boolean;
  /** Why it was not run, or how it ended. */
  summary: string;
  /** The worst-matching final outputs of the last comparison. */
  worst: LeafComparison[];
  /** Modules moved back to full precision, least accurate first, with the reason. */
  fallbacks: string[];
}

export interface EndToEndModule {
  name: string;
  status: ModuleStatus;
  module: OnnxModule<unknown, unknown>;
  strategy: Strategy;
  moduleDir: string;
}

/**
 * Before committing to lower-precision choices, runs the whole pipeline with them and compares its
 * final results with the original pipeline's. While they drift too far, the least accurate
 * lower-precision module falls back to its best full-precision candidate.
 */
export async function enforceEndToEnd(
  modules: EndToEndModule[],
  run: () => Promise<unknown[]>,
  original: { results: unknown[]; firstResults: unknown[] },
  settings: EndToEndThresholds & { enabled: boolean },
): Promise<EndToEndReport> {
  const lowered = modules.filter((m) => precisionOf(m.status) !== 'fp32');
  const skip = (summary: string): EndToEndReport => ({ checked: false, summary, worst: [], fallbacks: [] });
  if (!settings.enabled) return skip('disabled by config.endToEnd.enabled');
  if (lowered.length === 0) return skip('not needed: every module runs at full precision');
  const repeatability = compareResults(original.firstResults, original.results);
  if (repeatability.length === 0 && !settings.compare) return skip('the pipeline returns no numeric results to compare');
  if (drifted(repeatability, { minCosine: 0.999999, maxRelativeError: 1e-6 }).length > 0) {
    return skip('the original pipeline gives different results on each pass, so they cannot be compared');
  }
  // Least accurate first: the module whose own outputs moved most is the likeliest cause.
  const queue = [...lowered].sort((a, b) => b.status.selected.maxRelL2 - a.status.selected.maxRelL2);
  const fallbacks: string[] = [];
  for (;;) {
    const { bad, comparisons } = resultsDrift(await run(), original.results, settings);
    const worst = [...comparisons].sort((a, b) => a.cosine - b.cosine).slice(0, 3);
    if (bad.length === 0) {
      const within = settings.compare ? 'config.endToEnd.compare' : `cosine >= ${settings.minCosine} and relative error <= ${settings.maxRelativeError}`;
      return { checked: true, summary: `final outputs agree (${within})`, worst, fallbacks };
    }
    const next = queue.shift();
    if (!next) return { checked: true, summary: 'final outputs still drift with every module at full precision', worst, fallbacks };
    const why = settings.compare ? 'config.endToEnd.compare said the results disagree' : `pipeline output ${bad[0].path}: cosine ${bad[0].cosine.toFixed(4)}, relative error ${bad[0].relL2.toExponential(2)}`;
    fallbacks.push(`${next.name}: ${next.status.selected.key} -> ${fallBack(next, why)} (${why})`);
    await bindSelected(next.module, next.status, next.moduleDir);
  }
}

function precisionOf(status: ModuleStatus): string {
  return selectedCandidate(status)?.precision ?? 'fp32';
}

/** Marks the module's lower-precision choice as rejected and selects its best full-precision candidate. */
function fallBack(target: EndToEndModule, why: string): string {
  const { status } = target;
  const rejected = selectedCandidate(status)!;
  // Every candidate of that converted model drifts alike, whatever its runner settings.
  for (const candidate of status.candidates.filter((c) => c.format === rejected.format && c.status === 'passed')) {
    candidate.status = 'failed';
    candidate.reason = `passed its module checks, rejected by the end-to-end check (${why})`;
  }
  const baseline = baselineCandidate(status);
  const fullPrecision = status.candidates.filter((c) => c.precision === 'fp32' && c.status === 'passed');
  const choice = selectCandidate(fullPrecision, target.strategy, status.signature.batchSizes) ?? { candidate: baseline, reason: 'source' };
  status.selected = describeSelection(choice.candidate, baseline, status.signature.batchSizes, `${choice.reason}; end-to-end check rejected ${rejected.key}`);
  return choice.candidate.key;
}
