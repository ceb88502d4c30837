import * as fs from 'fs';
import * as path from 'path';
import type { CallRecorder } from '../capture/recorder';
import { StoredSample, readSample } from '../capture/sample-store';
import type { ModuleConfig, Strategy } from '../core/config';
import { errorText } from '../core/errors';
import type { Feeds } from '../core/feeds';
import { loads, type Format, type ModelArtifact, type Runner, type RunnerSession, type RunnerVariant } from '../core/plugin';
import type { ModuleSignature } from '../core/signature';
import { BASELINE, BASELINE_KEY, CandidateStatus, Decision, Environment, GainCheck, ModuleStatus, OutputFlow, STATUS_FORMAT_VERSION, SelectedCandidate, candidateKey, observedLatency } from '../core/status';
import { optionsFor } from '../config/resolve';
import type { OnnxModule } from '../module/onnx-module';
import type { ModelProto } from '../onnx/messages';
import { formatRegistry, runnerRegistry } from '../plugins';
import type { Progress } from '../report/progress';
import { tileFeeds } from '../tensors';
import { writeFileAtomic } from '../workspace/atomic';
import { summarize } from './choices';
import { confirmGain } from './confirm';
import { unseenShapeFeeds } from './unseen-shapes';
import { checkCandidate } from './correctness';
import { collectGarbage, sharedSource } from './memory';
import { ProfilePoint, profileSession } from './profiler';
import { selectCandidate } from './select';

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
  /** The module's workspace folder, this run's folder inside it, and the workspace's folder for caches kept across runs. */
  moduleDir: string;
  runDir: string;
  cacheDir: string;
  recorder: CallRecorder;
  /** What capture learned of the module's calls, and where its outputs went. */
  signature: ModuleSignature;
  outputFlow: OutputFlow[];
  progress: Progress;
}

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

  // The baseline is always measured: every speedup is relative to it.
  const runners = config.runners.includes(BASELINE.runner) ? config.runners : [BASELINE.runner, ...config.runners];
  const runnerStatus: ModuleStatus['runners'] = [];
  const available: Runner[] = [];
  for (const runnerName of runners) {
    const runner = runnerRegistry.get(runnerName);
    const availability = await runner.availability();
    runnerStatus.push({ name: runnerName, available: availability.available, reason: availability.available ? availability.detail : availability.reason });
    if (availability.available) available.push(runner);
    else progress.unavailable(runnerName, availability.reason);
  }

  // Every candidate is checked on the same samples, which static quantization also calibrates on:
  // read them once (sampleCount bounds how many).
  const samples = job.recorder.sampleFiles.map((file) => ({ file, ...readSample(file) }));
  const formats = config.targetFormats.includes(BASELINE.format) ? config.targetFormats : [BASELINE.format, ...config.targetFormats];
  const candidates: Evaluated[] = [];
  const converted: string[] = [];
  const shared = sharedSource(source.path);
  for (const formatName of formats) {
    const format = formatRegistry.get(formatName);
    const users = runners.map((r) => runnerRegistry.get(r)).filter((r) => loads(r, format));
    if (users.length === 0) continue;
    const needed = available.some((r) => users.includes(r));
    const conversion = await convert(job, format, source, shared.read, samples, needed);
    if (formatName !== BASELINE.format && needed) converted.push(`${formatName} ${conversion.status.status === 'ok' ? `${conversion.status.ms} ms` : conversion.status.status}`);
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
  let choice = selectCandidate(selectable, config.strategy, signature.batchSizes) ?? { candidate: baseline, reason: 'no candidate passed; the source model stays' };
  // A choice must beat the source by more than the noise, unless the user named it.
  let gain: GainCheck | undefined;
  if (choice.candidate !== baseline && config.strategy.type !== 'selected') {
    const chosen = candidates.find((c) => c.status === choice.candidate)!;
    const source = candidates.find((c) => c.status === baseline)!;
    gain = await headToHead(job, chosen, source, focusPoints(config.strategy, chosen.status, points));
    if (gain && !gain.faster) {
      const range = (g: { speedup: number; speedupQuartiles: [number, number] }) => `${g.speedup.toFixed(2)}x (middle half ${g.speedupQuartiles.map((q) => q.toFixed(2)).join('-')}x)`;
      const figures = `${range(gain)} on the captured shapes${gain.unseen ? ` and ${range(gain.unseen)} on unseen ones` : ''}, ${gain.rounds} interleaved rounds`;
      choice = gain.unseenFailure
        ? { candidate: baseline, reason: `${choice.candidate.key} (${choice.reason}) failed on a size capture never saw that the source takes (${gain.unseenFailure}); the source model stays` }
        : { candidate: baseline, reason: `no measurable gain: ${choice.candidate.key} (${choice.reason}) ran ${figures}; the source model stays` };
    }
  }
  progress.step(name, `selected ${choice.candidate.key}: ${choice.reason}`);
  const decision: Decision = { step: 'module', key: choice.candidate.key, reason: choice.reason };

  const status: ModuleStatus = {
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
    decisions: [decision],
    selected: undefined as unknown as SelectedCandidate, // summarized just below, from the candidates above
    durationMs: Date.now() - started,
  };
  status.selected = { ...summarize(status, [decision]), ...(gain ? { gain } : {}) };
  return status;
}

/**
 * Where the strategy judged the candidate: the batch sizes the pipeline used for latency over
 * them, else the one batch size of its best latency or throughput.
 */
function focusPoints(strategy: Strategy, chosen: CandidateStatus, points: ProfilePoint[]): ProfilePoint[] {
  if (strategy.type === 'observedLatency' || chosen.performance.length === 0) return points.filter((p) => p.observed);
  const best = chosen.performance.reduce((a, b) =>
    strategy.type === 'minLatency' ? (b.p50Ms < a.p50Ms ? b : a) : b.throughput > a.throughput ? b : a,
  );
  return points.filter((p) => p.batchSize === best.batchSize);
}

/**
 * The chosen candidate against the source, interleaved, at the strategy's batch sizes (see
 * confirm.ts). Undefined where either session cannot be made again: the profile's figures then stand.
 */
async function headToHead(job: ModuleJob, chosen: Evaluated, source: Evaluated, points: ProfilePoint[]): Promise<GainCheck | undefined> {
  if (!chosen.artifact || !chosen.runner || !source.artifact || !source.runner) return undefined;
  const context = { module: job.name, signature: job.signature, workDir: job.runDir };
  const sessions: RunnerSession[] = [];
  try {
    sessions.push(await chosen.runner.createSession(chosen.artifact, chosen.status.variant, context));
    sessions.push(await source.runner.createSession(source.artifact, source.status.variant, context));
    const captured = points.map((p) => p.feeds);
    const unseen = captured.map((feeds) => unseenShapeFeeds(feeds, job.signature)).filter((feeds): feeds is Feeds => feeds !== undefined);
    job.progress.step(job.name, `confirm ${chosen.status.key} against the source, interleaved${unseen.length ? ', on captured and unseen shapes' : ''}`);
    return await confirmGain(sessions[0], sessions[1], captured, unseen, job.config.profiling.windowMs / 2);
  } catch {
    return undefined;
  } finally {
    for (const session of sessions) await session.release();
  }
}

interface Conversion {
  artifact?: ModelArtifact;
  status: CandidateStatus['conversion'];
}

async function convert(job: ModuleJob, format: Format, source: ModelArtifact, readSource: () => ModelProto, samples: readonly StoredSample[], needed: boolean): Promise<Conversion> {
  const formatName = format.name;
  if (formatName === BASELINE.format) return { artifact: source, status: { status: 'ok', ms: 0 } };
  if (!needed) return { status: { status: 'skipped', reason: 'no available runner loads this format' } };
  const outputDir = path.join(job.runDir, 'formats', formatName);
  fs.mkdirSync(outputDir, { recursive: true });
  job.progress.detail(job.name, `convert to ${formatName}`);
  const started = Date.now();
  try {
    const result = await format.convert({
      module: job.name,
      source,
      outputDir,
      cacheDir: job.cacheDir,
      signature: job.signature,
      config: job.config,
      options: optionsFor(format, job.config),
      readSource,
      samples: () => samples,
      log: (m) => job.progress.detail(job.name, `  ${formatName}: ${m}`),
    });
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
    key: candidateKey(format, runner.name, variant.id),
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
