import 'reflect-metadata';
import { NavigatorError } from '../src/core/errors';
import { claimModuleName, standaloneModules } from '../src/module/module-names';
import { NavModuleOptions, OnnxModule, controlOf } from '../src/module/onnx-module';
import type { Feeds } from '../src/core/feeds';
import { ModuleRecord, NAV_MODULES } from './metadata-keys';

/**
 * `@navModule({ name })` on a pipeline property that holds an OnnxModule marks it for optimization:
 * it only records the options (the scanner reads them and checks that names are unique). Called as
 * `navModule(model, { name })` it wraps a model for code that uses no decorators: there is no class
 * to record on, so the module is declared and listed for `optimize(fn)` at once.
 */
let standaloneCount = 0;

export function navModule<In = Feeds, Out = Feeds>(options: NavModuleOptions<In, Out>): PropertyDecorator;
export function navModule<In = Feeds, Out = Feeds>(
  model: OnnxModule<In, Out> | string | Uint8Array,
  options: NavModuleOptions<In, Out>,
): OnnxModule<In, Out>;
export function navModule<In, Out>(
  first: NavModuleOptions<In, Out> | OnnxModule<In, Out> | string | Uint8Array,
  second?: NavModuleOptions<In, Out>,
): PropertyDecorator | OnnxModule<In, Out> {
  if (second !== undefined) {
    const module = first instanceof OnnxModule ? first : new OnnxModule<In, Out>(first as string | Uint8Array);
    checkOptions(second, 'navModule(model, options)');
    // Each call is its own owner: wrapping a second model under a taken name is an error.
    claimModuleName(second.name, `navModule(model, { name: '${second.name}' }) #${++standaloneCount}`);
    controlOf(module as OnnxModule<unknown, unknown>).declare(second as NavModuleOptions<unknown, unknown>);
    standaloneModules.add(module as OnnxModule<unknown, unknown>);
    return module;
  }
  const options = first as NavModuleOptions<In, Out>;
  checkOptions(options, '@navModule(options)');
  return (target: object, property: string | symbol) => {
    const records: ModuleRecord[] = Reflect.getOwnMetadata(NAV_MODULES, target.constructor) ?? [];
    Reflect.defineMetadata(NAV_MODULES, [...records, { property, options }], target.constructor);
  };
}

function checkOptions(options: NavModuleOptions<never, never> | object, call: string): void {
  const name = (options as { name?: unknown })?.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new NavigatorError(`${call} needs a name made of letters, digits, '_', '.' or '-'; got ${JSON.stringify(name)}`, {
      subject: 'name',
      fix: "pass a name such as { name: 'unet' }: it also names the module's workspace folder",
    });
  }
}
