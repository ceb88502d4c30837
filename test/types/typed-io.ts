/**
 * Compile-time checks, run by `npx tsc -p test/tsconfig.json` (part of `npm test`): each
 * `@ts-expect-error` line must fail to compile, and every other line must compile. Nothing here runs.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { OnnxModule, navModule, optimize, pipeline } from '../../src';
import type { Tensors } from '../../src';

// An OnnxModule stands wherever onnxruntime's InferenceSession is expected.
export const dropIn: InferenceSession = new OnnxModule('model.onnx');
export const created: Promise<InferenceSession> = OnnxModule.create('model.onnx', { graphOptimizationLevel: 'all' });

type EncoderIn = Tensors<{ input_ids: 'int64'; attention_mask: 'int64' }>;
type EncoderOut = Tensors<{ logits: 'float32' }>;
const encoder = navModule(new OnnxModule<EncoderIn, EncoderOut>('encoder.onnx'), { name: 'typed_encoder' });
const ids = new Tensor('int64', new BigInt64Array(4), [1, 4]);

export async function typedModule(): Promise<void> {
  const { logits } = await encoder.run({ input_ids: ids, attention_mask: ids });
  const scores: Float32Array = logits.data;
  // @ts-expect-error the output is logits, not logitz
  await encoder.run({ input_ids: ids, attention_mask: ids }).then((out) => out.logitz);
  // @ts-expect-error attention_mask is missing
  await encoder.run({ input_ids: ids });
  // @ts-expect-error input_ids takes an int64 tensor
  await encoder.run({ input_ids: new Tensor('float32', new Float32Array(4), [1, 4]), attention_mask: ids });
  const fetched = await encoder.run({ input_ids: ids, attention_mask: ids }, ['logits']);
  void [scores, fetched.logits];
  // @ts-expect-error fetches name outputs
  await encoder.run({ input_ids: ids, attention_mask: ids }, ['logitz']);
}

// Mapped modules: run takes and returns what the mappings say.
const mapped = navModule(new OnnxModule<number[], number[]>('mlp.onnx'), {
  name: 'typed_mapped',
  inputMapping: (values) => ({ x: new Tensor('float32', Float32Array.from(values), [1, values.length]) }),
  outputMapping: (outputs) => Array.from(outputs.y.data as Float32Array),
});
export async function mappedModule(): Promise<number> {
  // @ts-expect-error the mapping takes number[]
  await mapped.run('text');
  return (await mapped.run([1, 2]))[0];
}

class Generator {
  model = new OnnxModule('unet.onnx');
  async generate(prompts: string[], steps: number): Promise<number> {
    return prompts.length * steps;
  }
}

// @pipeline with the method named: call and the dataloader's items follow its parameters.
@pipeline<Generator, 'generate'>({ method: 'generate', dataloader: () => [[1, ['a fox'], 4], [2, ['a', 'b'], 8]] })
export class TypedByMethod extends Generator {}

@pipeline<Generator, 'generate'>({ call: (p, prompts, steps) => p.generate(prompts.map((t) => t.trim()), steps + 1) })
export class TypedCall extends Generator {}

@pipeline<Generator, 'generate'>({
  // @ts-expect-error the items are [batchSize, prompts: string[], steps: number]
  dataloader: () => [[1, 'a fox', 4]],
})
export class WrongItems extends Generator {}

@pipeline<Generator, 'generate'>({
  // @ts-expect-error steps is a number
  call: (p, prompts, steps: string) => p.generate(prompts, Number(steps)),
})
export class WrongCall extends Generator {}

// @ts-expect-error generate is the only method name
@pipeline<Generator, 'generat'>({})
export class WrongMethod extends Generator {}

// optimize: a function's dataloader items are [batchSize, ...its parameters]; a pipeline's follow its call.
export async function typedOptimize(): Promise<void> {
  await optimize((batch: number, prompt: string) => encoder.run({ input_ids: ids, attention_mask: ids }).then(() => prompt + batch), [[1, 1, 'a']]);
  // @ts-expect-error the second argument is a string
  await optimize((batch: number, prompt: string) => prompt + batch, [[1, 1, 2]]);
  await optimize(new Generator(), [[1, ['a'], 4]], { call: (p, prompts: string[], steps: number) => p.generate(prompts, steps) });
  // @ts-expect-error the items do not match call's parameters
  await optimize(new Generator(), [[1, 'a', 4]], { call: (p, prompts: string[], steps: number) => p.generate(prompts, steps) });
}
