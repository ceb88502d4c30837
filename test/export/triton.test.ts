import * as fs from 'fs';
import * as path from 'path';
import { exportTriton } from '../../src/export/triton';
import { parsePbtxt, toPbtxt, enumValue } from '../../src/export/pbtxt';
import { validateTritonConfig } from '../../src/export/triton-validate';
import { smallOptimize } from '../helpers/small-optimize';
import { tempDir } from '../helpers/models';

describe('export to a Triton model repository', () => {
  let workspace: string;
  let repository: string;

  beforeAll(async () => {
    ({ workspace } = await smallOptimize());
    repository = path.join(tempDir('nav-triton-'), 'models');
  });

  it('writes config.pbtxt, 1/model.onnx and a recorded warm-up per module, valid against model_config.proto', () => {
    const exported = exportTriton({ workspace, repository });
    expect(exported.map((e) => e.name)).toEqual(['encoder', 'head']);
    for (const { name, dir, notes } of exported) {
      const status = JSON.parse(fs.readFileSync(path.join(workspace, name, 'status.json'), 'utf8'));
      const text = fs.readFileSync(path.join(dir, 'config.pbtxt'), 'utf8');
      expect(validateTritonConfig(text, dir)).toEqual([]);
      // The observed batch sizes: max_batch_size covers them, and they are the preferred ones.
      const observed = Object.keys(status.signature.batchSizes).map(Number);
      expect(text).toContain(`max_batch_size: ${Math.max(...observed, ...status.candidates.find((c: { key: string }) => c.key === status.selected.key).performance.map((p: { batchSize: number }) => p.batchSize))}`);
      for (const size of observed) expect(text).toContain(`preferred_batch_size: ${size}`);
      // Dims past the batch axis; the selection runs on the CPU here.
      expect(text).toMatch(/input \{\n  name: "x"\n  data_type: TYPE_FP32\n  dims: 16\n\}/);
      expect(text).toMatch(/kind: KIND_CPU/);
      // The warm-up file is one batch row of a recorded call: 16 float32 values.
      expect(fs.statSync(path.join(dir, 'warmup', 'x')).size).toBe(16 * 4);
      const selected = status.candidates.find((c: { key: string }) => c.key === status.selected.key);
      const expected = selected.file ? path.join(workspace, name, selected.file) : status.source;
      expect(fs.readFileSync(path.join(dir, '1', 'model.onnx'))).toEqual(fs.readFileSync(expected));
      expect(notes[0]).toMatch(/^model\.onnx: the (source|selected)/);
      if (selected.variant.settings.intraOpNumThreads) expect(text).toContain('key: "intra_op_thread_count"');
    }
  });

  it('rejects a source model that is not the one optimized', () => {
    const other = path.join(tempDir(), 'other.onnx');
    fs.writeFileSync(other, 'not the model');
    const encoder = JSON.parse(fs.readFileSync(path.join(workspace, 'encoder', 'status.json'), 'utf8'));
    if (encoder.candidates.find((c: { key: string }) => c.key === encoder.selected.key).file) return; // a converted selection needs no source
    expect(() => exportTriton({ workspace, repository, modules: ['encoder'], sources: { encoder: other } })).toThrow(/hash differs/);
  });
});

describe('config.pbtxt validator', () => {
  const valid = toPbtxt({
    name: 'm',
    backend: 'onnxruntime',
    max_batch_size: 4,
    input: [{ name: 'x', data_type: enumValue('TYPE_FP32'), dims: [-1, 8] }],
    output: [{ name: 'y', data_type: enumValue('TYPE_FP32'), dims: [8] }],
    instance_group: [{ count: 1, kind: enumValue('KIND_GPU') }],
    dynamic_batching: { preferred_batch_size: [2, 4] },
    optimization: { execution_accelerators: { gpu_execution_accelerator: [{ name: 'tensorrt', parameters: [{ key: 'precision_mode', value: 'FP16' }] }] } },
    parameters: [{ key: 'intra_op_thread_count', value: { string_value: '2' } }],
  });

  it('accepts a config written by hand in the other text-format spellings', () => {
    expect(validateTritonConfig(valid)).toEqual([]);
    const other = `name: "m" backend: "onnxruntime" max_batch_size: 8
      input [ { name: "x", data_type: TYPE_INT64, dims: [ 16 ] } ]  # lists and commas
      output [ { name: "y" data_type: TYPE_FP32 dims: [ -1 ] } ]
      instance_group [ { kind: KIND_CPU count: 2 } ]
      dynamic_batching { }`;
    expect(validateTritonConfig(other)).toEqual([]);
    expect(parsePbtxt(valid).get('input')).toHaveLength(1);
  });

  it.each([
    ['an unknown field', 'max_batch: 4', /has no field "max_batch"/],
    ['a string where an int32 goes', 'max_batch_size: "4"', /max_batch_size: expected int32/],
    ['an int32 out of range', 'max_batch_size: 4294967296', /outside int32/],
    ['an unknown enum value', 'instance_group { kind: KIND_TPU }', /expected one of KIND_AUTO, KIND_GPU, KIND_CPU, KIND_MODEL/],
    ['two scheduling choices', 'sequence_batching { }', /sequence_batching and dynamic_batching are both set/],
    ['a repeated scalar set twice', 'backend: "tensorrt"', /backend: set 2 times/],
    ['a preferred batch size over the maximum', { replace: 'max_batch_size: 4', by: 'max_batch_size: 2' }, /preferred_batch_size 4 is outside 1..max_batch_size \(2\)/],
    ['a dim of 0', 'input { name: "z" data_type: TYPE_FP32 dims: 0 }', /dim 0 is neither -1/],
    ['a CPU group naming GPUs', 'instance_group { kind: KIND_CPU gpus: 0 }', /KIND_CPU cannot name gpus/],
    ['a syntax error', 'input {', /unexpected end|expected }/],
  ] as [string, string | { replace: string; by: string }, RegExp][])('reports %s', (_, change, problem) => {
    const text = typeof change === 'string' ? `${valid}\n${change}\n` : valid.replace(change.replace, change.by);
    expect(validateTritonConfig(text).join('\n')).toMatch(problem);
  });

  it('checks warm-up data against the inputs and the files in <model>/warmup', () => {
    const dir = path.join(tempDir(), 'm');
    fs.mkdirSync(path.join(dir, '1'), { recursive: true });
    fs.writeFileSync(path.join(dir, '1', 'model.onnx'), '');
    fs.mkdirSync(path.join(dir, 'warmup'));
    fs.writeFileSync(path.join(dir, 'warmup', 'x'), Buffer.alloc(8 * 4));
    const warmup = (dims: string, file: string) => `${valid}\nmodel_warmup { name: "w" batch_size: 1 inputs { key: "x" value { data_type: TYPE_FP32 ${dims} input_data_file: "${file}" } } }`;
    expect(validateTritonConfig(warmup('dims: 8', 'x'), dir)).toEqual([]);
    expect(validateTritonConfig(warmup('dims: 9', 'x'), dir).join('\n')).toMatch(/has 32 bytes, dims and type need 36/);
    expect(validateTritonConfig(warmup('dims: 8', 'missing'), dir).join('\n')).toMatch(/does not exist/);
    fs.rmSync(path.join(dir, '1', 'model.onnx'));
    expect(validateTritonConfig(valid, dir).join('\n')).toMatch(/has no model.onnx/);
  });
});
