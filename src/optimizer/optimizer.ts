import * as path from 'path';
import { singleton } from 'tsyringe';
import { captureCalls } from '../capture/capture';
import { CallRecorder } from '../capture/recorder';
import { ModuleConfigInput, OptimizeConfigInput } from '../config/optimize-config';
import { OptimizeConfig, definedOnly, moduleFieldsOf, resolveModuleConfig, validateConfig } from '../config/resolve';
import { NavigatorError } from '../core/errors';
import type { ModuleStatus, OptimizeStatus, PipelineStatus } from '../core/status';
import { Dataloader, DataloaderItem, collectItems } from '../dataloader';
import { environmentKey, environmentWithDevices } from '../environment';
import { controlOf } from '../module/onnx-module';
import { Progress } from '../report/progress';
import { writeReports } from '../report/write';
import type { PipelineOptions } from '../../decorators/pipeline';
import { ModuleEntry, pipelineOptionsOf, scanModules, standaloneEntries } from '../scanner';
import { hashConfig, hashModel, toPlain } from '../workspace/hash';
import { Workspace } from '../workspace/workspace';
import { Binder, type ApplyTarget } from './apply';
import { finalStatus, type Choices, type PipelineContext, type StepOutcome } from './choices';
import { deviceAssignmentStep, uniformAssignmentStep } from './device-assignment';
import { defaultEndToEnd, endToEndStep } from './end-to-end';
import { ModuleJob, optimizeModule } from './module-optimizer';
import { PipelineCall, comparePipelines, pipelineTimingStep, quietThreadsStep, runPipeline } from './pipeline-timing';
import { compareUnseenReplay, unseenReplays, unseenShapesStep } from './unseen-shapes';

/** A function to optimize the standalone modules it calls, or a pipeline instance. */
export type OptimizeTarget = object;

export interface LoadResult {
  /** Per module: what it is bound to now, in words. */
  modules: Record<string, string>;
}

/** A module optimized in this run, as planned before any work starts: its settings, checked and hashed. */
type JobSettings = Omit<ModuleJob, 'runDir' | 'recorder' | 'signature' | 'outputFlow'>;

/** A module of the target: cached (its status) or to optimize in this run (its settings). */
type Planned = { entry: ModuleEntry; cached: ModuleStatus } | { entry: ModuleEntry; settings: JobSettings };

/** A module optimized in this run, once its calls are captured. */
interface Fresh {
  entry: ModuleEntry;
  job: ModuleJob;
}

/**
 * Runs the phases of inplace optimization, in the order the dataloader meets them: plan (validate
 * and hash), capture, reference results, per-module optimization (convert, check, profile, select),
 * the pipeline-level steps over the choices (end-to-end, device assignment, interference), apply,
 * commit, report. One instance per process (a singleton in the container), so that services taking
 * it from the container, `optimize()` and `loadOptimized()` share the modules seen so far.
 */
@singleton()
export class Optimizer {
  /** Modules seen by optimize or load: what `loadOptimized()` with no target rebinds. */
  private readonly known = new Map<string, ModuleEntry>();
  /** The workspace each module was last optimized into by this process: where loadOptimized looks when given none. */
  private readonly optimizedInto = new Map<string, string>();

  /**
   * One optimize per workspace at a time, across processes and within this one: the rest waits (see
   * Workspace.lock). `bindCached: false` leaves modules of an all-cached start unbound: bootstrap
   * with serving loads their selections into worker threads instead, with no main-thread session first.
   */
  async optimize(target: OptimizeTarget, dataloader: Dataloader, config: OptimizeConfig = {}, { bindCached = true } = {}): Promise<OptimizeStatus> {
    const pipelineOptions = pipelineOptionsOf(target);
    const global = validateConfig(OptimizeConfigInput, { ...pipelineOptions.config, ...config }, { what: 'optimizeConfig' });
    const workspace = new Workspace(global.workspace);
    const release = await workspace.lock({ timeoutMs: global.lockTimeoutMs, onWait: (message) => new Progress(true).warn(message) });
    try {
      const result = await this.optimizeLocked(target, dataloader, global, pipelineOptions.call, workspace, bindCached);
      for (const name of Object.keys(result.modules)) this.optimizedInto.set(name, workspace.root);
      return result;
    } finally {
      release();
    }
  }

  private async optimizeLocked(
    target: OptimizeTarget,
    dataloader: Dataloader,
    global: OptimizeConfigInput,
    pipelineCallOption: PipelineOptions<never>['call'],
    workspace: Workspace,
    bindCached: boolean,
  ): Promise<OptimizeStatus> {
    const started = Date.now();
    const entries = this.modulesOf(target);
    const call = pipelineCall(target, global.call ?? pipelineCallOption);
    const items = await collectItems(dataloader);
    const progress = new Progress(global.verbose ?? true);
    const planned = await plan(entries, global, workspace, progress);
    const runDirs: string[] = [];
    try {
      let pipeline: PipelineStatus | undefined;
      let statuses: ModuleStatus[];
      let cached: Set<string>;
      const toOptimize = planned.filter((p): p is Extract<Planned, { settings: JobSettings }> => 'settings' in p);
      if (toOptimize.length === 0) {
        progress.info(`every module has a cached result in ${workspace.root}${bindCached ? '; loading' : ''}`);
        statuses = planned.map((p) => (p as Extract<Planned, { cached: ModuleStatus }>).cached);
        cached = new Set(entries.map((e) => e.name));
        if (bindCached) await this.bind(planned.map((p) => ({ entry: p.entry, status: statuses.find((s) => s.module === p.entry.name)!, workspace })), progress);
      } else {
        progress.info(`optimizing ${toOptimize.map((p) => p.entry.name).join(', ')} over ${items.length} dataloader items; workspace ${workspace.root}`);
        const { fresh, used } = await capture(target, planned, call, items, workspace, progress, runDirs);
        cached = new Set(used.filter((p) => 'cached' in p).map((p) => p.entry.name));
        // The original pipeline's results, twice: the reference for the end-to-end check, and whether it repeats itself.
        const firstResults = await runPipeline(call, items);
        const original = { firstResults, results: await runPipeline(call, items) };
        // Conversions and candidate sessions each hold a copy of a large model: the original sessions
        // need not stay beside them (they are created again for the pipeline check).
        for (const { entry } of fresh) await controlOf(entry.module).releaseSource();
        const optimized = new Map<string, ModuleStatus>();
        for (const { entry, job } of fresh) optimized.set(entry.name, { ...(await optimizeModule(job)), outputFlow: job.outputFlow });
        const outcome = await pipelineSteps(fresh, optimized, used, { call, items, original, workspace, progress, global });
        pipeline = outcome.pipeline;
        statuses = used.map((p) => ('cached' in p ? p.cached : outcome.statuses.get(p.entry.name)!));
        for (const { entry } of fresh) workspace.commit(outcome.statuses.get(entry.name)!);
        runDirs.length = 0; // committed: no longer this run's to discard
      }
      const modules: OptimizeStatus['modules'] = {};
      for (const status of statuses) modules[status.module] = { ...status, cached: cached.has(status.module) };
      // optimize-report.{json,txt,html}; a start that timed no pipeline keeps the previous report's pipeline section.
      const written = writeReports({ modules, pipeline, workspace: workspace.root, durationMs: Date.now() - started });
      progress.print(`\n${written.report}\n`);
      // `pipeline` is what this start measured; the written reports keep the last measurement.
      return { modules, pipeline, workspace: workspace.root, durationMs: written.durationMs, report: written.report };
    } catch (error) {
      // The previous packages stay whole: only this run's uncommitted folders go.
      for (const dir of runDirs) workspace.discard(dir);
      throw error;
    }
  }

  /**
   * Rebinds every module of the target to its cached selection; with no target, every module seen so
   * far and every standalone module (such as the sessions interceptSessions made).
   */
  async loadOptimized(target?: OptimizeTarget, options: { workspace?: string } = {}): Promise<LoadResult> {
    if (!target) for (const entry of standaloneEntries()) this.known.set(entry.name, entry);
    const entries = target ? this.modulesOf(target) : [...this.known.values()];
    const modules: Record<string, string> = {};
    const loadable: { entry: ModuleEntry; status: ModuleStatus; workspace: Workspace }[] = [];
    for (const entry of entries) {
      const workspace = new Workspace(options.workspace ?? this.optimizedInto.get(entry.name));
      const read = workspace.readCache(entry.name);
      if (!('status' in read)) {
        await controlOf(entry.module).unbind(read.unreadable);
        modules[entry.name] = `kept the original: ${read.unreadable}`;
      } else if (read.status.modelHash !== hashModelOf(entry)) {
        await controlOf(entry.module).unbind('model changed since optimization');
        modules[entry.name] = 'kept the original: the model changed since it was optimized; run optimize again';
      } else {
        loadable.push({ entry, status: read.status, workspace });
      }
    }
    Object.assign(modules, (await this.bind(loadable)).modules);
    return { modules };
  }

  /** Binds modules to the selections of their statuses (the apply step, with no choices of this run). */
  private async bind(modules: { entry: ModuleEntry; status: ModuleStatus; workspace: Workspace }[], progress?: Progress) {
    const binder = new Binder(modules.map(({ entry, status, workspace }) => applyTarget(entry, status, workspace)));
    const applied = await binder.apply(new Map());
    for (const note of applied.notes) progress?.info(note);
    return applied;
  }

  private modulesOf(target: OptimizeTarget): ModuleEntry[] {
    const entries = scanModules(target);
    if (entries.length === 0) {
      throw new NavigatorError('found no modules to optimize', {
        subject: typeof target === 'function' ? 'optimize(fn)' : target.constructor.name,
        fix: 'annotate model properties with @navModule({ name }), or wrap models with navModule(model, { name })',
      });
    }
    for (const entry of entries) this.known.set(entry.name, entry);
    return entries;
  }
}

/** Every config is validated and every model hashed before any work starts; matching cached results are reused. */
async function plan(entries: ModuleEntry[], global: OptimizeConfigInput, workspace: Workspace, progress: Progress): Promise<Planned[]> {
  const environment = await environmentWithDevices();
  const envKey = environmentKey(environment);
  return entries.map((entry) => {
    const input = entry.ownConfig
      ? validateConfig(ModuleConfigInput, entry.ownConfig, { module: entry.name, what: 'optimizeConfig' })
      : moduleFieldsOf(global);
    const moduleConfig = resolveModuleConfig(input);
    const configPlain = toPlain(moduleConfig) as Record<string, unknown>;
    const configHash = hashConfig({ configPlain, envKey });
    const modelHash = hashModelOf(entry);
    const read = workspace.readCache(entry.name);
    if ('unreadable' in read && !read.absent) progress.warn(`module "${entry.name}": the cached result is unusable, optimizing again: ${read.unreadable}`);
    const cached = 'status' in read ? read.status : undefined;
    if (!global.force && cached && cached.modelHash === modelHash && cached.configHash === configHash) return { entry, cached };
    const settings: JobSettings = {
      name: entry.name,
      module: entry.module,
      environment,
      config: moduleConfig,
      configPlain,
      configHash,
      modelHash,
      moduleDir: workspace.moduleDir(entry.name),
      cacheDir: workspace.cacheDir(),
      progress,
    };
    return { entry, settings };
  });
}

/**
 * Runs the pipeline over the dataloader with every module on its original model, recording the
 * calls of the modules to optimize. A function target uses some of the standalone modules: the ones
 * it did not call are left out (and their run folders removed).
 */
async function capture(
  target: OptimizeTarget,
  planned: Planned[],
  call: PipelineCall,
  items: DataloaderItem[],
  workspace: Workspace,
  progress: Progress,
  runDirs: string[],
): Promise<{ fresh: Fresh[]; used: Planned[] }> {
  const recorders = new Map<string, { runDir: string; recorder: CallRecorder }>();
  for (const p of planned) {
    if (!('settings' in p)) continue;
    const runDir = workspace.createRunDir(p.entry.name);
    runDirs.push(runDir);
    const batching = p.entry.module.options?.batching ?? true;
    recorders.set(p.entry.name, { runDir, recorder: new CallRecorder(p.entry.name, path.join(runDir, 'samples'), p.settings.config.sampleCount, batching) });
  }
  progress.info('capture: running the pipeline over the dataloader');
  const captured = await captureCalls(
    planned.map((p) => ({ name: p.entry.name, module: p.entry.module, recorder: recorders.get(p.entry.name)?.recorder })),
    () => runPipeline(call, items),
  );
  let used = planned;
  if (typeof target === 'function') {
    used = planned.filter((p) => captured.calls(p.entry.name) > 0);
    for (const p of planned) if (!used.includes(p) && recorders.has(p.entry.name)) workspace.discard(recorders.get(p.entry.name)!.runDir);
    if (used.length === 0) {
      throw new NavigatorError('called none of the modules wrapped with navModule(model, options)', {
        subject: 'optimize(fn)',
        fix: 'call the wrapped modules (the objects navModule returned) inside the function',
      });
    }
  }
  const fresh: Fresh[] = [];
  for (const p of used) {
    if (!('settings' in p)) continue;
    const { runDir, recorder } = recorders.get(p.entry.name)!;
    const signature = recorder.signature(); // throws, naming the module, if it was never called
    progress.step(p.entry.name, `captured ${signature.calls} calls, batch sizes ${JSON.stringify(signature.batchSizes)}, ${recorder.sampleFiles.length} samples kept`);
    fresh.push({ entry: p.entry, job: { ...p.settings, runDir, recorder, signature, outputFlow: captured.flows(p.entry.name) } });
  }
  return { fresh, used };
}

/**
 * The pipeline-level steps, each over the choices the previous one left: the end-to-end check of
 * lower precisions, a consistent device assignment, and the interference check. Each module's chain
 * of decisions goes into its final status.
 */
async function pipelineSteps(
  fresh: Fresh[],
  optimized: Map<string, ModuleStatus>,
  used: Planned[],
  run: { call: PipelineCall; items: DataloaderItem[]; original: PipelineContext['original']; workspace: Workspace; progress: Progress; global: OptimizeConfigInput },
): Promise<{ statuses: Map<string, ModuleStatus>; pipeline: PipelineStatus }> {
  const { call, items, workspace, progress } = run;
  const all = used.map((p) => ({ entry: p.entry, status: 'cached' in p ? p.cached : optimized.get(p.entry.name)! }));
  const binder = new Binder(all.map(({ entry, status }) => applyTarget(entry, status, workspace)));
  const controls = all.map(({ entry }) => controlOf(entry.module));
  const useOriginal = (on: boolean) => controls.forEach((control) => control.useOriginal(on));
  const thresholds = { ...defaultEndToEnd, ...definedOnly(run.global.endToEnd ?? {}) };
  const context: PipelineContext = {
    modules: fresh.map(({ entry, job }) => ({ name: entry.name, status: optimized.get(entry.name)!, strategy: job.config.strategy })),
    apply: async (choices) => {
      for (const note of (await binder.apply(choices)).notes) progress.info(note);
    },
    results: () => runPipeline(call, items),
    time: () => comparePipelines(call, items, useOriginal),
    timeUnseen: async () => {
      const replays = unseenReplays(fresh.map(({ entry, job }) => ({ name: entry.name, module: entry.module, signature: job.signature, sampleFiles: job.recorder.sampleFiles })));
      return replays.length > 0 ? compareUnseenReplay(replays, useOriginal) : undefined;
    },
    original: run.original,
    thresholds,
  };
  const chains = new Map(fresh.map(({ entry }) => [entry.name, [...optimized.get(entry.name)!.decisions]]));
  let choices: Choices = new Map([...chains].map(([name, chain]) => [name, chain[chain.length - 1]]));
  /** Takes a step's choices, adding each changed decision to its module's chain. */
  const take = (outcome: StepOutcome) => {
    for (const [name, decision] of outcome.choices) if (choices.get(name) !== decision) chains.get(name)?.push(decision);
    choices = outcome.choices;
  };
  const notes: string[] = [];

  await context.apply(choices);
  const endToEnd = await endToEndStep(context, choices, thresholds);
  take(endToEnd);
  progress.info(`end-to-end check: ${endToEnd.endToEnd.summary}${endToEnd.endToEnd.fallbacks.length ? `; fell back: ${endToEnd.endToEnd.fallbacks.join('; ')}` : ''}`);
  const threads = quietThreadsStep(context, choices, all.length);
  take(threads);
  notes.push(...threads.notes);
  await context.apply(choices);
  let timing = await context.time();
  const assignment = await deviceAssignmentStep(context, choices, timing);
  if (assignment) {
    take(assignment);
    notes.push(...assignment.notes);
    timing = assignment.timing ?? timing;
  }
  const uniform = await uniformAssignmentStep(context, choices, timing);
  if (uniform) {
    take(uniform);
    notes.push(...uniform.notes);
    timing = uniform.timing ?? timing;
  }
  // Only where modules share the pipeline: one module alone met unseen shapes in its head-to-head already.
  const unseen = all.length > 1 ? await unseenShapesStep(context, choices) : undefined;
  if (unseen) {
    take(unseen);
    notes.push(...unseen.notes);
    if (unseen.reverted) timing = await context.time();
  }
  const judged = await pipelineTimingStep(context, choices, timing);
  take(judged);
  notes.push(...judged.notes);
  timing = judged.timing;
  progress.info(`pipeline: ${timing.beforeMs.toFixed(1)} ms before, ${timing.afterMs.toFixed(1)} ms after`);

  const statuses = new Map(fresh.map(({ entry }) => [entry.name, finalStatus(optimized.get(entry.name)!, chains.get(entry.name)!)]));
  return { statuses, pipeline: { ...timing, speedup: timing.beforeMs / timing.afterMs, notes, endToEnd: endToEnd.endToEnd, ...(unseen && { unseen: unseen.unseen }) } };
}

function applyTarget(entry: ModuleEntry, status: ModuleStatus, workspace: Workspace): ApplyTarget {
  return { name: entry.name, module: entry.module, status, moduleDir: workspace.moduleDir(entry.name) };
}

function hashModelOf(entry: ModuleEntry): string {
  try {
    return hashModel(entry.module.model);
  } catch (error) {
    throw new NavigatorError('cannot read the model file', {
      module: entry.name,
      subject: typeof entry.module.model === 'string' ? entry.module.model : 'model bytes',
      cause: error,
      fix: 'check the path given to new OnnxModule(path)',
    });
  }
}

/** How one dataloader item runs the target: the function itself, or `call(pipeline, ...args)`. */
function pipelineCall(target: OptimizeTarget, call: ((pipeline: never, ...args: never[]) => unknown) | undefined): PipelineCall {
  if (typeof target === 'function') return async (...args) => (target as (...a: unknown[]) => unknown)(...args);
  if (call) return async (...args) => (call as (p: object, ...a: unknown[]) => unknown)(target, ...args);
  const run = (target as { run?: unknown }).run;
  if (typeof run !== 'function') {
    throw new NavigatorError(`does not say how to run one dataloader item`, {
      subject: target.constructor.name,
      fix: 'pass config.call: (pipeline, ...args) => pipeline.myMethod(...args), or give the pipeline a run(...args) method',
    });
  }
  return async (...args) => run.apply(target, args);
}
