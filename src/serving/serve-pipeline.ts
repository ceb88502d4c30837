import * as os from 'os';
import { errorText } from '../core/errors';
import type { ModuleStatus } from '../core/status';
import { controlOf } from '../module/onnx-module';
import { lastDecision } from '../optimizer/apply';
import { bindDecision } from '../optimizer/binding';
import { runnerRegistry } from '../plugins';
import { scanModules } from '../scanner';
import { hashModel } from '../workspace/hash';
import { Workspace } from '../workspace/workspace';
import { selectedCandidate } from '../core/status';
import { createServedSession } from './served-session';
import { serveSelected } from './serve-module';
import { resolveServingConfig, type ServingConfigInput } from './serving-config';

export interface ServePipelineOptions {
  /** The workspace optimize wrote to. @default as loadOptimized */
  workspace?: string;
  /** `serving: {...}` for every module of the pipeline. */
  serving?: ServingConfigInput;
  /** Per-module settings, over `serving`, by navModule name. */
  modules?: Record<string, ServingConfigInput>;
}

/**
 * Moves every module of a pipeline (an instance with @navModule properties, or a function for the
 * standalone modules) into worker threads: its optimized selection where the workspace has one that
 * loadOptimized would bind, else its original model. Call it after optimize, or instead of
 * loadOptimized (it loads the selection straight into the workers, with no main-thread session
 * first), before traffic. Returns a line per module; a module that cannot be served stays on the
 * main thread, bound to its selection where it has one, and the line says why.
 */
export async function servePipeline(target: object, options: ServePipelineOptions = {}): Promise<Record<string, string>> {
  const workspace = new Workspace(options.workspace);
  const report: Record<string, string> = {};
  const modules = scanModules(target);
  // The modules of a pipeline run side by side under load: each gets its share of the cores, so that
  // 'auto' workers x threads of all of them together do not oversubscribe the machine.
  const cores = Math.max(1, Math.floor(os.availableParallelism() / modules.length));
  for (const { name, module } of modules) {
    const serving = { ...options.serving, ...options.modules?.[name] };
    resolveServingConfig(serving, { module: name }); // a wrong setting is the user's to fix: it throws, not falls back
    let status: ModuleStatus | undefined;
    try {
      const found = await applicableSelection(workspace, name, module.model);
      status = found.status;
      if (status) {
        report[name] = (await serveSelected(module, status, workspace.moduleDir(name), serving, cores)).report;
      } else {
        const session = await createServedSession(
          { kind: 'source', module: name, model: module.model, sessionOptions: JSON.parse(JSON.stringify(module.sessionOptions)) },
          { serving, batching: module.options?.batching, cores },
        );
        await controlOf(module)
          .bind(session, { format: 'onnx', runner: 'OnnxCPU', variant: 'default', isSource: false, reason: `served from worker threads; ${found.why}` })
          .catch(async (error: unknown) => {
            await session.release();
            throw error;
          });
        report[name] = `served the original model by ${session.config.workers} worker thread(s) (${found.why})`;
      }
    } catch (error) {
      // Where loadOptimized would have left it: the selection on the main thread (unless bound already).
      const kept =
        status && module.binding.isSource
          ? await bindDecision(module, status, lastDecision(status), workspace.moduleDir(name)).then((outcome) => outcome.description, (cause: unknown) => `the original: ${errorText(cause)}`)
          : 'as it was';
      report[name] = `kept on the main thread (${kept}): serving failed (${errorText(error)})`;
    }
  }
  return report;
}

/**
 * The module's cached status where loadOptimized would bind its selection: readable, its files
 * intact, made from this very model, and its runner available here. Otherwise why not.
 */
async function applicableSelection(workspace: Workspace, name: string, model: string | Uint8Array): Promise<{ status?: ModuleStatus; why: string }> {
  const read = workspace.readCache(name);
  if (!('status' in read)) return { why: `no optimized result to serve: ${read.unreadable}` };
  if (read.status.modelHash !== hashModel(model)) return { why: 'the model changed since it was optimized; run optimize again' };
  const candidate = selectedCandidate(read.status);
  if (candidate && runnerRegistry.has(candidate.runner)) {
    const availability = await runnerRegistry.get(candidate.runner).availability();
    if (!availability.available) return { why: `runner ${candidate.runner} of the selection is not available here (${availability.reason})` };
  }
  return { status: read.status, why: 'the selection' };
}

/** Releases every module session of a pipeline (worker threads included): for a service's shutdown. */
export async function releasePipeline(target: object): Promise<void> {
  for (const { module } of scanModules(target)) await module.release();
}
