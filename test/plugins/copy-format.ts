import * as fs from 'fs';
import * as path from 'path';
import { IsInt, IsOptional, Min } from 'class-validator';
import type { Format } from '../../src';

/** The options of the example format: `formatOptions: { 'example-copy': { padding } }`. */
export class CopyOptions {
  /** Bytes of nothing appended to the file name, to show that options reach the conversion. */
  @IsOptional() @IsInt() @Min(0) padding?: number;
}

/** A format from outside src/: the model copied unchanged, loadable by the example runner only. */
export const copyFormat: Format<CopyOptions> = {
  name: 'example-copy',
  precision: 'fp32',
  description: 'the source model, copied',
  loadedBy: ['ExampleRunner'],
  options: CopyOptions,
  async convert({ source, outputDir, options }) {
    const file = path.join(outputDir, `model${'_'.repeat(options.padding ?? 0)}.onnx`);
    fs.copyFileSync(source.path, file);
    return { artifact: { format: 'example-copy', path: file, precision: 'fp32', sizeBytes: fs.statSync(file).size }, notes: `padding ${options.padding ?? 0}` };
  },
};
