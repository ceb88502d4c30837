// onnxruntime-node creates output tensors in Node's main realm, while jest runs each test file in a
// realm of its own; onnxruntime-common's `instanceof Float32Array` checks then fail on data that is
// perfectly valid. Sharing the main realm's typed arrays with the test realm makes both agree, as in
// a plain Node.js process.
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
  }
}

module.exports = SharedTypedArraysEnvironment;
