import type { Format } from './format';

/** The user's model as given: the baseline every other candidate is compared with. */
export const onnxSourceFormat: Format = {
  name: 'onnx',
  precision: 'fp32',
  description: 'the source ONNX model, unchanged',
  async convert({ source }) {
    return { artifact: source };
  },
};
