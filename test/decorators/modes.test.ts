import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import ts from 'typescript';
import { mlpModel, tempDir, writeModel } from '../helpers/models';

// Consumers of the built package (npm test builds dist/ first), compiled here as an application
// would compile them, under each decorator mode, and run with node.
const root = path.join(__dirname, '..', '..');
const fixtures = path.join(__dirname, '..', 'fixtures', 'decorator-modes');
const dir = tempDir();
const model = writeModel(dir, 'classifier.onnx', mlpModel({ seed: 61 }));

const modes = {
  legacy: { experimentalDecorators: true, emitDecoratorMetadata: true },
  standard: {}, // TypeScript 5's default: TC39 decorators
} as const;

/**
 * Compiles one fixture as `.cts` (CommonJS) or `.mts` (ES module) under nodenext, which resolves
 * 'model-navigator-ts' through the package's own exports; fails on any diagnostic. The output goes
 * under dist/ so that node resolves the package name to this package.
 */
function compile(fixture: string, mode: keyof typeof modes, format: 'cjs' | 'esm'): string {
  const outDir = path.join(root, 'dist', 'test-consumers', `${fixture}-${mode}-${format}`);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const source = path.join(outDir, `${fixture}.${format === 'cjs' ? 'cts' : 'mts'}`);
  fs.copyFileSync(path.join(fixtures, `${fixture}.ts`), source);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
    outDir,
    rootDir: outDir,
    ...modes[mode],
  };
  const program = ts.createProgram([source], options);
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  const text = ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' });
  expect(text).toBe('');
  return path.join(outDir, `${fixture}.${format === 'cjs' ? 'cjs' : 'mjs'}`);
}

function run(file: string, args: string[] = []): { status: number; stdout: string; stderr: string } {
  try {
    return { status: 0, stdout: execFileSync(process.execPath, [file, ...args], { cwd: root, encoding: 'utf8', stdio: 'pipe' }), stderr: '' };
  } catch (error) {
    const e = error as { status: number; stdout: string; stderr: string };
    return { status: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('decorators under both TypeScript decorator modes', () => {
  for (const mode of ['legacy', 'standard'] as const) {
    for (const format of ['cjs', 'esm'] as const) {
      it(`@pipeline, @navModule and @optimizeConfig: ${mode} decorators, ${format === 'cjs' ? 'CommonJS' : 'ES module'} consumer`, () => {
        const app = compile('app', mode, format);
        const result = run(app, [model, path.join(dir, `ws-${mode}-${format}`)]);
        expect(result.stderr).toBe('');
        const out = JSON.parse(result.stdout.trim().split('\n').pop()!);
        expect(out).toEqual({ bound: true, dims: [2, 8], formats: ['onnx', 'onnx-optimized'] });
      });
    }
  }

  it("injects a pipeline's constructor parameters under legacy decorators", () => {
    const result = run(compile('injected', 'legacy', 'cjs'));
    expect(result.stdout.trim()).toBe('{"injected":3}');
  });

  it('says which tsconfig setting constructor injection needs under standard decorators', () => {
    const result = run(compile('injected', 'standard', 'cjs'));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/@pipeline class Reader takes constructor parameters, but TypeScript's standard decorators record no parameter types for tsyringe to inject/);
    expect(result.stderr).toMatch(/Fix: set "experimentalDecorators": true and "emitDecoratorMetadata": true in tsconfig.json's compilerOptions/);
  });
});
