import type { ModuleOptimizeConfig } from '../src/config/resolve';
import { MemberDecoratorArgs, NAV_MODULE_CONFIGS, memberTarget, ownRecords, writeMetadata } from './metadata-keys';

/** A property decorator under both `experimentalDecorators` and TypeScript's standard decorators. */
export type PropertyOrFieldDecorator = (...args: MemberDecoratorArgs) => void;

/**
 * `@optimizeConfig({ ... })` gives one module property its own settings; the global config of
 * `optimize` then applies only to the modules without one. Validated when optimization starts.
 */
export function optimizeConfig(config: ModuleOptimizeConfig): PropertyOrFieldDecorator {
  return (...args: MemberDecoratorArgs) => {
    const { property, store } = memberTarget(args, '@optimizeConfig');
    const configs = new Map(ownRecords<Map<string | symbol, ModuleOptimizeConfig>>(store, NAV_MODULE_CONFIGS) ?? []);
    writeMetadata(store, NAV_MODULE_CONFIGS, configs.set(property, config));
  };
}
