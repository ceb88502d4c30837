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
