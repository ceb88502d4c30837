import * as os from 'os';
import type { InferenceSession } from 'onnxruntime-node';
import { configEntries, createOrtSession } from './ort-session';
import type { Runner, RunnerVariant } from './runner';

/** Config entry that stops idle intra-op threads from spinning between runs, so modules sharing the cores don't slow each other. */
export const NO_SPIN = 'session.intra_op.allow_spinning';

/** onnxruntime's CPU execution provider, with the session settings worth trying on a CPU. */
export const onnxCpuRunner: Runner = {
  name: 'OnnxCPU',
  device: 'cpu',
  formats: ['onnx', 'onnx-optimized', 'onnx-int8', 'onnx-int8-static', 'onnx-int4', 'onnx-static'],

  async availability() {
    return { available: true, detail: `${os.cpus().length} logical cores` };
  },

  variants(): RunnerVariant[] {
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

export function cpuSessionOptions(settings: RunnerVariant['settings']): InferenceSession.SessionOptions {
  const options: InferenceSession.SessionOptions = { executionProviders: ['cpu'], extra: configEntries(settings) };
  if (typeof settings.intraOpNumThreads === 'number') options.intraOpNumThreads = settings.intraOpNumThreads;
  if (typeof settings.interOpNumThreads === 'number') options.interOpNumThreads = settings.interOpNumThreads;
  if (settings.executionMode === 'parallel') options.executionMode = 'parallel';
  return options;
}
