import 'reflect-metadata';
import { NavigatorError } from '../src/core/errors';

/**
 * The metadata keys shared by the decorators (writers) and the scanner (reader, src/scanner.ts).
 * Symbol.for keeps them the same across copies of the package loaded side by side.
 */
export const NAV_MODULES = Symbol.for('model-navigator:modules');
export const NAV_MODULE_CONFIGS = Symbol.for('model-navigator:module-configs');
export const NAV_PIPELINE = Symbol.for('model-navigator:pipeline');

/** Classes decorated with `@pipeline()`, in the order they were declared: what `bootstrap` sets up. */
export const pipelineClasses = new Set<new (...args: never[]) => object>();

/** What `@navModule` records for one property. */
export interface ModuleRecord {
  property: string | symbol;
  options: import('../src/module/onnx-module').NavModuleOptions<never, never>;
}

/**
 * Standard (TC39) decorators get a per-class metadata object only where `Symbol.metadata` exists:
 * Node 20 and 22 lack it, so it is defined here, as TypeScript's documentation suggests, before
 * any decorated class of the application is evaluated (they import this package first).
 */
const SYMBOL_METADATA: symbol = ((Symbol as { metadata?: symbol }).metadata ??= Symbol.for('Symbol.metadata'));

/**
 * How a member decorator was called: legacy decorators (`experimentalDecorators`) get the prototype
 * and the property name; standard ones get no target and a context with the name and the class's
 * metadata object. Either way, the records land where `ownMetadata` reads them.
 */
export type MemberDecoratorArgs = [target: object, property: string | symbol] | [value: undefined, context: ClassMemberDecoratorContext];

/** The property a member decorator decorates, and where its class's records go. */
export function memberTarget(args: MemberDecoratorArgs, decorator: string): { property: string | symbol; store: object } {
  const [target, second] = args;
  if (typeof second === 'object' && second !== null) {
    if (second.kind !== 'field' && second.kind !== 'accessor') {
      throw new NavigatorError(`${decorator} decorates a property holding an OnnxModule, not a ${second.kind}`, {
        subject: String(second.name),
        fix: `put it on the property, e.g. ${decorator}({ ... }) model = new OnnxModule('model.onnx')`,
      });
    }
    if (!second.metadata) {
      // TypeScript's helper gives a metadata object only if Symbol.metadata existed when the class was evaluated.
      throw new NavigatorError(`${decorator} found no decorator metadata: the class was evaluated before model-navigator-ts was imported`, {
        subject: String(second.name),
        fix: "import 'model-navigator-ts' before the module that declares the class (it defines Symbol.metadata where Node lacks it)",
      });
    }
    return { property: second.name, store: second.metadata as object };
  }
  return { property: second as string | symbol, store: (target as object).constructor };
}

/** Writes one record: on the class (legacy, reflect-metadata) or into the standard metadata object. */
export function writeMetadata(store: object, key: symbol, value: unknown): void {
  if (typeof store === 'function') Reflect.defineMetadata(key, value, store);
  else (store as Record<symbol, unknown>)[key] = value;
}

/** What decorators already wrote into this store (a class, or a standard metadata object) for this class alone. */
export function ownRecords<T>(store: object, key: symbol): T | undefined {
  if (typeof store === 'function') return ownMetadata<T>(store, key);
  // A standard metadata object inherits its parent class's: only its own entry is this class's.
  return Object.prototype.hasOwnProperty.call(store, key) ? (store as Record<symbol, T>)[key] : undefined;
}

/** The records a decorator wrote on this class itself (not inherited), in either mode. */
export function ownMetadata<T>(cls: Function, key: symbol): T | undefined {
  const standard = Object.prototype.hasOwnProperty.call(cls, SYMBOL_METADATA) ? (cls as unknown as Record<symbol, object | null>)[SYMBOL_METADATA] : null;
  if (standard && Object.prototype.hasOwnProperty.call(standard, key)) return (standard as Record<symbol, T>)[key];
  return Reflect.getOwnMetadata(key, cls);
}
