import 'reflect-metadata';
import { checkDeclaredName } from '../src/module/module-names';
import { NavModuleOptions, OnnxModule, declareStandalone } from '../src/module/onnx-module';
import type { Feeds } from '../src/core/feeds';
import { MemberDecoratorArgs, ModuleRecord, NAV_MODULES, memberTarget, ownRecords, writeMetadata } from './metadata-keys';
import type { PropertyOrFieldDecorator } from './optimize-config';

/**
 * `@navModule({ name })` on a pipeline property that holds an OnnxModule marks it for optimization:
 * it only records the options (the scanner reads them and checks that names are unique). Called as
 * `navModule(model, { name })` it wraps a model for code that uses no decorators: there is no class
 * to record on, so the module is declared and listed for `optimize(fn)` at once.
 */
export function navModule<In = Feeds, Out = Feeds>(options: NavModuleOptions<In, Out>): PropertyOrFieldDecorator;
export function navModule<In = Feeds, Out = Feeds>(
  model: OnnxModule<In, Out> | string | Uint8Array,
  options: NavModuleOptions<In, Out>,
): OnnxModule<In, Out>;
export function navModule<In, Out>(
  first: NavModuleOptions<In, Out> | OnnxModule<In, Out> | string | Uint8Array,
  second?: NavModuleOptions<In, Out>,
): PropertyOrFieldDecorator | OnnxModule<In, Out> {
  if (second !== undefined) {
    const module = first instanceof OnnxModule ? first : new OnnxModule<In, Out>(first as string | Uint8Array);
    declareStandalone(module, second, 'navModule(model, options)');
    return module;
  }
  const options = first as NavModuleOptions<In, Out>;
  checkDeclaredName(options, '@navModule(options)');
  return (...args: MemberDecoratorArgs) => {
    const { property, store } = memberTarget(args, '@navModule');
    const records = ownRecords<ModuleRecord[]>(store, NAV_MODULES) ?? [];
    writeMetadata(store, NAV_MODULES, [...records, { property, options }]);
  };
}
