import { resnet50 } from '../../src/models';
import { decodeModel } from '../../src/onnx/proto';
import { GraphBuilder } from '../../src/onnx/builder';
it('timing', () => {
  let t = performance.now();
  const b = new GraphBuilder('x');
  b.randomWeight('w', [25_000_000], 0.1);
  console.log('randomWeight 25M', performance.now() - t);
  t = performance.now();
  const bytes = resnet50();
  console.log('resnet50 build', performance.now() - t);
  t = performance.now();
  decodeModel(bytes);
  console.log('decode', performance.now() - t);
});
