import * as path from 'path';
import { singleton } from 'tsyringe';
import { CallRecorder } from '../capture/recorder';
import { ModuleConfigInput, OptimizeConfigInput } from '../config/optimize-config';
import { OptimizeConfig, definedOnly, moduleFieldsOf, resolveModuleConfig, validateConfig } from '../config/resolve';
import { Dataloader, DataloaderItem, collectItems } from '../dataloader';
import { environmentKey, environmentWithDevices } from '../environment';
import { NavigatorError } from '../errors';
import { Progress } from '../report/progress';
import { writeReports } from '../report/write';
import { ModuleEntry, pipelineOptionsOf, scanModules } from '../scanner';
import { ModuleStatus, OptimizeStatus, PipelineStatus, baselineCandidate, selectedCandidate } from '../status';
import { hashConfig, hashModel, toPlain } from '../workspace/hash';
import { Workspace } from '../workspace/workspace';
import { bindSelected } from './binding';
import { ResidentEntry, keepOutputsOnGpu, tensorFlow } from '../capture/tensor-flow'; // [tensor-flow]
import { ModuleJob, describeSelection, optimizeModule } from './module-optimizer';
import { PipelineCall, clearlySlower, comparePipelines, runPipeline } from './pipeline-timing';
import { EndToEndThresholds, defaultEndToEnd, enforceEndToEnd } from './end-to-end';
import { tryGpuAssignment } from './device-assignment';
import { NO_SPIN } from '../runners/onnx-cpu';

/** A function to optimize the standalone modules it calls, or a pipeline instance. */
export type OptimizeTarget = object;

export interface LoadResult {
  /** Per module: what it is bound to now, in words. */
  modules: Record<string, string>;
}

/** A module optimized in this run, as planned before any work starts: its settings, checked and hashed. */
type JobSettings = Omit<ModuleJob, 'runDir' | 'recorder' | 'signature'>;

interface Planned {
  entry: ModuleEntry;
  /** The cached status; for a module optimized in this run, this run's once optimizeModule returned. */
  status?: ModuleStatus;
  /** For a module optimized in this run: its settings... */
  settings?: JobSettings;
  /** ...its run folder and recorder, from capture on... */
  run?: { runDir: string; recorder: CallRecorder };
  /** ...and its job, once its calls are captured. */
  job?: ModuleJob;
}

/**
 * Runs the phases of inplace optimization: capture, convert, check, profile, select, cache, rebind,
 * report. One instance per process (a singleton in the container), so that services taking it from
 * the container, `optimize()` and `loadOptimized()` share the modules seen so far.
 */
@singleton()
export class Optimizer {
  /** Modules seen by optimize or load: what `loadOptimized()` with no target rebinds. */
  private readonly known = new Map<string, ModuleEntry>();

  async optimize(target: OptimizeTarget, dataloader: Dataloader, config: OptimizeConfig = {}): Promise<OptimizeStatus> {
    const started = Date.now();
    const pipelineOptions = pipelineOptionsOf(target);
    const global = validateConfig(OptimizeConfigInput, { ...pipelineOptions.config, ...config }, { what: 'optimizeConfig' });
    const entries = this.modulesOf(target);
    const call = pipelineCall(target, global.call ?? pipelineOptions.call);
    const items = await collectItems(dataloader);
    const workspace = new Workspace(global.workspace);
    const progress = new Progress(global.verbose ?? true);
    const environment = await environmentWithDevices();
    const envKey = environmentKey(environment);

    // Every config is validated and every model hashed before any work starts.
    let planned: Planned[] = entries.map((entry) => {
      const input = entry.ownConfig
        ? validateConfig(ModuleConfigInput, entry.ownConfig, { module: entry.name, what: 'optimizeConfig' })
        : moduleFieldsOf(global);
      const moduleConfig = resolveModuleConfig(input);
      const configPlain = toPlain(moduleConfig) as Record<string, unknown>;
      const configHash = hashConfig({ configPlain, envKey });
      const modelHash = hashModelOf(entry);
      const cached = workspace.readStatus(entry.name);
      if (!global.force && cached && cached.modelHash === modelHash && cached.configHash === configHash) {
        return { entry, status: cached };
      }
      const moduleDir = workspace.moduleDir(entry.name);
      return { entry, settings: { name: entry.name, module: entry.module, environment, config: moduleConfig, configPlain, configHash, modelHash, moduleDir, progress } };
    });

    const committed = new Set<string>();
    let pipeline: OptimizeStatus['pipeline'];
    try {
      if (planned.some((p) => p.settings)) {
        progress.info(`optimizing ${planned.filter((p) => p.settings).map((p) => p.entry.name).join(', ')} over ${items.length} dataloader items; workspace ${workspace.root}`);
        await this.capture(planned, call, items, workspace, progress);
        if (typeof target === 'function') {
          // A function target uses some of the standalone modules: the others are left alone.
          const idle = planned.filter((p) => p.entry.module.sourceCalls === 0);
          for (const p of idle) if (p.run) workspace.discard(p.run.runDir);
          planned = planned.filter((p) => !idle.includes(p));
          if (planned.length === 0) {
            throw new NavigatorError('called none of the modules wrapped with navModule(model, options)', {
              subject: 'optimize(fn)',
              fix: 'call the wrapped modules (the objects navModule returned) inside the function',
            });
          }
        }
      }
      // Every module the function called may have had a cached result: then only those are loaded.
      if (planned.some((p) => p.settings)) {
        for (const p of planned) {
          if (!p.settings || !p.run) continue;
          const signature = p.run.recorder.signature(); // throws, naming the module, if it was never called
          progress.step(p.entry.name, `captured ${signature.calls} calls, batch sizes ${JSON.stringify(signature.batchSizes)}, ${p.run.recorder.sampleFiles.length} samples kept`);
          p.job = { ...p.settings, ...p.run, signature };
        }
        const fresh = planned.filter((p): p is Planned & { job: ModuleJob } => p.job !== undefined);
        // The original pipeline's results, twice: the reference for the end-to-end check, and whether it repeats itself.
        const firstResults = await runPipeline(call, items);
        const before = { firstResults, results: await runPipeline(call, items) };
        // Conversions and candidate sessions each hold a copy of a large model: the original sessions
        // need not stay beside them (they are created again for the pipeline check).
        for (const { job } of fresh) await job.module.releaseSource();
        for (const p of fresh) {
          p.status = await optimizeModule(p.job);
          p.status.outputFlow = tensorFlow.flowsOf(p.entry.name); // [tensor-flow]
        }
        // The modules optimized in this run first, then the cached ones.
        await bindEach([...fresh, ...planned.filter((p) => !p.job)], workspace);
        const endToEndSettings = { ...defaultEndToEnd, ...definedOnly(global.endToEnd ?? {}) };
        const endToEnd = await enforceEndToEnd(
          fresh.map(({ entry, job, status }) => ({ name: entry.name, module: entry.module, strategy: job.config.strategy, moduleDir: job.moduleDir, status: status! })),
          () => runPipeline(call, items),
          before,
          endToEndSettings,
        );
        progress.info(`end-to-end check: ${endToEnd.summary}${endToEnd.fallbacks.length ? `; fell back: ${endToEnd.fallbacks.join('; ')}` : ''}`);
        await keepOnGpu(planned, workspace, progress); // [tensor-flow] after the end-to-end fallbacks, which may move a consumer to the CPU
        const check = { planned, call, items, workspace, progress, original: before.results, thresholds: endToEndSettings };
        pipeline = { ...(await this.checkPipeline(check)), endToEnd };
        for (const p of fresh) {
          workspace.commit(p.status!);
          committed.add(p.entry.name);
        }
      } else {
        progress.info(`every module has a cached result in ${workspace.root}; loading`);
        await bindAll(planned, workspace, progress); // [tensor-flow]
      }
    } catch (error) {
      // The previous packages stay whole: only this run's uncommitted folders go.
      for (const p of planned) if (p.run && !committed.has(p.entry.name)) workspace.discard(p.run.runDir);
      throw error;
    }

    const modules: OptimizeStatus['modules'] = {};
    for (const p of planned) if (p.status) modules[p.entry.name] = { ...p.status, cached: !p.settings };
    // optimize-report.{json,txt,html}; a start that timed no pipeline keeps the previous report's pipeline section.
    const written = writeReports({ modules, pipeline, workspace: workspace.root, durationMs: Date.now() - started });
    progress.print(`\n${written.report}\n`);
    // `pipeline` is what this start measured; the written reports keep the last measurement.
    return { modules, pipeline, workspace: workspace.root, durationMs: written.durationMs, report: written.report };
  }

  /** Rebinds every module of the target (or every module seen so far) to its cached selection. */
  async loadOptimized(target?: OptimizeTarget, options: { workspace?: string } = {}): Promise<LoadResult> {
    const workspace = new Workspace(options.workspace);
    const entries = target ? this.modulesOf(target) : [...this.known.values()];
    const modules: Record<string, string> = {};
    const bound: ResidentEntry[] = []; // [tensor-flow]
    for (const entry of entries) {
      const status = workspace.readStatus(entry.name);
      if (!status) {
        await entry.module.unbind('no cached result');
        modules[entry.name] = `kept the original: no cached result in ${workspace.moduleDir(entry.name)}`;
      } else if (status.modelHash !== hashModelOf(entry)) {
        await entry.module.unbind('model changed since optimization');
        modules[entry.name] = 'kept the original: the model changed since it was optimized; run optimize again';
      } else {
        modules[entry.name] = await bindSelected(entry.module, status, workspace.moduleDir(entry.name));
        bound.push({ module: entry.module, status, moduleDir: workspace.moduleDir(entry.name) }); // [tensor-flow]
      }
    }
    await keepOutputsOnGpu(bound, bindSelected); // [tensor-flow]
    return { modules };
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

  /** Runs the pipeline over the dataloader with every module on its original model, recording calls. */
  private async capture(planned: Planned[], call: PipelineCall, items: DataloaderItem[], workspace: Workspace, progress: Progress): Promise<void> {
    for (const p of planned) {
      await p.entry.module.unbind('capturing');
      p.entry.module.sourceCalls = 0;
    }
    for (const p of planned) {
      if (!p.settings) continue;
      const runDir = workspace.createRunDir(p.entry.name);
      const batching = p.entry.module.options?.batching ?? true;
      p.run = { runDir, recorder: new CallRecorder(p.entry.name, path.join(runDir, 'samples'), p.settings.config.sampleCount, batching) };
      p.entry.module.recorder = p.run.recorder;
    }
    progress.info('capture: running the pipeline over the dataloader');
    tensorFlow.start(); // [tensor-flow]
    try {
      await runPipeline(call, items);
    } finally {
      tensorFlow.stop(); // [tensor-flow]
      for (const p of planned) if (p.run) p.entry.module.recorder = undefined;
    }
  }

  /**
   * Times the rebound pipeline against the original, passes alternating. Modules chosen one by one
   * can slow each other down when they share the cores (idle onnxruntime threads spin); if the
   * rebound pipeline is slower, spinning is turned off, and if it is still slower every module goes
   * back to its source.
   */
  private async checkPipeline(check: PipelineCheck): Promise<Omit<PipelineStatus, 'endToEnd'>> {
    const { planned, call, items, workspace, progress } = check;
    const notes: string[] = [];
    const modules = planned.map((p) => p.entry.module);
    const compare = () => comparePipelines(call, items, (on) => modules.forEach((m) => (m.bypassed = on)));
    let timing = await compare();
    const assignment = await tryGpuAssignment(
      {
        modules: planned.flatMap((p) => (p.job ? [{ status: p.status!, strategy: p.job.config.strategy }] : [])),
        rebind: () => bindAll(planned, workspace, progress),
        time: compare,
        results: () => runPipeline(call, items),
        original: check.original,
        thresholds: check.thresholds,
      },
      timing,
    );
    if (assignment) {
      notes.push(assignment.note);
      timing = assignment.timing;
    }
    // With every module on its source there is nothing to take back: any gap is noise.
    const rebound = modules.some((m) => !m.binding.isSource);
    if (rebound && clearlySlower(timing)) {
      notes.push(`rebound pipeline took ${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms; turned off thread spinning`);
      for (const p of planned) {
        const status = p.status!;
        const selected = selectedCandidate(status);
        if (selected?.runner !== 'OnnxCPU') continue;
        await bindSelected(p.entry.module, status, workspace.moduleDir(status.module), { [NO_SPIN]: 0 });
        if (p.job) {
          selected.variant.settings = { ...selected.variant.settings, [NO_SPIN]: 0 };
          status.selected.reason += '; thread spinning off (pipeline interference)';
        }
      }
      timing = await compare();
    }
    if (rebound && clearlySlower(timing)) {
      notes.push(`still slower (${timing.afterMs.toFixed(1)} ms vs ${timing.beforeMs.toFixed(1)} ms): every module runs its original model`);
      const why = 'the rebound pipeline was slower than the original, so the source model runs';
      for (const p of planned) {
        await p.entry.module.unbind(why);
        const status = p.status!;
        if (p.job) {
          const baseline = baselineCandidate(status);
          // Keep the module-level reason too: why a candidate could not be selected is still true.
          status.selected = describeSelection(baseline, baseline, status.signature.batchSizes, `${status.selected.reason}; then ${why}`);
        }
      }
      timing = { ...timing, afterMs: timing.beforeMs, afterQuartilesMs: timing.beforeQuartilesMs };
    }
    progress.info(`pipeline: ${timing.beforeMs.toFixed(1)} ms before, ${timing.afterMs.toFixed(1)} ms after`);
    return { ...timing, speedup: timing.beforeMs / timing.afterMs, notes };
  }
}

/** What the pipeline-level checks need: the modules, how to run the pipeline, the original results. */
interface PipelineCheck {
  planned: Planned[];
  call: PipelineCall;
  items: DataloaderItem[];
  workspace: Workspace;
  progress: Progress;
  original: unknown[];
  thresholds: EndToEndThresholds;
}

/** Binds each module to its status's selection, in the order given. */
async function bindEach(planned: Planned[], workspace: Workspace): Promise<void> {
  for (const p of planned) await bindSelected(p.entry.module, p.status!, workspace.moduleDir(p.entry.name));
}

/** Binds every module, then keeps outputs that only feed GPU modules on the GPU. */
async function bindAll(planned: Planned[], workspace: Workspace, progress: Progress): Promise<void> {
  await bindEach(planned, workspace);
  await keepOnGpu(planned, workspace, progress); // [tensor-flow]
}

/** [tensor-flow] Outputs that only feed GPU modules stay on the GPU; the notes go to the progress log. */
async function keepOnGpu(planned: Planned[], workspace: Workspace, progress: Progress): Promise<void> {
  const entries: ResidentEntry[] = planned.map((p) => ({ module: p.entry.module, status: p.status!, moduleDir: workspace.moduleDir(p.entry.name) }));
  for (const note of await keepOutputsOnGpu(entries, bindSelected)) progress.info(note);
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
