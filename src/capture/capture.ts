import type { Feeds } from '../core/feeds';
import type { OutputFlow } from '../core/status';
import { controlOf, type CallCapture, type OnnxModule } from '../module/onnx-module';
import type { CallRecorder } from './recorder';
import { TensorFlowTracker } from './tensor-flow';

/** A module to capture: its recorder, where its calls are kept (none for a module that only needs counting). */
export interface CaptureTarget {
  name: string;
  module: OnnxModule<unknown, unknown>;
  recorder?: CallRecorder;
}

/** What one capture learned, per module name. */
export interface Captured {
  /** Calls that reached the module: a function target's modules with none were not used by it. */
  calls(module: string): number;
  /** Where each output went, unread (see tensor-flow.ts). */
  flows(module: string): OutputFlow[];
}

/** One module's calls during capture: each reaches the original model, is recorded, and its tensors are followed. */
class ModuleCapture implements CallCapture {
  calls = 0;

  constructor(
    private readonly name: string,
    private readonly recorder: CallRecorder | undefined,
    private readonly tracker: TensorFlowTracker,
  ) {}

  async call(feeds: Feeds, original: (feeds: Feeds) => Promise<Feeds>): Promise<Feeds> {
    const inputs = this.tracker.consume(this.name, feeds); // tracked outputs unwrapped, edges noted
    this.calls++;
    const outputs = await original(inputs);
    this.recorder?.record(inputs, outputs);
    return this.tracker.produce(this.name, outputs); // reads of the outputs are noted
  }
}

/** Runs `run` (the pipeline over the dataloader) with every target on its original model, capturing its calls. */
export async function captureCalls(targets: CaptureTarget[], run: () => Promise<unknown>): Promise<Captured> {
  const tracker = new TensorFlowTracker();
  const captures = new Map(targets.map((t) => [t.name, new ModuleCapture(t.name, t.recorder, tracker)]));
  for (const target of targets) {
    const control = controlOf(target.module);
    await control.unbind('capturing');
    control.capture(captures.get(target.name)!);
  }
  tracker.start();
  try {
    await run();
  } finally {
    tracker.stop();
    for (const target of targets) controlOf(target.module).endCapture();
  }
  return { calls: (module) => captures.get(module)?.calls ?? 0, flows: (module) => tracker.flowsOf(module) };
}
