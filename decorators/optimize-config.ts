import 'reflect-metadata';
import type { ModuleOptimizeConfig } from '../src/config/resolve';
import { NAV_MODULE_CONFIGS } from './metadata-keys';

/**
 * `@optimizeConfig({ ... })` gives one module property its own settings; the global config of
 * `optimize` then applies only to the modules without one. Validated when optimization starts.
 */
export function optimizeConfig(config: ModuleOptimizeConfig): PropertyDecorator {
  return (target: object, property: string | symbol) => {
    const configs: Map<string | symbol, ModuleOptimizeConfig> = new Map(
      Reflect.getOwnMetadata(NAV_MODULE_CONFIGS, target.constructor) ?? [],
    );
    configs.set(property, config);
    Reflect.defineMetadata(NAV_MODULE_CONFIGS, configs, target.constructor);
  };
}
