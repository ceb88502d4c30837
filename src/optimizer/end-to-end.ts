import { Tensor } from 'onnxruntime-node';
import type { EndToEndThresholds } from '../core/config';
import type { Decision, EndToEndReport, LeafComparison } from '../core/status';
import { asNumbers, similarity } from '../tensors';
import { candidateOf, withDecisions, type PipelineContext, type StepOutcome } from './choices';
import { selectCandidate } from './select';


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

/**
 * Before committing to lower-precision choices, runs the whole pipeline with them and compares its
 * final results with the original pipeline's. While they drift too far, the least accurate
 * lower-precision module falls back to its best full-precision candidate.
 */
export async function endToEndStep(context: PipelineContext, choices: StepOutcome['choices'], settings: EndToEndThresholds & { enabled: boolean }): Promise<StepOutcome & { endToEnd: EndToEndReport }> {
  const skip = (summary: string) => ({ choices, notes: [], endToEnd: { checked: false, summary, worst: [], fallbacks: [] } });
  const lowered = context.modules.filter((m) => (candidateOf(m.status, choices.get(m.name))?.precision ?? 'fp32') !== 'fp32');
  if (!settings.enabled) return skip('disabled by config.endToEnd.enabled');
  if (lowered.length === 0) return skip('not needed: every module runs at full precision');
  const { original } = context;
  const repeatability = compareResults(original.firstResults, original.results);
  if (repeatability.length === 0 && !settings.compare) return skip('the pipeline returns no numeric results to compare');
  if (drifted(repeatability, { minCosine: 0.999999, maxRelativeError: 1e-6 }).length > 0) {
    return skip('the original pipeline gives different results on each pass, so they cannot be compared');
  }
  // Least accurate first: the module whose own outputs moved most is the likeliest cause.
  const relL2 = (m: (typeof lowered)[number]) => Math.max(0, ...(candidateOf(m.status, choices.get(m.name))?.correctness.outputs.map((o) => o.relL2) ?? []));
  const queue = [...lowered].sort((a, b) => relL2(b) - relL2(a));
  const fallbacks: string[] = [];
  let current = choices;
  for (;;) {
    await context.apply(current);
    const { bad, comparisons } = resultsDrift(await context.results(), original.results, settings);
    const worst = [...comparisons].sort((a, b) => a.cosine - b.cosine).slice(0, 3);
    const report = (summary: string) => ({ choices: current, notes: [], endToEnd: { checked: true, summary, worst, fallbacks } });
    if (bad.length === 0) {
      return report(`final outputs agree (${settings.compare ? 'config.endToEnd.compare' : `cosine >= ${settings.minCosine} and relative error <= ${settings.maxRelativeError}`})`);
    }
    const next = queue.shift();
    if (!next) return report('final outputs still drift with every module at full precision');
    const why = settings.compare ? 'config.endToEnd.compare said the results disagree' : `pipeline output ${bad[0].path}: cosine ${bad[0].cosine.toFixed(4)}, relative error ${bad[0].relL2.toExponential(2)}`;
    const decision = fallBack(next, current.get(next.name)!, why);
    fallbacks.push(`${next.name}: ${current.get(next.name)!.key} -> ${decision.key} (${why})`);
    current = withDecisions(current, [[next.name, decision]]);
  }
}

/** The module's best full-precision candidate, with every candidate of the rejected converted model ruled out. */
function fallBack(target: PipelineContext['modules'][number], rejected: Decision, why: string): Decision {
  const { status } = target;
  const format = candidateOf(status, rejected)!.format;
  // Every candidate of that converted model drifts alike, whatever its runner settings.
  const keys = status.candidates.filter((c) => c.format === format && c.status === 'passed').map((c) => c.key);
  const fullPrecision = status.candidates.filter((c) => c.precision === 'fp32' && c.status === 'passed');
  const choice = selectCandidate(fullPrecision, target.strategy, status.signature.batchSizes);
  return {
    step: 'end-to-end',
    key: choice?.candidate.key ?? status.baseline,
    reason: `end-to-end check rejected ${rejected.key}; ${choice?.reason ?? 'source'}`,
    rejected: { keys, reason: `passed its module checks, rejected by the end-to-end check (${why})` },
  };
}
