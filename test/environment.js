// onnxruntime-node creates output tensors in Node's main realm, while jest runs each test file in a
// realm of its own; onnxruntime-common's `instanceof Float32Array` checks then fail on data that is
// perfectly valid. Sharing the main realm's typed arrays with the test realm makes both agree, as in
// a plain Node.js process.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { TestEnvironment } = require('jest-environment-node');

class SharedTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of [
      'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Float32Array', 'Float64Array', 'Int8Array', 'Int16Array', 'Int32Array',
      'Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array',
    ]) {
      this.global[name] = globalThis[name];
    }
    // Each test file writes models and workspaces under os.tmpdir(); pointing that at a folder of
    // the file's own, removed when the file ends, leaves nothing behind in the machine's /tmp.
    // Node's os module reads the worker's real environment, which runs one test file at a time.
    // Device discovery's disk cache is kept out of it: test/global-setup.js gives the whole run one
    // (NAV_DEVICE_CACHE_DIR), so the provider probes run once per run, not once per file.
    this.tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'nav-jest-'));
    this.previousTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = this.tmpRoot;
  }

  async teardown() {
    await super.teardown();
    if (this.previousTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = this.previousTmpdir;
    fs.rmSync(this.tmpRoot, { recursive: true, force: true });
  }
}

module.exports = SharedTypedArraysEnvironment;
