import { createHash } from 'crypto';
import * as path from 'path';
import type { InferenceSession } from 'onnxruntime-node';
import { loadOptimized } from './api';
import { NavigatorError } from './core/errors';
import { freeModuleName } from './module/module-names';
import { OnnxModule } from './module/onnx-module';
import { ORIGINAL_CREATE } from './onnx/inference-session';

/** A model some code asked onnxruntime to load, as `include` and `name` see it. */
export interface InterceptedModel {
  /** The path given to `create`; undefined when it was given bytes. */
  path?: string;
  /** The bytes given to `create`; undefined when it was given a path. */
  bytes?: Uint8Array;
  sessionOptions: InferenceSession.SessionOptions;
}

export interface InterceptOptions {
  /** Which models become navigator modules; the others get onnxruntime's own session. @default every one */
  include?: (model: InterceptedModel) => boolean;
  /**
   * The module's name (its workspace folder, so it must be the same in every process).
   * @default the file name without `.onnx` (`model-<hash>` for bytes), `-2`, `-3`, ... on a collision
   */
  name?: (model: InterceptedModel) => string;
  /**
   * Binds each module to its cached selection as it is created, for libraries that create their
   * sessions lazily, after the application could call `loadOptimized()`. `true`: the default
   * workspace. @default false
   */
  loadOptimized?: boolean | { workspace?: string };
}

export interface Interception {
  /** The modules created so far, in the order their sessions were asked for. */
  readonly modules: readonly OnnxModule[];
  /** Puts onnxruntime's own `create` back; modules already created stay as they are. */
  restore(): void;
}

/** What interceptSessions needs of onnxruntime-node: its `InferenceSession` factory. */
export interface OrtLike {
  InferenceSession: { create: (...args: never[]) => Promise<InferenceSession> };
}

type Create = ((...args: unknown[]) => Promise<unknown>) & { [ORIGINAL_CREATE]?: Create };

/**
 * Makes every `ort.InferenceSession.create(...)` made afterwards, by the application or by any
 * library using this onnxruntime-node, return an OnnxModule: a drop-in InferenceSession, declared
 * as a standalone module, so that `optimize(fn, dataloader)` optimizes those `fn` reaches and
 * `loadOptimized()` rebinds them in a later process. Names come from the model (the file name), in
 * the order the sessions are asked for, so a later process that creates them in the same order gets
 * the same names. The navigator's own sessions bypass this (src/runners/ort-session.ts).
 */
export function interceptSessions(ort: OrtLike, options: InterceptOptions = {}): Interception {
  const factory = ort.InferenceSession as unknown as { create: Create };
  const original = factory.create;
  if (original[ORIGINAL_CREATE]) {
    throw new NavigatorError('the sessions of this onnxruntime are already intercepted', {
      subject: 'interceptSessions(ort)',
      fix: 'call interceptSessions once, or restore() the first interception before a second one',
    });
  }
  const modules: OnnxModule[] = [];
  const create: Create = function create(...args: unknown[]) {
    const { model, sessionOptions } = createArguments(args);
    const seen: InterceptedModel = { ...(typeof model === 'string' ? { path: model } : { bytes: model }), sessionOptions };
    if (options.include && !options.include(seen)) return original.apply(factory, args);
    // Named now, in call order, not when loading ends: concurrent creates still get stable names.
    const name = freeModuleName(options.name ? options.name(seen) : defaultName(seen));
    return OnnxModule.create(model, sessionOptions, { name }).then(async (module) => {
      modules.push(module);
      if (options.loadOptimized) await loadOptimized(module, options.loadOptimized === true ? {} : options.loadOptimized);
      return module;
    });
  };
  create[ORIGINAL_CREATE] = original;
  factory.create = create;
  return {
    modules,
    restore: () => {
      if (factory.create === create) factory.create = original;
    },
  };
}

/** The file name without `.onnx`, as a module name; bytes are named by their hash. */
function defaultName(model: InterceptedModel): string {
  if (model.path === undefined) return `model-${createHash('sha256').update(model.bytes!).digest('hex').slice(0, 12)}`;
  return path.basename(model.path).replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'model';
}

/** `create`'s overloads: (path, options?), (bytes, options?), (buffer, byteOffset, byteLength?, options?). */
function createArguments(args: unknown[]): { model: string | Uint8Array; sessionOptions: InferenceSession.SessionOptions } {
  const [first, second, third, fourth] = args;
  if (typeof first === 'string') return { model: first, sessionOptions: (second ?? {}) as InferenceSession.SessionOptions };
  if (first instanceof Uint8Array) return { model: first, sessionOptions: (second ?? {}) as InferenceSession.SessionOptions };
  if (first instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && first instanceof SharedArrayBuffer)) {
    if (typeof second === 'number') {
      const length = typeof third === 'number' ? third : first.byteLength - second;
      return { model: new Uint8Array(first, second, length), sessionOptions: ((typeof third === 'number' ? fourth : third) ?? {}) as InferenceSession.SessionOptions };
    }
    return { model: new Uint8Array(first), sessionOptions: (second ?? {}) as InferenceSession.SessionOptions };
  }
  throw new NavigatorError(`InferenceSession.create was given ${typeof first}, not a path, a Uint8Array or an ArrayBuffer`, {
    subject: 'InferenceSession.create',
    fix: 'pass the model as a file path or its bytes',
  });
}
