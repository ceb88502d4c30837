/**
 * Every ONNX-producing format over the ONNX backend test models (Debian's libonnx-testdata) that
 * onnxruntime's CPU provider runs. fp32 rewrites (the codec's read/write round trip, onnx-optimized,
 * onnx-static) must reproduce the expected outputs within 1e-5 relative; lower precisions must pass
 * their tolerance, or say why they do not apply, or be caught by the correctness check. Crashes and
 * silent mismatches fail the test.
 */
import * as fs from 'fs';
import * as path from 'path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { ModuleSignature } from '../../src/core/signature';
import { optionsFor, resolveModuleConfig } from '../../src/config/resolve';
import type { Feeds } from '../../src/core/feeds';
import { decodeModel, decodeTensor, encodeModel, ortTypeOf } from '../../src/onnx/proto';
import { tensorToArray } from '../../src/onnx/graph';
import { readModel } from '../../src/onnx/model-io';
import { formatRegistry } from '../../src/plugins';
import { compareTensors } from '../../src/tensors';
import { runModel, tempDir } from '../helpers/models';
import { ONNX_TESTDATA, describeWithTestdata } from '../helpers/testdata';

const DATA = ONNX_TESTDATA;
const config = resolveModuleConfig({});
const formats = formatRegistry.all().filter((f) => f.name.startsWith('onnx-'));
type Outcome = 'passed' | 'not applicable' | 'caught by the correctness check' | 'failed';

function readTensors(dir: string, prefix: string): { name: string; tensor: Tensor }[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length))).map((file) => {
    const proto = decodeTensor(fs.readFileSync(path.join(dir, file)));
    const data = tensorToArray(proto);
    return { name: proto.name ?? '', tensor: new Tensor(ortTypeOf(proto.dataType ?? 0) as 'float32', data as Float32Array, proto.dims ?? []) };
  });
}

/** Within `rtol` relative to the largest expected value (1e-5 for fp32 rewrites), NaN where expected. */
function matches(actual: Tensor, expected: Tensor, rtol: number, atol: number): boolean {
  if (expected.type === 'string' || actual.type !== expected.type) return actual.type === expected.type;
  const error = compareTensors('', actual, expected);
  return !error.shapeMismatch && !error.nonFinite && error.maxAbsError <= atol + rtol * error.sourceMaxAbs;
}

/** onnxruntime's CPU provider, its warnings silenced. */
const cpuOnly: InferenceSession.SessionOptions = { executionProviders: ['cpu'], logSeverityLevel: 3 };

function signatureOf(feeds: Feeds, outputs: Feeds): ModuleSignature {
  const spec = (name: string, t: Tensor) => ({ name, dtype: t.type, shape: [...t.dims], dynamicAxes: [], min: [...t.dims], opt: [...t.dims], max: [...t.dims] });
  return { inputs: Object.entries(feeds).map(([n, t]) => spec(n, t)), outputs: Object.entries(outputs).map(([n, t]) => spec(n, t)), batching: false, batchSizes: {}, calls: 1 };
}

describeWithTestdata('conversions over the ONNX backend test models', () => {
  it('runs every conversion on every model onnxruntime runs', async () => {
    const work = tempDir('nav-backend-');
    const counts: Record<string, Record<Outcome, number>> = {};
    const failures: string[] = [];
    const notApplicable = new Map<string, number>();
    let runnable = 0, skipped = 0;
    const record = (format: string, outcome: Outcome, detail?: string) => {
      counts[format] ??= { passed: 0, 'not applicable': 0, 'caught by the correctness check': 0, failed: 0 };
      counts[format][outcome]++;
      if (outcome === 'failed') failures.push(`${format}: ${detail}`);
      if (outcome === 'not applicable') notApplicable.set(`${format}: ${detail}`, (notApplicable.get(`${format}: ${detail}`) ?? 0) + 1);
    };

    for (const name of fs.readdirSync(DATA).sort()) {
      const dir = path.join(DATA, name);
      const modelPath = path.join(dir, 'model.onnx');
      const dataDir = path.join(dir, 'test_data_set_0');
      if (!fs.existsSync(modelPath) || !fs.existsSync(dataDir)) continue;
      const bytes = fs.readFileSync(modelPath);
      const graph = decodeModel(bytes).graph!;
      let feeds: Feeds;
      let original: Feeds;
      try {
        // String tensors and types onnxruntime-node lacks (bfloat16, float8) throw here: not runnable.
        const inputs = readTensors(dataDir, 'input_');
        const expectedList = readTensors(dataDir, 'output_');
        feeds = Object.fromEntries(inputs.map(({ tensor }, i) => [graph.input![i].name!, tensor]));
        original = await runModel(modelPath, feeds, cpuOnly);
        // Only models whose reference outputs onnxruntime itself reproduces (not random ops, not unsupported types).
        const outNames = graph.output!.map((o) => o.name!);
        if (!expectedList.every(({ tensor }, i) => original[outNames[i]] && matches(original[outNames[i]], tensor, 1e-4, 1e-5))) throw new Error('reference mismatch');
      } catch {
        skipped++;
        continue;
      }
      runnable++;
      const check = (format: string, outputs: Feeds, rtol: number, atol: number, fp32: boolean, where: string) => {
        const ok = Object.entries(original).every(([n, t]) => outputs[n] && matches(outputs[n], t, rtol, atol));
        if (ok) record(format, 'passed');
        else record(format, fp32 ? 'failed' : 'caught by the correctness check', `${name}: outputs differ (${where})`);
      };

      try {
        check('round trip', await runModel(encodeModel(decodeModel(bytes)), feeds, cpuOnly), 1e-5, 1e-6, true, 'codec');
      } catch (error) {
        record('round trip', 'failed', `${name}: ${(error as Error).message.split('\n')[0]}`);
      }
      for (const format of formats) {
        const outputDir = path.join(work, name, format.name);
        fs.mkdirSync(outputDir, { recursive: true });
        try {
          const result = await format.convert({
            module: name, source: { format: 'onnx', path: modelPath, precision: 'fp32', sizeBytes: bytes.length }, outputDir,
            cacheDir: work, options: optionsFor(format, config),
            signature: signatureOf(feeds, original), config, readSource: () => readModel(modelPath), samples: () => [{ file: dataDir, inputs: feeds, outputs: original }], log: () => undefined,
          });
          if ('notApplicable' in result) {
            record(format.name, 'not applicable', result.notApplicable.replace(/"[^"]*"/g, '"…"').slice(0, 90));
            continue;
          }
          const tolerance = config.tolerances[format.precision];
          const fp32 = format.precision === 'fp32';
          check(format.name, await runModel(result.artifact.path, feeds, cpuOnly), fp32 ? 1e-5 : tolerance.rtol, fp32 ? 1e-6 : tolerance.atol, fp32, format.precision);
        } catch (error) {
          record(format.name, 'failed', `${name}: ${(error as Error).message.split('\n')[0].slice(0, 200)}`);
        }
      }
    }

    const lines = Object.entries(counts).map(([format, c]) => `${format.padEnd(16)} ran ${runnable}: ${c.passed} passed, ${c['not applicable']} not applicable, ${c['caught by the correctness check']} over tolerance (caught by the correctness check), ${c.failed} failed`);
    const reasons = [...notApplicable.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([r, n]) => `  ${n} x ${r}`);
    console.log([`backend models: ${runnable} run by onnxruntime's CPU provider, ${skipped} not (unsupported or not reproducible)`, ...lines, 'most common not-applicable reasons:', ...reasons, ...failures.slice(0, 30).map((f) => `FAILED ${f}`)].join('\n'));
    expect(runnable).toBeGreaterThan(500);
    expect(failures).toEqual([]);
    expect(counts['round trip'].passed).toBe(runnable);
    for (const format of formats.filter((f) => f.precision === 'fp32')) expect(counts[format.name].failed).toBe(0);
  }, 600_000);
});
