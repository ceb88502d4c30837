import { InferenceSession } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import { BASELINE } from '../core/status';
import type { ModuleOptimizeConfig } from '../config/resolve';
import { createOrtSession } from '../runners/ort-session';

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

/** What capture does with one call: records it around the original model (src/capture/). */
export interface CallCapture {
  call(feeds: Feeds, original: (feeds: Feeds) => Promise<Feeds>): Promise<Feeds>;
}

/**
 * Where a module's calls go: its original model, a bound runner session, or the original model
 * through a capture. Exactly one at a time; only ModuleControl changes it.
 */
type Route =
  | { kind: 'original'; binding: BindingInfo }
  | { kind: 'bound'; session: RunnerSession; binding: BindingInfo }
  | { kind: 'capturing'; capture: CallCapture; binding: BindingInfo };

const sourceBinding = (reason: string): BindingInfo => ({ ...BASELINE, isSource: true, reason });

/**
 * The optimizer's handle on a module: the only way to change where its calls go. Not exported from
 * the package root: pipeline code sees `run`, `binding`, `describe` and `release`.
 */
export interface ModuleControl {
  /** The options `@navModule` or `navModule(model, options)` declared, as the scanner read them. */
  declare(options: NavModuleOptions<unknown, unknown>): void;
  /** Calls go to this session from now on; the previously bound one is released. */
  bind(session: RunnerSession, binding: BindingInfo): Promise<void>;
  /** Calls go to the original model; the bound session is released. */
  unbind(reason: string): Promise<void>;
  /** Calls go to the original model through `capture` until `endCapture`. */
  capture(capture: CallCapture): void;
  endCapture(): void;
  /** While on, calls go to the original model and the bound session waits (A/B timing of the pipeline). */
  useOriginal(on: boolean): void;
  /** Frees the original model's session (it is created again when needed); the route stays. */
  releaseSource(): Promise<void>;
  /** The session calls go to while bound (also while A/B timing sets it aside); undefined on the original. */
  boundSession(): RunnerSession | undefined;
}

const controls = new WeakMap<object, ModuleControl>();

/** The optimizer's handle on a module (see ModuleControl). */
export function controlOf(module: OnnxModule<unknown, unknown>): ModuleControl {
  return controls.get(module)!;
}

/**
 * What a model property of a pipeline holds. Pipeline code calls `await module.run(feeds)`; after
 * optimization the same call reaches the selected runner. Inputs the selected runner cannot take
 * (a shape outside a fixed-shape model or an engine profile) go to the original model instead.
 */
export class OnnxModule<In = Feeds, Out = Feeds> {
  /** This module's own settings; they replace the global config's module settings. */
  optimizeConfig: ModuleOptimizeConfig | undefined;

  private declared: NavModuleOptions<In, Out> | undefined;
  private route: Route = { kind: 'original', binding: sourceBinding('not optimized') };
  /** The bound route set aside while A/B timing runs the original. */
  private setAside: Route | undefined;
  private sourceSession: Promise<RunnerSession> | undefined;

  /** `model` is the path of an .onnx file or its bytes; `sessionOptions` apply to the original model only. */
  constructor(
    readonly model: string | Uint8Array,
    readonly sessionOptions: InferenceSession.SessionOptions = {},
  ) {
    controls.set(this, this.createControl());
  }

  get name(): string | undefined {
    return this.declared?.name;
  }

  /** The options it was declared with (`@navModule` or `navModule(model, options)`). */
  get options(): Readonly<NavModuleOptions<In, Out>> | undefined {
    return this.declared;
  }

  get binding(): BindingInfo {
    return this.route.binding;
  }

  run(input: In): Promise<Out> {
    // Hot path of a rebound module without mappings: one check and the session's own promise.
    const route = this.route;
    const declared = this.declared;
    if (route.kind === 'bound' && !declared?.inputMapping && !declared?.outputMapping) {
      // Inputs the selected session does not take go to the source, without asking it again.
      const outputs = route.session.accepts(input as Feeds) ? route.session.run(input as Feeds) : this.runOriginal(input as Feeds);
      return outputs as Promise<unknown> as Promise<Out>;
    }
    return this.runMapped(input);
  }

  /** One line saying what this module runs on. */
  describe(): string {
    const { format, runner, variant, reason } = this.binding;
    return `${this.name ?? '(unnamed)'}: ${format} on ${runner} (${variant}) - ${reason}`;
  }

  /** Releases every session this module holds; a later `run` starts the original model again. */
  async release(): Promise<void> {
    await this.setRoute({ kind: 'original', binding: sourceBinding('not optimized') });
    const source = this.sourceSession;
    this.sourceSession = undefined;
    if (source) await (await source).release();
  }

  private async runMapped(input: In): Promise<Out> {
    const declared = this.declared;
    const feeds = declared?.inputMapping ? declared.inputMapping(input) : (input as unknown as Feeds);
    const outputs = await this.runFeeds(feeds);
    return declared?.outputMapping ? declared.outputMapping(outputs) : (outputs as unknown as Out);
  }

  private runFeeds(feeds: Feeds): Promise<Feeds> {
    const route = this.route;
    switch (route.kind) {
      case 'bound':
        return route.session.accepts(feeds) ? route.session.run(feeds) : this.runOriginal(feeds);
      case 'capturing':
        return route.capture.call(feeds, (f) => this.runOriginal(f));
      case 'original':
        return this.runOriginal(feeds);
    }
  }

  private async runOriginal(feeds: Feeds): Promise<Feeds> {
    return (await this.source()).run(feeds);
  }

  /** The original model on onnxruntime's CPU provider, created on first use. */
  private source(): Promise<RunnerSession> {
    this.sourceSession ??= createOrtSession(this.model, { executionProviders: ['cpu'], ...this.sessionOptions }).catch((cause) => {
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

  /** Sets the route; a bound session that no route uses any more is released. */
  private async setRoute(next: Route): Promise<void> {
    const previous = [this.route, this.setAside];
    this.route = next;
    this.setAside = undefined;
    for (const old of previous) if (old?.kind === 'bound' && old.session !== (next.kind === 'bound' ? next.session : undefined)) await old.session.release();
  }

  private createControl(): ModuleControl {
    return {
      declare: (options) => void (this.declared = options as NavModuleOptions<In, Out>),
      bind: (session, binding) => this.setRoute({ kind: 'bound', session, binding }),
      unbind: (reason) => this.setRoute({ kind: 'original', binding: sourceBinding(reason) }),
      capture: (capture) => {
        if (this.route.kind === 'bound') throw new NavigatorError('cannot capture a module bound to a runner', { module: this.name, fix: 'unbind it first' });
        this.route = { kind: 'capturing', capture, binding: sourceBinding('capturing') };
      },
      endCapture: () => {
        if (this.route.kind === 'capturing') this.route = { kind: 'original', binding: sourceBinding('not optimized') };
      },
      useOriginal: (on) => {
        if (on && this.route.kind === 'bound') {
          this.setAside = this.route;
          this.route = { kind: 'original', binding: this.route.binding };
        } else if (!on && this.setAside) {
          this.route = this.setAside;
          this.setAside = undefined;
        }
      },
      boundSession: () => {
        const bound = this.route.kind === 'bound' ? this.route : this.setAside;
        return bound?.kind === 'bound' ? bound.session : undefined;
      },
      releaseSource: async () => {
        const source = this.sourceSession;
        this.sourceSession = undefined;
        if (source) await (await source).release();
      },
    };
  }
}
