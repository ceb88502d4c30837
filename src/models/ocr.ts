import type { GraphBuilder } from '../onnx/builder';
import { Net, batchNorm, conv2d, int64s, linear, newNet, sharedInitializer, uniformParam } from './layers';
import { FeatureMap, buildMobileNet, mobileNetBackbone, MOBILENET_V2_STAGES } from './mobilenet';

/**
 * Three models shaped like an OCR pipeline (detector → crops → angle classifier → recognizer), as
 * PaddleOCR-style pipelines run them: a DBNet-like text detector, a MobileNetV3-like 2-way angle
 * classifier and a CRNN-like recognizer with a linear head instead of the LSTM. Random fixed-seed
 * weights; only ops whose form is the same from opset 11 on, so `opset: 11` builds them too.
 */

/** Height of the text-line crops the classifier and the recognizer take. */
export const TEXT_LINE_HEIGHT = 32;
/** Recognizer classes: index 0 is the CTC blank, then 96 printable characters. */
export const TEXT_CLASSES = 97;
/** Recognizer time steps per crop pixel column: one per 4 columns. */
export const RECOGNIZER_STRIDE = 4;

export interface OcrModelOptions {
  seed: number;
  opset: number;
}

/** Empty roi input of Resize: required at opset 11, ignored by the modes used here. */
function upsample(b: GraphBuilder, x: string, scale: number): string {
  const roi = sharedInitializer(b, 'resize.roi', [], [0]);
  const scales = sharedInitializer(b, `resize.scales${scale}`, [1, 1, scale, scale], [4]);
  // PyTorch's export of nn.Upsample(mode='nearest').
  return b.op('Resize', [x, roi, scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' });
}

function convBnRelu(net: Net, x: string, name: string, cin: number, cout: number, kernel: number): string {
  return net.b.op('Relu', [batchNorm(net, conv2d(net, x, `${name}.conv`, cin, cout, kernel), `${name}.bn`, cout)]);
}

/** ConvTranspose 2x2/2 (with bias): doubles the resolution, as DBNet's head does twice. */
function convTranspose2x(net: Net, x: string, name: string, cin: number, cout: number, gain = Math.SQRT2): string {
  const w = net.b.randomWeight(`${name}.weight`, [cin, cout, 2, 2], gain * Math.sqrt(3 / cin));
  const bias = net.b.randomWeight(`${name}.bias`, [cout], 0.02);
  return net.b.op('ConvTranspose', [x, w, bias], { kernel_shape: [2, 2], strides: [2, 2] });
}

/**
 * DBNet-like detector: a half-width MobileNetV2 backbone, an FPN (1x1 laterals, top-down nearest 2x
 * Resize + Add, 3x3 smoothing, every level resized to 1/4 and concatenated), then conv + BN + ReLU,
 * two ConvTranspose 2x, Sigmoid.
 *
 * `image` float32 [batch, 3, height, width], height and width multiples of 32 →
 * `probability` float32 [batch, 1, height, width], the text probability of each pixel.
 */
export function buildTextDetector(options: Partial<OcrModelOptions> = {}): Uint8Array {
  const net = newNet('text_detector', options.seed ?? 11, options.opset ?? 17);
  const { b } = net;
  const image = b.input('image', 'float32', ['batch', 3, 'height', 'width']);
  const maps = mobileNetBackbone(net, image, { widthMultiplier: 0.5, stages: MOBILENET_V2_STAGES, stemChannels: 32, squeezeExcite: false });
  const levels: FeatureMap[] = [4, 8, 16, 32].map((stride) => maps.find((m) => m.stride === stride)!);
  const inner = 64;
  const laterals = levels.map((m) => conv2d(net, m.tensor, `neck.lateral${m.stride}`, m.channels, inner, 1, { gain: 1 }));
  // Top-down: each level adds the upsampled coarser one.
  for (let i = laterals.length - 2; i >= 0; i--) laterals[i] = b.op('Add', [laterals[i], upsample(b, laterals[i + 1], 2)]);
  const quarter = inner / 4;
  const smoothed = laterals.map((x, i) => {
    const y = conv2d(net, x, `neck.smooth${levels[i].stride}`, inner, quarter, 3, { gain: 1 });
    return i === 0 ? y : upsample(b, y, levels[i].stride / 4);
  });
  const fused = b.op('Concat', smoothed, { axis: 1 });
  let h = convBnRelu(net, fused, 'head.conv', inner, quarter, 3);
  h = b.op('Relu', [batchNorm(net, convTranspose2x(net, h, 'head.up1', quarter, quarter), 'head.up1.bn', quarter)]);
  // Gain 8 spreads the logits (std ~1) so the map separates text from background rather than sitting at 0.5.
  const logits = convTranspose2x(net, h, 'head.up2', quarter, 1, 8);
  b.node('Sigmoid', [logits], {}, { outputs: ['probability'] });
  b.output('probability', 'float32', ['batch', 1, 'height', 'width']);
  return b.toBytes();
}

/**
 * Angle classifier: a quarter-width MobileNetV3-like net (SE gates with HardSigmoid) over text-line
 * crops. `pixel_values` float32 [batch, 3, 32, width] → `logits` float32 [batch, 2]
 * (upright, upside down).
 */
export function buildTextClassifier(options: Partial<OcrModelOptions> = {}): Uint8Array {
  return buildMobileNet({
    widthMultiplier: 0.5,
    stages: [
      [1, 16, 1, 1],
      [4, 24, 2, 2],
      [4, 40, 2, 2],
      [4, 80, 2, 2],
    ],
    stemChannels: 16,
    lastChannels: 128,
    squeezeExcite: true,
    imageSize: null,
    classes: 2,
    opset: options.opset ?? 17,
    seed: options.seed ?? 12,
    name: 'text_classifier',
  });
}

/**
 * CRNN-like recognizer: VGG-style convs with BN + ReLU, pooling the height 32 down to 1 and the width
 * by 4, the columns as a sequence, and a two-layer MatMul head (CRNN's LSTM replaced by a linear one).
 *
 * `crops` float32 [batch, 3, 32, width], width a multiple of 4 → `logits` float32
 * [batch, width / 4, 97], per time step the scores of the CTC blank and 96 characters.
 */
export function buildTextRecognizer(options: Partial<OcrModelOptions> = {}): Uint8Array {
  const net = newNet('text_recognizer', options.seed ?? 13, options.opset ?? 17);
  const { b } = net;
  const crops = b.input('crops', 'float32', ['batch', 3, TEXT_LINE_HEIGHT, 'width']);
  const pool = (x: string, kernel: [number, number]): string => b.op('MaxPool', [x], { kernel_shape: kernel, strides: kernel });
  let h = pool(convBnRelu(net, crops, 'cnn.0', 3, 32, 3), [2, 2]); // 16 x W/2
  h = pool(convBnRelu(net, h, 'cnn.1', 32, 64, 3), [2, 2]); // 8 x W/4
  h = convBnRelu(net, h, 'cnn.2', 64, 128, 3);
  h = pool(convBnRelu(net, h, 'cnn.3', 128, 128, 3), [2, 1]); // 4 x W/4
  h = convBnRelu(net, h, 'cnn.4', 128, 192, 3);
  h = pool(convBnRelu(net, h, 'cnn.5', 192, 192, 3), [2, 1]); // 2 x W/4
  // A 2x1 conv without padding takes the last two rows to one, as CRNN's last conv does.
  const w = b.randomWeight('cnn.6.conv.weight', [192, 192, 2, 1], Math.SQRT2 * Math.sqrt(3 / (192 * 2)));
  h = b.op('Relu', [batchNorm(net, b.op('Conv', [h, w], { kernel_shape: [2, 1] }), 'cnn.6.bn', 192)]); // 1 x W/4
  const sequence = b.op('Transpose', [b.op('Reshape', [h, int64s(b, 'sequence.shape', [0, 192, -1])])], { perm: [0, 2, 1] });
  const hidden = b.op('Relu', [linear(net, sequence, 'head.fc1', 192, 256, Math.SQRT2)]);
  const scores = linear(net, hidden, 'head.fc2', 256, TEXT_CLASSES, 2);
  // The blank gets a head start, as trained CTC models' outputs favour it.
  b.node('Add', [scores, uniformParam(net, 'head.blank_bias', [TEXT_CLASSES], 0, 0.5)], {}, { outputs: ['logits'] });
  b.output('logits', 'float32', ['batch', 'steps', TEXT_CLASSES]);
  return b.toBytes();
}
