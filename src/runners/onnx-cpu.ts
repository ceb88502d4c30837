import * as os from 'os';
import type { InferenceSession } from 'onnxruntime-node';
import { configEntries, createOrtSession } from './ort-session';
import { RUNNER_KINDS, type Runner, type RunnerVariant } from '../core/plugin';

/** Config entry that stops idle intra-op threads from spinning between runs, so modules sharing the cores don't slow each other. */
export const NO_SPIN = 'session.intra_op.allow_spinning';

/** The settings a CPU variant may set: thread counts, execution mode, and session config entries (dotted keys). */
export type CpuSettings = {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  [NO_SPIN]?: 0 | 1;
};

/** onnxruntime's CPU execution provider, with the session settings worth trying on a CPU. */
export const onnxCpuRunner: Runner<CpuSettings> = {
  name: 'OnnxCPU',
  kinds: [RUNNER_KINDS.onnxruntime, RUNNER_KINDS.onnxruntimeCpu],
  device: 'cpu',

  async availability() {
    return { available: true, detail: `${os.cpus().length} logical cores` };
  },

  variants(): RunnerVariant<CpuSettings>[] {
    return [
      { id: 'default', settings: {} },
      { id: 'no-spin', settings: { [NO_SPIN]: 0 } },
      { id: 'threads-1', settings: { intraOpNumThreads: 1 } },
      // Runs independent branches of the graph at once: pays off for wide graphs on idle cores.
      { id: 'parallel', settings: { executionMode: 'parallel', interOpNumThreads: 2 } },
    ];
  },

  createSession(artifact, variant) {
    return createOrtSession(artifact, cpuSessionOptions(variant.settings));
  },
};

export function cpuSessionOptions(settings: CpuSettings): InferenceSession.SessionOptions {
  const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], extra: configEntries(settings as RunnerVariant['settings']) };
  if (typeof settings.intraOpNumThreads === 'number') options.intraOpNumThreads = settings.intraOpNumThreads;
  if (typeof settings.interOpNumThreads === 'number') options.interOpNumThreads = settings.interOpNumThreads;
  if (settings.executionMode === 'parallel') options.executionMode = 'parallel';
  return options;
}
