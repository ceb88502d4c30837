import * as fs from 'fs';
import * as path from 'path';
import { onnxOptimizedFormat } from '../../src/formats/onnx-optimized';
import { decodeModel } from '../../src/onnx/proto';
import { writeModel as writeOnnx } from '../../src/onnx/model-io';
import { artifactOf, convertWith, errorsWithin } from '../helpers/format-check';
import { mlpModel, rows, runModel, tempDir, writeModel } from '../helpers/models';

describe('onnx-optimized', () => {
  it('writes the optimized graph inline for a small model, with the source outputs', async () => {
    const source = writeModel(tempDir(), 'model.onnx', mlpModel({ seed: 4 }));
    const artifact = artifactOf(await convertWith(onnxOptimizedFormat, source));
    expect(fs.existsSync(`${artifact.path}.data`)).toBe(false);
    const feeds = { x: rows(3, 16) };
    const errors = errorsWithin(await runModel(artifact.path, feeds), await runModel(source, feeds), { atol: 1e-5, rtol: 1e-5 });
    expect(errors.every((e) => e.passed)).toBe(true);
  });

  it('keeps the weights external when the source keeps them external, however small its .onnx file', async () => {
    const dir = tempDir();
    const source = path.join(dir, 'model.onnx');
    writeOnnx(source, decodeModel(mlpModel({ seed: 4, hidden: 64 })), { externalDataThreshold: 1024 });
    expect(fs.existsSync(path.join(dir, 'model.onnx.data'))).toBe(true);
    const artifact = artifactOf(await convertWith(onnxOptimizedFormat, source));
    const dataFile = path.join(path.dirname(artifact.path), 'model.onnx.data');
    expect(fs.statSync(dataFile).size).toBeGreaterThan(0);
    expect(artifact.sizeBytes).toBe(fs.statSync(artifact.path).size + fs.statSync(dataFile).size);
    const feeds = { x: rows(3, 16) };
    const errors = errorsWithin(await runModel(artifact.path, feeds), await runModel(source, feeds), { atol: 1e-5, rtol: 1e-5 });
    expect(errors.every((e) => e.passed)).toBe(true);
  });
});
