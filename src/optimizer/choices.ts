import type { EndToEndThresholds, Strategy } from '../core/config';
import {
  baselineCandidate,
  type CandidateStatus,
  type Decision,
  type EndToEndReport,
  type ModuleStatus,
  type PipelineComparison,
  type SelectedCandidate,
  type UnseenComparison,
  observedLatency,
} from '../core/status';

/**
 * Selection as a value. Each module's choice is a Decision (which candidate, why); the module step
 * makes the first, and each pipeline-level step takes the current choices and returns new ones,
 * editing nothing. One apply step (apply.ts) binds the modules to a set of choices; the status
 * keeps the chain of decisions per module.
 */
export type Choices = ReadonlyMap<string, Decision>;

/** What every pipeline-level step is given. */
export interface PipelineContext {
  /** The modules optimized in this run: the only ones whose choices a step may change. */
  modules: { name: string; status: ModuleStatus; strategy: Strategy }[];
  /** Binds every module to these choices (modules whose choice did not change stay as they are). */
  apply(choices: Choices): Promise<void>;
  /** One pass over the dataloader with the modules as bound: the pipeline's final results. */
  results(): Promise<unknown[]>;
  /** The bound pipeline timed against the original, passes alternating. */
  time(): Promise<PipelineComparison>;
  /** The modules' calls at sizes capture never saw, replayed bound against original; undefined when no dynamic axis varied. */
  timeUnseen(): Promise<UnseenComparison | undefined>;
  /** The original pipeline's results, twice: the reference, and whether it repeats itself. */
  original: { results: unknown[]; firstResults: unknown[] };
  thresholds: EndToEndThresholds;
}

/** What one step returns: the choices it leaves, and what it has to say. */
export interface StepOutcome {
  choices: Choices;
  notes: string[];
  timing?: PipelineComparison;
  endToEnd?: EndToEndReport;
}

/** The candidate a decision names in a module's status. */
export function candidateOf(status: ModuleStatus, decision: Decision | undefined): CandidateStatus | undefined {
  return decision && status.candidates.find((c) => c.key === decision.key);
}

/** Whether a decision means the module's own original model: the baseline, with no runner settings over it. */
export function isPlainSource(status: ModuleStatus, decision: Decision | undefined): boolean {
  return decision?.key === status.baseline && Object.keys(decision.settings ?? {}).length === 0;
}

/** A new set of choices with some modules' decisions replaced. */
export function withDecisions(choices: Choices, changes: Iterable<[string, Decision]>): Choices {
  const next = new Map(choices);
  for (const [module, decision] of changes) next.set(module, decision);
  return next;
}

/** The selection summary of a decision: latency and speedup against the baseline at the observed batch sizes. */
export function summarize(status: ModuleStatus, decisions: Decision[]): SelectedCandidate {
  const last = decisions[decisions.length - 1];
  const baseline = baselineCandidate(status);
  const candidate = candidateOf(status, last) ?? baseline;
  const latencyMs = observedLatency(candidate.performance, status.signature.batchSizes);
  const sourceLatencyMs = observedLatency(baseline.performance, status.signature.batchSizes);
  return {
    key: candidate.key,
    reason: decisions.map((d) => d.reason).join('; '),
    ...(last.settings ? { settings: last.settings } : {}),
    latencyMs,
    sourceLatencyMs,
    speedup: sourceLatencyMs / latencyMs,
    maxRelL2: Math.max(0, ...candidate.correctness.outputs.map((o) => o.relL2)),
  };
}

/**
 * The status as committed: its decision chain, the selection it ends in, and the candidates a step
 * ruled out marked failed with that step's reason. A new object: the module step's status is not edited.
 */
export function finalStatus(status: ModuleStatus, decisions: Decision[]): ModuleStatus {
  const candidates = status.candidates.map((candidate) => {
    const rejection = decisions.find((d) => d.rejected?.keys.includes(candidate.key))?.rejected;
    return rejection && candidate.status === 'passed' ? { ...candidate, status: 'failed' as const, reason: rejection.reason } : candidate;
  });
  const gain = status.selected.gain; // the module step's head-to-head, whatever later steps chose
  return { ...status, candidates, decisions, selected: { ...summarize({ ...status, candidates }, decisions), ...(gain ? { gain } : {}) } };
}
