import * as path from 'path';
import { injectable } from 'tsyringe';
import { CallRecorder } from '../capture/recorder';
import { ModuleConfigInput, OptimizeConfigInput } from '../config/optimize-config';
import { OptimizeConfig, definedOnly, moduleFieldsOf, resolveModuleConfig, validateConfig } from '../config/resolve';
import { Dataloader, DataloaderItem, collectItems } from '../dataloader';
import { environmentKey, environmentWithDevices } from '../environment';
import { NavigatorError } from '../errors';
import { Progress } from '../report/progress';
import { formatCandidates, formatReport } from '../report/table';
import { ModuleEntry, pipelineOptionsOf, scanModules } from '../scanner';
import type { ModuleStatus, OptimizeStatus, PipelineStatus } from '../status';
import { writeFileAtomic, writeJsonAtomic } from '../workspace/atomic';
import { hashConfig, hashModel, toPlain } from '../workspace/hash';
import { Workspace } from '../workspace/workspace';
import { bindSelected } from './binding';
import { ResidentEntry, keepOutputsOnGpu, tensorFlow } from '../capture/tensor-flow'; // [tensor-flow]
import { ModuleJob, describeSelection, optimizeModule } from './module-optimizer';
import { PipelineCall, clearlySlower, comparePipelines, runPipeline, timePipeline } from './pipeline-timing';
import { EndToEndThresholds, defaultEndToEnd, enforceEndToEnd } from './end-to-end';
import { tryGpuAssignment } from './device-assignment';
import type { Strategy } from '../config/strategy';
import { NO_SPIN } from '../runners/onnx-cpu';

/** A function to optimize the standalone modules it calls, or a pipeline instance. */
export type OptimizeTarget = object;

export interface LoadResult {
  /** Per module: what it is bound to now, in words. */
  modules: Record<string, string>;
}

interface Planned {
  entry: ModuleEntry;
  job?: ModuleJob;
  cached?: ModuleStatus;
}

/**
 * Runs the phases of inplace optimization: capture, convert, check, profile, select, cache, rebind,
 * report. Injectable, so services can take it from the container; `optimize()` and
 * `loadOptimized()` of the package root use the root container's instance.
 */
@injectable()
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
        return { entry, cached };
      }
      const moduleDir = workspace.moduleDir(entry.name);
      const job = { name: entry.name, module: entry.module, environment, config: moduleConfig, configPlain, configHash, modelHash, moduleDir, runDir: '', recorder: undefined as unknown as CallRecorder, progress };
      return { entry, job };
    });

    let jobs = planned.filter((p) => p.job).map((p) => p.job as ModuleJob);
    const fresh: ModuleStatus[] = [];
    const committed = new Set<string>();
    let pipeline: OptimizeStatus['pipeline'];
    try {
      if (jobs.length > 0) {
        progress.info(`optimizing ${jobs.map((j) => j.name).join(', ')} over ${items.length} dataloader items; workspace ${workspace.root}`);
        await this.capture(jobs, planned, call, items, workspace, progress);
        if (typeof target === 'function') {
          // A function target uses some of the standalone modules: the others are left alone.
          const idle = planned.filter((p) => p.entry.module.sourceCalls === 0);
          for (const p of idle) if (p.job) workspace.discard(p.job.runDir);
          jobs = jobs.filter((job) => !idle.some((p) => p.job === job));
          planned = planned.filter((p) => !idle.includes(p));
          if (jobs.length === 0) {
            throw new NavigatorError('called none of the modules wrapped with navModule(model, options)', {
              subject: 'optimize(fn)',
              fix: 'call the wrapped modules (the objects navModule returned) inside the function',
            });
          }
        }
        for (const job of jobs) {
          const signature = job.recorder.signature(); // throws, naming the module, if it was never called
          progress.step(job.name, `captured ${signature.calls} calls, batch sizes ${JSON.stringify(signature.batchSizes)}, ${job.recorder.sampleFiles.length} samples kept`);
        }
        const before = await timePipeline(call, items);
        // Conversions and candidate sessions each hold a copy of a large model: the original sessions
        // need not stay beside them (they are created again for the pipeline check).
        for (const job of jobs) await job.module.releaseSource();
        for (const job of jobs) fresh.push(await optimizeModule(job));
        for (const status of fresh) status.outputFlow = tensorFlow.flowsOf(status.module); // [tensor-flow]
        for (const status of fresh) await bindSelected(jobs.find((j) => j.name === status.module)!.module, status, workspace.moduleDir(status.module));
        for (const p of planned) if (p.cached) await bindSelected(p.entry.module, p.cached, workspace.moduleDir(p.entry.name));
        const endToEndSettings = { ...defaultEndToEnd, ...definedOnly(global.endToEnd ?? {}) };
        const endToEnd = await enforceEndToEnd(
          jobs.map((job) => ({ name: job.name, module: job.module, strategy: job.config.strategy, moduleDir: job.moduleDir, status: fresh.find((s) => s.module === job.name)! })),
          () => runPipeline(call, items),
          before,
          endToEndSettings,
        );
        progress.info(`end-to-end check: ${endToEnd.summary}${endToEnd.fallbacks.length ? `; fell back: ${endToEnd.fallbacks.join('; ')}` : ''}`);
        await keepOnGpu(planned, fresh, workspace, progress); // [tensor-flow] after the end-to-end fallbacks, which may move a consumer to the CPU
        const check = { planned, fresh, call, items, workspace, progress, original: before.results, thresholds: endToEndSettings, strategyOf: (name: string) => jobs.find((j) => j.name === name)!.config.strategy };
        pipeline = { ...(await this.checkPipeline(check)), endToEnd };
        for (const status of fresh) {
          workspace.commit(status);
          committed.add(status.module);
        }
      } else {
        progress.info(`every module has a cached result in ${workspace.root}; loading`);
        for (const p of planned) await bindSelected(p.entry.module, p.cached as ModuleStatus, workspace.moduleDir(p.entry.name));
        await keepOnGpu(planned, fresh, workspace, progress); // [tensor-flow]
      }
    } catch (error) {
      // The previous packages stay whole: only this run's uncommitted folders go.
      for (const job of jobs) if (job.runDir && !committed.has(job.name)) workspace.discard(job.runDir);
      throw error;
    }

    const modules: OptimizeStatus['modules'] = {};
    for (const p of planned) {
      const status = p.cached ?? fresh.find((s) => s.module === p.entry.name);
      if (status) modules[p.entry.name] = { ...status, cached: Boolean(p.cached) };
    }
    const report = formatReport(modules, pipeline);
    progress.print(`\n${report}\n`);
    const result: OptimizeStatus = { modules, pipeline, workspace: workspace.root, durationMs: Date.now() - started, report };
    writeJsonAtomic(path.join(workspace.root, 'optimize-report.json'), result);
    writeFileAtomic(path.join(workspace.root, 'optimize-report.txt'), `${report}\n\nCandidates (* = selected):\n\n${formatCandidates(modules)}\n`);
    return result;
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
  private async capture(jobs: ModuleJob[], planned: Planned[], call: PipelineCall, items: DataloaderItem[], workspace: Workspace, progress: Progress): Promise<void> {
    for (const p of planned) {
      await p.entry.module.unbind('capturing');
      p.entry.module.sourceCalls = 0;
    }
    for (const job of jobs) {
      job.runDir = workspace.createRunDir(job.name);
      const batching = job.module.options?.batching ?? true;
      job.recorder = new CallRecorder(job.name, path.join(job.runDir, 'samples'), job.config.sampleCount, batching);
      job.module.recorder = job.recorder;
    }
    progress.info('capture: running the pipeline over the dataloader');
    tensorFlow.start(); // [tensor-flow]
    try {
      for (const item of items) await call(...item.slice(1));
    } finally {
      tensorFlow.stop(); // [tensor-flow]
      for (const job of jobs) job.module.recorder = undefined;
    }
  }

  /**
   * Times the rebound pipeline against the original, passes alternating. Modules chosen one by one
   * can slow each other down when they share the cores (idle onnxruntime threads spin); if the
   * rebound pipeline is slower, spinning is turned off, and if it is still slower every module goes
   * back to its source.
   */
  private async checkPipeline(check: PipelineCheck): Promise<Omit<PipelineStatus, 'endToEnd'>> {
    const { planned, fresh, call, items, workspace, progress } = check;
    const notes: string[] = [];
    const modules = planned.map((p) => p.entry.module);
    const compare = () => comparePipelines(call, items, (on) => modules.forEach((m) => (m.bypassed = on)));
    const statusOf = (p: Planned) => p.cached ?? fresh.find((s) => s.module === p.entry.name)!;
    let timing = await compare();
    const assignment = await tryGpuAssignment(
      {
        modules: fresh.map((status) => ({ status, strategy: check.strategyOf(status.module) })),
        rebind: async () => {
          for (const p of planned) await bindSelected(p.entry.module, statusOf(p), workspace.moduleDir(p.entry.name));
          await keepOnGpu(planned, fresh, workspace, progress);
        },
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
        const status = statusOf(p);
        const selected = status.candidates.find((c) => c.key === status.selected.key);
        if (selected?.runner !== 'OnnxCPU') continue;
        await bindSelected(p.entry.module, status, workspace.moduleDir(status.module), { [NO_SPIN]: 0 });
        if (fresh.includes(status)) {
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
        const status = statusOf(p);
        if (fresh.includes(status)) {
          const baseline = status.candidates.find((c) => c.key === status.baseline)!;
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
  fresh: ModuleStatus[];
  call: PipelineCall;
  items: DataloaderItem[];
  workspace: Workspace;
  progress: Progress;
  original: unknown[];
  thresholds: EndToEndThresholds;
  strategyOf(module: string): Strategy;
}

/** [tensor-flow] Outputs that only feed GPU modules stay on the GPU; the notes go to the progress log. */
async function keepOnGpu(planned: Planned[], fresh: ModuleStatus[], workspace: Workspace, progress: Progress): Promise<void> {
  const entries: ResidentEntry[] = planned.map((p) => ({
    module: p.entry.module,
    status: p.cached ?? fresh.find((s) => s.module === p.entry.name)!,
    moduleDir: workspace.moduleDir(p.entry.name),
  }));
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
