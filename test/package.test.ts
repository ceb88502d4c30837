import { execFileSync } from 'child_process';
import * as path from 'path';

// `npm test` builds first, so the published entry points can be loaded as a user would.
const root = path.join(__dirname, '..');
const node = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

describe('the package root', () => {
  const names = ['navModule', 'optimizeConfig', 'pipeline', 'OnnxModule', 'optimize', 'loadOptimized', 'bootstrap', 'Optimizer', 'strategies'];

  it('works from require', () => {
    const out = node(['-e', `const nav = require('model-navigator-ts'); console.log(${JSON.stringify(names)}.map((n) => typeof nav[n]).join(','))`]);
    expect(out.trim().split(',')).toEqual(['function', 'function', 'function', 'function', 'function', 'function', 'function', 'function', 'object']);
  });

  it('works from import', () => {
    const out = node(['--input-type=module', '-e', `import { ${names.join(', ')} } from 'model-navigator-ts'; console.log(typeof optimize, typeof OnnxModule, typeof strategies.maxThroughput)`]);
    expect(out.trim()).toBe('function function function');
  });
});
