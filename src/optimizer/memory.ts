import * as fs from 'fs';
import * as v8 from 'v8';
import * as vm from 'vm';
import type { ModelProto } from '../onnx/messages';
import { readModel } from '../onnx/model-io';

/**
 * The source model's bytes, read once for all of a module's conversions; each `read()` decodes
 * afresh over them (decoding makes views, not copies). `release()` lets them go.
 */
export function sharedSource(file: string): { read(): ModelProto; release(): void } {
  let bytes: Uint8Array | undefined;
  return {
    read: () => readModel(file, { bytes: (bytes ??= fs.readFileSync(file)) }),
    release: () => {
      bytes = undefined;
    },
  };
}

let gc: (() => void) | undefined;

/**
 * Collects garbage now. Conversions leave model-sized buffers behind that V8 would free only later,
 * after the next onnxruntime session (native memory V8 does not see) had added its own copy; for a
 * large model that is what sets optimize's peak memory.
 */
export function collectGarbage(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gc = exposed;
    else {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    }
  }
  gc();
}
