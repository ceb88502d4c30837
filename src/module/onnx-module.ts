import { InferenceSession } from 'onnxruntime-node';
import type { CallRecorder } from '../capture/recorder';
import { NavigatorError } from '../errors';
import { tensorFlow } from '../capture/tensor-flow'; // [tensor-flow]
import type { ModuleOptimizeConfig } from '../config/resolve';
import { createOrtSession } from '../runners/ort-session';
import type { Feeds, RunnerSession } from '../runners/runner';

export interface NavModuleOptions<In = Feeds, Out = Feeds> {
  /** Unique within the process: names the module's workspace and its line in reports. */
  name: string;
  /** Turns what pipeline code passes to `run` into the model's named inputs. */
  inputMapping?: (input: In) => Feeds;
  /** Turns the model's named outputs into what `run` returns. */
  outputMapping?: (outputs: Feeds) => Out;
  /** Whether axis 0 of every input and output is a batch axis. @default true */
  batching?: boolean;
}

/** Which candidate a module currently runs on. */
export interface BindingInfo {
  format: string;
  runner: string;
  variant: string;
  /** True while the module runs its original model with onnxruntime's defaults. */
  isSource: boolean;
  /** Why it is bound this way, for `describe()` and reports. */
  reason: string;
}

const SOURCE_BINDING: BindingInfo = { format: 'onnx', runner: 'OnnxCPU', variant: 'default', isSource: true, reason: 'not optimized' };

/**
 * What a model property of a pipeline holds. Pipeline code calls `await module.run(feeds)`; after
 * optimization the same call reaches the selected runner. Inputs the selected runner cannot take
 * (a shape outside a fixed-shape model or an engine profile) go to the original model instead.
 */
export class OnnxModule<In = Feeds, Out = Feeds> {
  /** Set by `@navModule` or `navModule(model, options)`. */
  options: NavModuleOptions<In, Out> | undefined;
  /** This module's own settings; they replace the global config's module settings. */
  optimizeConfig: ModuleOptimizeConfig | undefined;
  /** @internal Set by the optimizer while it captures calls. */
  recorder: CallRecorder | undefined;

  /** @internal Calls that reached the original model; capture counts on it to see which modules a function uses. */
  sourceCalls = 0;
  /** @internal While true, calls go to the original model although a runner is bound (A/B timing). */
  bypassed = false;

  private sourceSession: Promise<RunnerSession> | undefined;
  private selected: RunnerSession | undefined;
  private bindingInfo: BindingInfo = SOURCE_BINDING;

  /** `model` is the path of an .onnx file or its bytes; `sessionOptions` apply to the original model only. */
  constructor(
    readonly model: string | Uint8Array,
    readonly sessionOptions: InferenceSession.SessionOptions = {},
  ) {}

  get name(): string | undefined {
    return this.options?.name;
  }

  get binding(): BindingInfo {
    return this.bindingInfo;
  }

  run(input: In): Promise<Out> {
    // Hot path of a rebound module without mappings: one check and the session's own promise.
    const selected = this.selected;
    const mapping = this.options;
    if (selected && !this.recorder && !this.bypassed && !mapping?.inputMapping && !mapping?.outputMapping) {
      // Inputs the selected session does not take go to the source, without asking it again.
      const outputs = selected.accepts(input as Feeds) ? selected.run(input as Feeds) : this.runSource(input as Feeds);
      return outputs as Promise<unknown> as Promise<Out>;
    }
    return this.runMapped(input);
  }

  private async runMapped(input: In): Promise<Out> {
    const mapping = this.options;
    const feeds = mapping?.inputMapping ? mapping.inputMapping(input) : (input as unknown as Feeds);
    const outputs = await this.runFeeds(feeds);
    return mapping?.outputMapping ? mapping.outputMapping(outputs) : (outputs as unknown as Out);
  }

  /** One line saying what this module runs on. */
  describe(): string {
    const { format, runner, variant, reason } = this.bindingInfo;
    return `${this.name ?? '(unnamed)'}: ${format} on ${runner} (${variant}) - ${reason}`;
  }

  /** @internal Rebinds the module to a runner session; the previous optimized session is released. */
  async bind(session: RunnerSession, info: BindingInfo): Promise<void> {
    const previous = this.selected;
    this.selected = session;
    this.bindingInfo = info;
    if (previous && previous !== session) await previous.release();
  }

  /** @internal Back to the original model. */
  async unbind(reason = SOURCE_BINDING.reason): Promise<void> {
    const previous = this.selected;
    this.selected = undefined;
    this.bindingInfo = { ...SOURCE_BINDING, reason };
    if (previous) await previous.release();
  }

  /** Releases every session this module holds; a later `run` starts the original model again. */
  async release(): Promise<void> {
    await this.unbind();
    await this.releaseSource();
  }

  /** @internal Frees the original model's session (it is created again when needed); the binding stays. */
  async releaseSource(): Promise<void> {
    const source = this.sourceSession;
    this.sourceSession = undefined;
    if (source) await (await source).release();
  }

  private async runFeeds(feeds: Feeds): Promise<Feeds> {
    const selected = this.selected;
    if (selected && !this.recorder && !this.bypassed && selected.accepts(feeds)) return selected.run(feeds);
    return this.runSource(feeds);
  }

  /** The original model, recording the call while the optimizer captures. */
  private async runSource(feeds: Feeds): Promise<Feeds> {
    if (this.recorder) feeds = tensorFlow.consume(this.name ?? '', feeds); // [tensor-flow] unwrap tracked outputs, note edges
    this.sourceCalls++;
    const source = await this.source();
    const outputs = await source.run(feeds);
    this.recorder?.record(feeds, outputs);
    return this.recorder ? tensorFlow.produce(this.name ?? '', outputs) : outputs; // [tensor-flow] note reads of the outputs
  }

  /** The original model on onnxruntime's CPU provider, created on first use. */
  source(): Promise<RunnerSession> {
    this.sourceSession ??= this.createSourceSession().catch((cause) => {
      this.sourceSession = undefined; // a later call may try again, e.g. once the file is fixed
      throw new NavigatorError('onnxruntime cannot load the model', {
        module: this.name,
        subject: typeof this.model === 'string' ? this.model : 'model bytes',
        cause,
        fix: 'check that the file is a complete ONNX model that onnxruntime-node runs (e.g. re-export it)',
      });
    });
    return this.sourceSession;
  }

  private createSourceSession(): Promise<RunnerSession> {
    return createOrtSession(this.model, { executionProviders: ['cpu'], ...this.sessionOptions });
  }
}
