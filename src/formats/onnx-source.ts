import { RUNNER_KINDS, type Format } from '../core/plugin';

/** The user's model as given: the baseline every other candidate is compared with. */
export const onnxSourceFormat: Format = {
  name: 'onnx',
  precision: 'fp32',
  description: 'the source ONNX model, unchanged',
  loadedBy: [RUNNER_KINDS.onnxruntime],
  async convert({ source }) {
    return { artifact: source };
  },
};
