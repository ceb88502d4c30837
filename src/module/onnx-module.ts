import type { InferenceSession } from 'onnxruntime-node';
import { NavigatorError } from '../core/errors';
import type { Feeds } from '../core/feeds';
import type { RunnerSession } from '../core/plugin';
import type { ModuleSignature } from '../core/signature';
import { BASELINE } from '../core/status';
import type { ModuleOptimizeConfig } from '../config/resolve';
import { createInferenceSession } from '../onnx/inference-session';
import { InputCheck, type Expected } from './input-check';
import { checkDeclaredName, claimModuleName } from './module-names';
import { fetchesOf, metadataOf, type Fetched, pickOutputs, type ModelIO, type OutputNames, type RunArgs } from './session-io';

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
  /**
   * Calls go to this session from now on; the previously bound one is released. `signature` (what
   * capture saw) checks inputs when the original model is not loaded in this process.
   */
  bind(session: RunnerSession, binding: BindingInfo, signature?: ModuleSignature): Promise<void>;
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
  /** Named tensors through the current route, without the module's input and output mappings: replays of recorded calls. */
  run(feeds: Feeds): Promise<Feeds>;
}

/** Modules declared without a class (`navModule(model, options)`, `OnnxModule.create`, interceptSessions): what `optimize(fn, ...)` optimizes. */
export const standaloneModules = new Set<OnnxModule<unknown, unknown>>();

const controls = new WeakMap<object, ModuleControl>();

/** The optimizer's handle on a module (see ModuleControl). */
export function controlOf(module: OnnxModule<unknown, unknown>): ModuleControl {
  return controls.get(module)!;
}

/**
 * What a model property of a pipeline holds, and a drop-in onnxruntime `InferenceSession`. Pipeline
 * code calls `await module.run(feeds)`; after optimization the same call reaches the selected
 * runner. Inputs the selected runner cannot take (a shape outside a fixed-shape model or an engine
 * profile) go to the original model instead. Wrong inputs are reported, naming the module, before
 * onnxruntime sees them.
 *
 * `In` and `Out` type what `run` takes and returns: named tensors by default; declare them with
 * `Tensors<{ input_ids: 'int64' }>`, or any types with `inputMapping` / `outputMapping`.
 */
export class OnnxModule<In = Feeds, Out = Feeds> {
  /** This module's own settings; they replace the global config's module settings. */
  optimizeConfig: ModuleOptimizeConfig | undefined;

  private declared: NavModuleOptions<In, Out> | undefined;
  private route: Route = { kind: 'original', binding: sourceBinding('not optimized') };
  /** The bound route set aside while A/B timing runs the original. */
  private setAside: Route | undefined;
  private sourceSession: Promise<InferenceSession> | undefined;
  /** The loaded original session, for the synchronous profiling calls. */
  private loadedSource: InferenceSession | undefined;
  /** The model's own names and metadata, kept once the original session has been loaded (even after it is released). */
  private io: ModelIO | undefined;
  /** What capture saw, from the status a runner was bound with. */
  private seen: ModuleSignature | undefined;
  private inputCheck: InputCheck | undefined;

  /**
   * `model` is the path of an .onnx file or its bytes; `sessionOptions` apply to the original model
   * only. Its names and metadata (`inputNames`, ...) are known once it is loaded: use
   * `await OnnxModule.create(...)`, or `await module.load()`, or after its first `run`.
   */
  constructor(
    readonly model: string | Uint8Array,
    readonly sessionOptions: InferenceSession.SessionOptions = {},
  ) {
    controls.set(this, this.createControl());
  }

  /**
   * Mirrors `InferenceSession.create`: the module with its original model loaded, so that its names
   * and metadata are known. With `{ name }` it is declared as `navModule(model, options)` declares
   * it: a standalone module that `optimize(fn)` optimizes when `fn` calls it.
   */
  static async create<In = Feeds, Out = Feeds>(
    model: string | Uint8Array | ArrayBufferLike,
    sessionOptions?: InferenceSession.SessionOptions,
    options?: NavModuleOptions<In, Out>,
  ): Promise<OnnxModule<In, Out>> {
    const module = new OnnxModule<In, Out>(typeof model === 'string' || model instanceof Uint8Array ? model : new Uint8Array(model), sessionOptions);
    if (options) declareStandalone(module, options, 'OnnxModule.create(model, sessionOptions, options)');
    return module.load().catch((error: unknown) => {
      standaloneModules.delete(module as OnnxModule<unknown, unknown>); // nothing to optimize: optimize(fn) must not trip on it
      throw error;
    });
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

  get inputNames(): readonly string[] {
    return this.modelIO().inputNames;
  }

  get outputNames(): readonly string[] {
    return this.modelIO().outputNames;
  }

  get inputMetadata(): readonly InferenceSession.ValueMetadata[] {
    return this.modelIO().inputMetadata;
  }

  get outputMetadata(): readonly InferenceSession.ValueMetadata[] {
    return this.modelIO().outputMetadata;
  }

  /** Loads the original model (if no session holds it yet), so that names and metadata are known. */
  async load(): Promise<this> {
    await this.source();
    return this;
  }

  /**
   * As `InferenceSession.run`: `fetches` (output names, or an object of outputs, null or
   * preallocated) and `options` (RunOptions) go to the original session while the module runs it;
   * a bound runner computes every output and the fetched ones are returned.
   */
  run(input: In, options?: InferenceSession.RunOptions): Promise<Out>;
  run<K extends OutputNames<Out>>(input: In, fetches: readonly K[], options?: InferenceSession.RunOptions): Promise<Fetched<Out, K>>;
  run(input: In, fetches: InferenceSession.NullableOnnxValueMapType, options?: InferenceSession.RunOptions): Promise<Partial<Out>>;
  run(input: In, arg1?: RunArgs[0], arg2?: RunArgs[1]): Promise<Out> {
    // Hot path of a rebound module without mappings: one check of the route, the cached input check, the session's own promise.
    const route = this.route;
    const declared = this.declared;
    if (route.kind === 'bound' && arg1 === undefined && !declared?.inputMapping && !declared?.outputMapping) {
      try {
        this.inputCheck?.check(input as Feeds);
      } catch (error) {
        return Promise.reject(error); // run is async: a wrong input rejects, as onnxruntime's does
      }
      // Inputs the selected session does not take go to the source, without asking it again.
      const outputs = route.session.accepts(input as Feeds) ? route.session.run(input as Feeds) : this.runOriginal(input as Feeds, [undefined, undefined]);
      return outputs as Promise<unknown> as Promise<Out>;
    }
    return this.runMapped(input, [arg1, arg2]);
  }

  /** One line saying what this module runs on. */
  describe(): string {
    const { format, runner, variant, reason } = this.binding;
    return `${this.name ?? '(unnamed)'}: ${format} on ${runner} (${variant}) - ${reason}`;
  }

  /** Releases every session this module holds; a later `run` starts the original model again. */
  async release(): Promise<void> {
    await this.setRoute({ kind: 'original', binding: sourceBinding('not optimized') });
    await this.releaseSource();
  }

  /** As `InferenceSession`: profiles the original session (set `enableProfiling` in its options); a bound runner is not profiled. */
  startProfiling(): void {
    this.loadedSource?.startProfiling();
  }

  endProfiling(): void {
    this.loadedSource?.endProfiling();
  }

  private async runMapped(input: In, args: RunArgs): Promise<Out> {
    const declared = this.declared;
    const feeds = declared?.inputMapping ? declared.inputMapping(input) : (input as unknown as Feeds);
    const outputs = await this.runFeeds(feeds, args);
    return declared?.outputMapping ? declared.outputMapping(outputs) : (outputs as unknown as Out);
  }

  private async runFeeds(feeds: Feeds, args: RunArgs): Promise<Feeds> {
    const route = this.route;
    const bound = route.kind === 'bound' && route.session.accepts(feeds);
    // Output names are checked here for every route; a bound module need not load its original to know them.
    const fetches = args[0] === undefined ? undefined : fetchesOf(this.name, (bound ? this : await this.load()).outputNames, args);
    if (route.kind === 'bound' && bound) {
      this.inputCheck?.check(feeds);
      return pickOutputs(await route.session.run(feeds), fetches?.fetches);
    }
    if (route.kind === 'capturing') {
      // Capture records every output: the fetched ones are picked afterwards.
      return pickOutputs(await route.capture.call(feeds, (f) => this.runOriginal(f, [fetches?.options, undefined])), fetches?.fetches);
    }
    return this.runOriginal(feeds, args);
  }

  private async runOriginal(feeds: Feeds, args: RunArgs): Promise<Feeds> {
    const session = await this.source();
    this.inputCheck!.check(feeds);
    // onnxruntime reads its own overloads; an absent argument must not be passed as undefined options.
    const outputs = args[0] === undefined ? session.run(feeds) : args[1] === undefined ? session.run(feeds, args[0] as never) : session.run(feeds, args[0] as never, args[1]);
    return outputs as Promise<Feeds>;
  }

  /** The original model on onnxruntime's CPU provider (unless its options say otherwise), created on first use. */
  private source(): Promise<InferenceSession> {
    this.sourceSession ??= createInferenceSession(this.model, { executionProviders: ['cpu'], ...this.sessionOptions }).then(
      (session) => {
        this.loadedSource = session;
        this.io ??= metadataOf(session);
        this.updateCheck();
        return session;
      },
      (cause) => {
        this.sourceSession = undefined; // a later call may try again, e.g. once the file is fixed
        throw new NavigatorError('onnxruntime cannot load the model', {
          module: this.name,
          subject: typeof this.model === 'string' ? this.model : 'model bytes',
          cause,
          fix: 'check that the file is a complete ONNX model that onnxruntime-node runs (e.g. re-export it)',
        });
      },
    );
    return this.sourceSession;
  }

  private async releaseSource(): Promise<void> {
    const source = this.sourceSession;
    this.sourceSession = undefined;
    this.loadedSource = undefined;
    if (source) await (await source).release();
  }

  /** Names and metadata: the model's own once loaded, else what capture saw, else an error saying when they are known. */
  private modelIO(): ModelIO {
    const io = this.io ?? (this.seen && metadataOf(this.seen));
    if (io) return io;
    throw new NavigatorError('its input and output names and metadata are known once the model is loaded', {
      module: this.name,
      subject: typeof this.model === 'string' ? this.model : 'model bytes',
      fix: 'create it with await OnnxModule.create(model), or call await module.load() first',
    });
  }

  /** The input check follows what is known: the model's metadata, and what capture saw. */
  private updateCheck(): void {
    const expected: Expected = { model: this.io?.inputMetadata, seen: this.seen?.inputs };
    this.inputCheck = expected.model || expected.seen ? new InputCheck(this.name, expected, !!this.declared?.inputMapping) : undefined;
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
      declare: (options) => {
        if (options === this.declared) return; // scanned again: the input check and its cache stay
        this.declared = options as NavModuleOptions<In, Out>;
        this.updateCheck(); // errors name the module
      },
      bind: (session, binding, signature) => {
        if (signature) this.seen = signature;
        this.updateCheck();
        return this.setRoute({ kind: 'bound', session, binding });
      },
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
      releaseSource: () => this.releaseSource(),
      run: (feeds) => this.runFeeds(feeds, [undefined, undefined]),
    };
  }
}

let standaloneCount = 0;

/**
 * Declares a module for code without decorators (`navModule(model, options)`, `OnnxModule.create`,
 * interceptSessions): no class records it, so it is declared at once and listed for `optimize(fn)`.
 * Each call is its own owner: a second module under a taken name is an error.
 */
export function declareStandalone<In, Out>(module: OnnxModule<In, Out>, options: NavModuleOptions<In, Out>, call: string): void {
  checkDeclaredName(options, call);
  claimModuleName(options.name, `${call.replace('options', `{ name: '${options.name}' }`)} #${++standaloneCount}`);
  controlOf(module as OnnxModule<unknown, unknown>).declare(options as NavModuleOptions<unknown, unknown>);
  standaloneModules.add(module as OnnxModule<unknown, unknown>);
}
