import * as path from 'path';
import { Tensor } from 'onnxruntime-node';
import { navModule, OnnxModule, optimize } from '../../src';
import type { Feeds, OptimizeStatus } from '../../src';
import { mlpModel, quiet, rows, tempDir, writeModel } from './models';

/** A real optimize of a small two-module pipeline on the CPU, into a fresh workspace: what reports, the CLI and exports read. */
export async function smallOptimize(workspace = path.join(tempDir('nav-small-'), 'cache')): Promise<{ workspace: string; status: OptimizeStatus; rerun: () => Promise<OptimizeStatus> }> {
  const dir = tempDir('nav-small-models-');
  const encoderPath = writeModel(dir, 'encoder.onnx', mlpModel({ seed: 1, inputs: 16, outputs: 16 }));
  const headPath = writeModel(dir, 'head.onnx', mlpModel({ seed: 2, inputs: 16, outputs: 4 }));

  class SmallPipeline {
    @navModule({ name: 'encoder' })
    encoder = new OnnxModule(encoderPath);

    @navModule({ name: 'head' })
    head = new OnnxModule(headPath);

    async run(batch: number): Promise<Feeds> {
      const { y } = await this.encoder.run({ x: rows(batch, 16) });
      const doubled = new Float32Array(y.data.length * 2);
      doubled.set(y.data as Float32Array);
      doubled.set(y.data as Float32Array, y.data.length);
      return this.head.run({ x: new Tensor('float32', doubled, [batch * 2, 16]) });
    }
  }
  const config = { workspace, ...quiet, targetFormats: ['onnx', 'onnx-optimized', 'onnx-int8'], runners: ['OnnxCPU'], sampleCount: 2 };
  const dataloader = [[1, 1], [2, 2], [1, 1]] as const;
  const status = await optimize(new SmallPipeline(), dataloader, config);
  return { workspace, status, rerun: () => optimize(new SmallPipeline(), dataloader, config) };
}
