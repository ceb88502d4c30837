import { AttributeType, decodeModel, encodeModel, type NodeProto } from '../onnx/proto';
import { mobileNetV2, type MobileNetOptions } from './mobilenet';

/**
 * A model as older exporters wrote it (torch.onnx before initializers were the default, TF2ONNX,
 * Keras2ONNX): every initializer moved into a `Constant` node that produces the same tensor name,
 * placed at the head of the graph. The opset is the one the model was built with; build it with
 * `opset: 11` for the full old-exporter shape. Quantizers and folders that look only at
 * initializers find no weights in such a model.
 */
export function withConstantWeights(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const constants: NodeProto[] = (graph.initializer ?? []).map((tensor) => ({
    input: [],
    output: [tensor.name!],
    name: `${tensor.name}_Constant`,
    opType: 'Constant',
    attribute: [{ name: 'value', type: AttributeType.TENSOR, t: { ...tensor, name: undefined } }],
  }));
  graph.node = [...constants, ...(graph.node ?? [])];
  graph.initializer = [];
  return encodeModel(model);
}

/**
 * mobileNetV2 as an old exporter leaves it: opset 11 (IR 6), weights in Constant nodes,
 * BatchNormalization not folded into the convs.
 */
export function mobileNetV2Legacy(options: Partial<Pick<MobileNetOptions, 'seed' | 'classes' | 'imageSize'>> = {}): Uint8Array {
  return withConstantWeights(mobileNetV2({ ...options, opset: 11 }));
}
