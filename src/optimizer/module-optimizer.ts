import * as fs from 'fs';
import * as path from 'path';
import type { CallRecorder } from '../capture/recorder';
import { StoredSample, readSample } from '../capture/sample-store';
import type { ModuleSignature } from '../capture/signature';
import type { ModuleConfig } from '../config/module-config';
import type { Environment } from '../environment';
import { errorText } from '../errors';
import type { ModelArtifact } from '../formats/format';
import type { OnnxModule } from '../module/onnx-module';
import { formatRegistry, runnerRegistry } from '../plugins';
import type { Progress } from '../report/progress';
import type { Runner, RunnerVariant } from '../runners/runner';
import { CandidateStatus, ModuleStatus, STATUS_FORMAT_VERSION, SelectedCandidate } from '../status';
import { tileFeeds } from '../tensors';
import { writeFileAtomic } from '../workspace/atomic';
import { checkCandidate } from './correctness';
import { collectGarbage, sharedSource } from './memory';
import type { ModelProto } from '../onnx/messages';
import { ProfilePoint, profileSession } from './profiler';
import { observedLatency, selectCandidate } from './select';

/** Everything one module's optimization needs, gathered by the optimizer. */
export interface ModuleJob {
  name: string;
  module: OnnxModule<unknown, unknown>;
  /** This machine, with the devices discovery found: recorded in the status. */
  environment: Environment;
  config: ModuleConfig;
  configPlain: Record<string, unknown>;
  configHash: string;
  modelHash: string;
  /** The module's workspace folder, and this run's folder inside it. */
  moduleDir: string;
  runDir: string;
  recorder: CallRecorder;
  /** What capture learned of the module's calls. */
  signature: ModuleSignature;
  progress: Progress;
}

export const BASELINE_KEY = 'onnx/OnnxCPU/default';
const GPU_WARMUP_MS = 1500;

interface Evaluated {
  status: CandidateStatus;
  artifact?: ModelArtifact;
  runner?: Runner;
}

/**
 * Converts, checks, profiles and selects for one module whose calls were captured. Every candidate
 * ends up in the status: passed, failed or skipped, each with its reason.
 */
export async function optimizeModule(job: ModuleJob): Promise<ModuleStatus> {
  const started = Date.now();
  const { name, config, progress, signature } = job;
  const source = sourceArtifact(job);

  const runners = config.runners.includes('OnnxCPU') ? config.runners : ['OnnxCPU', ...config.runners];
  const runnerStatus: ModuleStatus['runners'] = [];
  const available: Runner[] = [];
  for (const runnerName of runners) {
    const runner = runnerRegistry.get(runnerName);
    const availability = await runner.availability();
    runnerStatus.push({ name: runnerName, available: availability.available, reason: availability.available ? availability.detail : availability.reason });
    if (availability.available) available.push(runner);
    else progress.unavailable(runnerName, availability.reason);
  }

  const formats = config.targetFormats.includes('onnx') ? config.targetFormats : ['onnx', ...config.targetFormats];
  const candidates: Evaluated[] = [];
  const converted: string[] = [];
  const shared = sharedSource(source.path);
  for (const formatName of formats) {
    const users = runners.map((r) => runnerRegistry.get(r)).filter((r) => r.formats.includes(formatName));
    if (users.length === 0) continue;
    const needed = available.some((r) => users.includes(r));
    const conversion = await convert(job, formatName, source, shared.read, needed);
    if (formatName !== 'onnx' && needed) converted.push(`${formatName} ${conversion.status.status === 'ok' ? `${conversion.status.ms} ms` : conversion.status.status}`);
    collectGarbage(); // the conversion's copy of the model, before the next one makes its own
    for (const runner of users) {
      const status = candidateStatus(job, formatName, runner, defaultVariant(runner, job, conversion.artifact ?? source), conversion);
      const availability = runnerStatus.find((r) => r.name === runner.name);
      if (!availability?.available) skip(status, `runner ${runner.name} is not available here: ${availability?.reason}`);
      candidates.push({ status, artifact: conversion.artifact, runner });
    }
  }
  shared.release();
  collectGarbage();
  if (converted.length) progress.step(name, `convert: ${converted.join(', ')}`);

  // Every candidate is checked on the same samples: read them once (sampleCount bounds how many).
  const samples = job.recorder.sampleFiles.map((file) => ({ file, ...readSample(file) }));
  const points = profilePoints(job, samples);
  const counter = progress.counter(name, 'check and profile candidates', candidates.filter((c) => c.status.status === 'passed').length);
  for (const candidate of candidates) {
    if (candidate.status.status !== 'passed') continue;
    await evaluate(job, candidate, samples, points);
    counter.tick(candidate.status.key);
  }

  // Second stage: each runner's best format also tries the runner's other settings.
  for (const runner of available) {
    const best = bestOf(candidates.filter((c) => c.runner === runner && c.status.status === 'passed'), signature);
    if (!best?.artifact) continue;
    const variants = runner.variants(variantContext(job, best.artifact)).slice(1);
    counter.add(variants.length);
    for (const variant of variants) {
      const conversion = { artifact: best.artifact, status: best.status.conversion };
      const candidate: Evaluated = { status: candidateStatus(job, best.status.format, runner, variant, conversion), artifact: best.artifact, runner };
      candidates.push(candidate);
      await evaluate(job, candidate, samples, points);
      counter.tick(candidate.status.key);
    }
  }
  counter.done(`${statusCount(candidates, 'passed')} passed, ${statusCount(candidates, 'failed')} failed, ${statusCount(candidates, 'skipped')} skipped`);

  const statuses = candidates.map((c) => c.status);
  const baseline = statuses.find((c) => c.key === BASELINE_KEY) as CandidateStatus;
  const selectable = statuses.filter((c) => config.targetFormats.includes(c.format) && config.runners.includes(c.runner));
  const choice = selectCandidate(selectable, config.strategy, signature.batchSizes) ?? { candidate: baseline, reason: 'no candidate passed; the source model stays' };
  progress.step(name, `selected ${choice.candidate.key}: ${choice.reason}`);

  return {
    formatVersion: STATUS_FORMAT_VERSION,
    module: name,
    createdAt: new Date().toISOString(),
    modelHash: job.modelHash,
    configHash: job.configHash,
    config: job.configPlain,
    environment: job.environment,
    signature,
    source: source.path,
    runDir: path.basename(job.runDir),
    samples: job.recorder.sampleFiles.length,
    runners: runnerStatus,
    candidates: statuses,
    baseline: BASELINE_KEY,
    selected: describeSelection(choice.candidate, baseline, signature.batchSizes, choice.reason),
    durationMs: Date.now() - started,
  };
}

/** The selection summary: latency and speedup against the baseline at the observed batch sizes. */
export function describeSelection(candidate: CandidateStatus, baseline: CandidateStatus, batchSizes: Record<string, number>, reason: string): SelectedCandidate {
  const latencyMs = observedLatency(candidate.performance, batchSizes);
  const sourceLatencyMs = observedLatency(baseline.performance, batchSizes);
  return {
    key: candidate.key,
    reason,
    latencyMs,
    sourceLatencyMs,
    speedup: sourceLatencyMs / latencyMs,
    maxRelL2: Math.max(0, ...candidate.correctness.outputs.map((o) => o.relL2)),
  };
}

interface Conversion {
  artifact?: ModelArtifact;
  status: CandidateStatus['conversion'];
}

async function convert(job: ModuleJob, formatName: string, source: ModelArtifact, readSource: () => ModelProto, needed: boolean): Promise<Conversion> {
  if (formatName === 'onnx') return { artifact: source, status: { status: 'ok', ms: 0 } };
  if (!needed) return { status: { status: 'skipped', reason: 'no available runner loads this format' } };
  const format = formatRegistry.get(formatName);
  const outputDir = path.join(job.runDir, 'formats', formatName);
  fs.mkdirSync(outputDir, { recursive: true });
  job.progress.detail(job.name, `convert to ${formatName}`);
  const started = Date.now();
  try {
    const result = await format.convert({ module: job.name, source, outputDir, signature: job.signature, config: job.config, readSource, log: (m) => job.progress.detail(job.name, `  ${formatName}: ${m}`) });
    const ms = Date.now() - started;
    if ('notApplicable' in result) {
      job.progress.detail(job.name, `${formatName} not applicable: ${result.notApplicable}`);
      return { status: { status: 'skipped', ms, reason: result.notApplicable } };
    }
    return { artifact: result.artifact, status: { status: 'ok', ms, reason: result.notes } };
  } catch (error) {
    job.progress.step(job.name, `${formatName} conversion failed: ${errorText(error)}`);
    return { status: { status: 'failed', ms: Date.now() - started, reason: errorText(error) } };
  }
}

function candidateStatus(job: ModuleJob, format: string, runner: Runner, variant: RunnerVariant, conversion: Conversion): CandidateStatus {
  const artifact = conversion.artifact;
  const status: CandidateStatus = {
    key: `${format}/${runner.name}/${variant.id}`,
    format,
    runner: runner.name,
    variant: { id: variant.id, settings: variant.settings },
    precision: artifact?.precision ?? formatRegistry.get(format).precision,
    file: artifact && artifact.format !== 'onnx' ? path.relative(job.moduleDir, artifact.path) : undefined,
    sizeBytes: artifact?.sizeBytes,
    fixedShapes: artifact?.fixedShapes,
    conversion: conversion.status,
    correctness: { status: 'skipped', outputs: [] },
    verify: { status: 'skipped' },
    performance: [],
    status: 'passed',
  };
  if (conversion.status.status !== 'ok') skip(status, `conversion ${conversion.status.status}: ${conversion.status.reason}`, conversion.status.status === 'failed');
  return status;
}

function skip(status: CandidateStatus, reason: string, failed = false): void {
  status.status = failed ? 'failed' : 'skipped';
  status.reason = reason;
}

/** Creates the candidate's session, checks it on every sample and, if it passed, profiles it. */
async function evaluate(job: ModuleJob, candidate: Evaluated, samples: readonly StoredSample[], points: ProfilePoint[]): Promise<void> {
  const { status, artifact, runner } = candidate;
  if (!artifact || !runner) return;
  job.progress.detail(job.name, `check ${status.key}`);
  let session;
  try {
    session = await runner.createSession(artifact, status.variant, { module: job.name, signature: job.signature, workDir: job.runDir });
  } catch (error) {
    return skip(status, `session creation failed: ${errorText(error)}`, true);
  }
  try {
    const tolerance = job.config.tolerances[status.precision];
    const checks = await checkCandidate(session, samples, tolerance, job.config.verifyFunc);
    status.correctness = checks.correctness;
    status.verify = checks.verify;
    if (checks.correctness.status !== 'ok') skip(status, `correctness: ${checks.correctness.reason}`, true);
    else if (checks.verify.status === 'failed') skip(status, `verifyFunc: ${checks.verify.reason}`, true);
    // A failed candidate is not timed, except the baseline: every speedup is measured against it.
    if (status.status !== 'passed' && status.key !== BASELINE_KEY) return;
    job.progress.detail(job.name, `profile ${status.key}`);
    // A GPU that sat idle while CPU candidates ran clocks down and compiles shaders on first use:
    // without a longer warm-up its first windows are stable, but slow (seen on the H100).
    const warmupMs = runner.device === 'gpu' ? GPU_WARMUP_MS : job.config.profiling.windowMs / 2;
    status.performance = await profileSession(session, points.filter((p) => session.accepts(p.feeds)), job.config.profiling, warmupMs);
    if (status.performance.length === 0) skip(status, 'accepts none of the profiled input shapes');
  } catch (error) {
    skip(status, errorText(error), true);
  } finally {
    await session.release();
  }
}

function statusCount(candidates: Evaluated[], status: CandidateStatus['status']): number {
  return candidates.filter((c) => c.status.status === status).length;
}

function bestOf(candidates: Evaluated[], signature: ModuleSignature): Evaluated | undefined {
  const latency = (c: Evaluated) => observedLatency(c.status.performance, signature.batchSizes);
  return candidates.filter((c) => c.status.performance.length > 0).reduce<Evaluated | undefined>((a, b) => (!a || latency(b) < latency(a) ? b : a), undefined);
}

function variantContext(job: ModuleJob, artifact: ModelArtifact) {
  return { module: job.name, signature: job.signature, artifact, config: job.config };
}

function defaultVariant(runner: Runner, job: ModuleJob, artifact: ModelArtifact): RunnerVariant {
  return runner.variants(variantContext(job, artifact))[0];
}

/** The user's model as a file: their path, or the bytes they gave written into this run's folder. */
function sourceArtifact(job: ModuleJob): ModelArtifact {
  const model = job.module.model;
  let file: string;
  if (typeof model === 'string') file = path.resolve(model);
  else {
    file = path.join(job.runDir, 'source.onnx');
    writeFileAtomic(file, model);
  }
  return { format: 'onnx', path: file, precision: 'fp32', sizeBytes: fs.statSync(file).size };
}

/** Observed batch sizes, plus the configured ones (or powers of two up to maxBatchSize). */
function profilePoints(job: ModuleJob, samples: readonly StoredSample[]): ProfilePoint[] {
  const { signature } = job;
  const base = samples[job.recorder.representativeIndex()];
  if (!signature.batching) return [{ batchSize: base.inputs[signature.inputs[0].name]?.dims[0] ?? 1, feeds: base.inputs, observed: true }];
  const observed = Object.keys(signature.batchSizes).map(Number);
  const extra = new Set(job.config.batchSizes);
  if (job.config.batchSizes.length === 0) {
    const max = job.config.maxBatchSize ?? Math.max(...observed);
    for (let size = 1; size <= max; size *= 2) extra.add(size);
    extra.add(max);
  }
  const sizes = [...new Set([...observed, ...extra])];
  return sizes.map((batchSize) => ({ batchSize, feeds: tileFeeds(base.inputs, batchSize), observed: observed.includes(batchSize) }));
}
