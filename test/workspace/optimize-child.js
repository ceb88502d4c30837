// One optimize of one module into a workspace, in a process of its own: what the process tests run
// (and kill). Uses the build (dist/), as a user's process would; `npm test` builds first.
// Arguments: <model path> <workspace> [force]. Prints {"cached","runDir"} on success.
const { navModule, OnnxModule, optimize } = require('../../dist/src');
const { Tensor } = require('onnxruntime-node');

const [modelPath, workspace, force] = process.argv.slice(2);
const shared = navModule(new OnnxModule(modelPath), { name: 'shared' });
const rows = (batch) => new Tensor('float32', Float32Array.from({ length: batch * 16 }, (_, i) => Math.sin(i)), [batch, 16]);
const config = {
  workspace,
  force: force === 'force',
  verbose: false,
  targetFormats: ['onnx', 'onnx-optimized'],
  profiling: { windowMs: 5, stableWindows: 2, maxWindows: 3 },
};
optimize(async (batch) => shared.run({ x: rows(batch) }), [[1, 1], [2, 2]], config).then(
  (result) => process.stdout.write(JSON.stringify({ cached: result.modules.shared.cached, runDir: result.modules.shared.runDir })),
  (error) => {
    process.stderr.write(`${error.stack}\n`);
    process.exit(1);
  },
);
