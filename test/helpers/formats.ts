import * as fs from 'fs';
import * as path from 'path';
import { registerFormat, registerRunner } from '../../src';
import type { Format, Precision, Runner } from '../../src';

/**
 * A test format that writes the model `build` returns, loaded by the CPU runner: how the
 * tests stand in for conversions that are wrong, slightly off or fixed to a shape, on purpose.
 */
export function registerTestFormat(
  name: string,
  precision: Precision,
  build: (sourcePath: string) => Uint8Array,
  fixedShapes?: Record<string, number[]>,
  loadedBy: string[] = ['OnnxCPU'],
): Format {
  const format: Format = {
    name,
    precision,
    description: `test format ${name}`,
    loadedBy,
    async convert({ source, outputDir }) {
      const file = path.join(outputDir, 'model.onnx');
      fs.writeFileSync(file, build(source.path));
      return { artifact: { format: name, path: file, precision, sizeBytes: fs.statSync(file).size, fixedShapes } };
    },
  };
  registerFormat(format);
  return format;
}

/** A CPU runner for tests, registered: defaults everywhere but its name, what it loads (`kinds`) and how it makes sessions. */
export function registerTestRunner(name: string, createSession: Runner['createSession'], kinds: string[] = []): Runner {
  const runner: Runner = {
    name,
    kinds,
    device: 'cpu',
    availability: async () => ({ available: true }),
    variants: () => [{ id: 'default', settings: {} }],
    createSession,
  };
  registerRunner(runner);
  return runner;
}
