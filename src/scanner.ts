import 'reflect-metadata';
import { ModuleRecord, NAV_MODULE_CONFIGS, NAV_MODULES, NAV_PIPELINE, ownMetadata, pipelineClasses as declaredPipelines } from '../decorators/metadata-keys';
import type { PipelineOptions } from '../decorators/pipeline';
import type { ModuleOptimizeConfig } from './config/resolve';
import { NavigatorError } from './core/errors';
import { claimModuleName } from './module/module-names';
import { OnnxModule, controlOf, standaloneModules, type NavModuleOptions } from './module/onnx-module';

/** One module found on a target: the only place that reads the decorators' metadata. */
export interface ModuleEntry {
  name: string;
  module: OnnxModule<unknown, unknown>;
  /** The module's own config (`module.optimizeConfig` first, then `@optimizeConfig`), if any. */
  ownConfig: ModuleOptimizeConfig | undefined;
}

/** The annotated modules of a pipeline instance, the standalone modules for a function target, or one declared module. */
export function scanModules(target: object): ModuleEntry[] {
  if (typeof target === 'function') return standaloneEntries();
  if (target instanceof OnnxModule) {
    if (!target.name) {
      throw new NavigatorError('the module has no name', {
        subject: typeof target.model === 'string' ? target.model : 'model bytes',
        fix: "declare it first: navModule(module, { name: 'encoder' })",
      });
    }
    return [{ name: target.name, module: target, ownConfig: target.optimizeConfig }];
  }
  const entries: ModuleEntry[] = [];
  for (const cls of classChain(target.constructor)) {
    const records = ownMetadata<ModuleRecord[]>(cls, NAV_MODULES) ?? [];
    const configs = ownMetadata<Map<string | symbol, ModuleOptimizeConfig>>(cls, NAV_MODULE_CONFIGS) ?? new Map();
    for (const { property, options } of records) {
      if (entries.some((entry) => entry.name === options.name)) continue; // overridden in a subclass
      const value = (target as Record<string | symbol, unknown>)[property];
      if (!(value instanceof OnnxModule)) {
        throw new NavigatorError(`property ${cls.name}.${String(property)} holds ${describe(value)}, not an OnnxModule`, {
          module: options.name,
          subject: String(property),
          fix: `assign it in the constructor, e.g. this.${String(property)} = new OnnxModule('model.onnx')`,
        });
      }
      // Names are unique in the process: they name workspace folders.
      claimModuleName(options.name, `${cls.name}.${String(property)}`);
      controlOf(value).declare(options as unknown as NavModuleOptions<unknown, unknown>);
      entries.push({ name: options.name, module: value, ownConfig: value.optimizeConfig ?? configs.get(property) });
    }
  }
  return entries;
}

/** The modules declared without a class: `navModule(model, options)`, `OnnxModule.create(..., { name })`, interceptSessions. */
export function standaloneEntries(): ModuleEntry[] {
  return [...standaloneModules].map((module) => ({ name: module.name as string, module, ownConfig: module.optimizeConfig }));
}

/** The classes decorated with `@pipeline()`. */
export function pipelineClasses(): (new (...args: never[]) => object)[] {
  return [...declaredPipelines];
}

export function pipelineOptionsOf(target: object): PipelineOptions<never> {
  const cls = typeof target === 'function' ? target : target.constructor;
  return Reflect.getMetadata(NAV_PIPELINE, cls) ?? {};
}

function* classChain(cls: Function): Generator<Function> {
  for (let c: Function | null = cls; c && c !== Object; c = Object.getPrototypeOf(c)) yield c;
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `a ${typeof value}`;
}
