import * as fs from 'fs';
import * as path from 'path';
import type { Tolerance } from '../core/config';
import { calibrate, runWithOutputs, type TensorRange } from '../onnx/calibrate';
import { saveConvertedModel, withOpset } from '../onnx/converted-model';
import { irVersionFor, nameGenerator, opCounts } from '../onnx/graph';
import { foldBatchNorms, foldConstants } from '../onnx/graph-prep';
import type { ModelProto } from '../onnx/messages';
import { modelSourceDir } from '../onnx/model-io';
import { applyStaticQuantization, planStaticQuantization, quantizationOpset, type StaticPlan, type StaticQuantizationOptions } from '../onnx/quantize-static';
import type { Feeds, RecordedCall } from '../core/feeds';
import { RUNNER_KINDS, type ConversionContext, type Format } from '../core/plugin';
import { compareTensors, similarity, withinTolerance } from '../tensors';

/** How many times the accuracy repair keeps more nodes in float and tries again. */
const REPAIR_ROUNDS = 3;
/** Failing calls the repair measures per-node errors on (it holds every measured tensor of each). */
const REPAIR_CALLS = 2;
/** A node is blamed when it adds at least this share of the worst node's error ... */
const SENSITIVE_SHARE = 0.25;
/** ... and at least this much relative L2 error of its own. */
const MIN_ADDED_ERROR = 1e-3;

/**
 * Static int8 (QDQ) calibrated on the module's recorded calls; see quantize-static.ts for what is
 * quantized. Before quantizing, Constant nodes become initializers and BatchNormalization folds into
 * the Conv before it. When the quantized model misses the int8 tolerance on the recorded calls, the
 * nodes whose int8 output adds the most error are kept in float and it is tried again
 * (REPAIR_ROUNDS times at most); the notes say which and why.
 */
export function createOnnxInt8StaticFormat(target: 'onnxruntime' | 'tensorrt' = 'onnxruntime'): Format {
  return {
    name: 'onnx-int8-static',
    precision: 'int8',
    // QLinearConv/QGemm fusions of the Q/DQ pairs are CPU kernels (trt-int8 feeds its own build to TensorRT).
    loadedBy: [RUNNER_KINDS.onnxruntimeCpu],
    description: `static int8 QDQ (${target === 'tensorrt' ? 'symmetric int8 activations for TensorRT' : 'uint8 activations'}, int8 per-channel weights) calibrated on the recorded calls`,
    async convert(context) {
      const samples = context.samples();
      if (samples.length === 0) return { notApplicable: 'there are no recorded calls to calibrate on' };
      const source = context.readSource();
      const model = prepare(source);
      if (!model.graph) return { notApplicable: 'the model has no graph' };
      const opset = quantizationOpset(model, true);
      if ('notApplicable' in opset) return opset;
      const prepared: ModelProto = raiseOpset(model, opset.opset);
      const cpu: { reduceRange: boolean; note: string } =
        target === 'tensorrt' ? { reduceRange: false, note: 'for TensorRT: symmetric int8 activations (zero point 0), float biases' } : int8Variant();
      const options: StaticQuantizationOptions = {
        perChannel: opset.perChannel,
        reduceRange: cpu.reduceRange,
        activations: target === 'tensorrt' ? 'int8' : 'uint8',
        modelDir: modelSourceDir(source),
      };

      let plan = planStaticQuantization(prepared.graph!, new Set(), opset.perChannel);
      if ('notApplicable' in plan) return plan;
      const { method, samples: count } = context.config.calibration;
      const calibration = samples.slice(0, count).map((s) => s.inputs);
      const scratch = (name: string) => path.join(context.outputDir, `.${name}`);
      const ranges = await calibrate(prepared, source, scratch('calibration'), plan.activations, calibration, context.config.calibration);

      const tolerance = context.config.tolerances.int8;
      const kept: { node: string; added: number }[] = [];
      let quantized = applyStaticQuantization(prepared, plan, ranges, options);
      let check = await checkOnSamples(quantized.model, source, scratch('check'), samples, tolerance);
      let rounds = 0;
      for (; !check.passed && rounds < REPAIR_ROUNDS; rounds++) {
        // Measured on the calls that failed: a call outside the calibrated ranges fails where others pass.
        const failing = check.failing.slice(0, REPAIR_CALLS).map((index) => samples[index].inputs);
        const worst = await sensitiveNodes(prepared, quantized, source, scratch('repair'), plan, failing, 2 ** rounds);
        if (worst.length === 0) break;
        kept.push(...worst);
        const next = planStaticQuantization(prepared.graph!, new Set(kept.map((k) => k.node)), opset.perChannel);
        if ('notApplicable' in next) return { notApplicable: `after keeping ${kept.length} sensitive node(s) in float, ${next.notApplicable}` };
        plan = next;
        quantized = applyStaticQuantization(prepared, plan, ranges, options);
        check = await checkOnSamples(quantized.model, source, scratch('check'), samples, tolerance);
      }

      const ops = Object.entries(opCounts({ node: plan.nodes })).map(([op, n]) => `${op} ${n}`).join(', ');
      const notes = [
        `static int8 QDQ: ${plan.nodes.length} nodes in int8 (${ops}), ${plan.folded} Relu/Clip folded, ${plan.activations.length} activations per tensor (${method} over ${calibration.length} call(s))`,
        `weights ${opset.perChannel ? 'per channel' : 'per tensor'}; ${opset.note}`,
        cpu.note,
        kept.length
          ? `kept in float after missing the int8 tolerance: ${kept.map((k) => `${k.node} (adds ${k.added.toExponential(1)} relative L2)`).join(', ')}`
          : 'no node kept in float',
        check.passed ? `recorded calls within tolerance (${check.summary})` : `still over the int8 tolerance after ${rounds} repair round(s): ${check.summary}`,
      ].join('; ');
      context.log(notes);
      const saved = saveConvertedModel(quantized.model, context.outputDir, source);
      return { artifact: { format: 'onnx-int8-static', path: saved.path, precision: 'int8', sizeBytes: saved.sizeBytes }, notes };
    },
  };
}

/** For onnxruntime's CPU provider (u8s8). */
export const onnxInt8StaticFormat: Format = createOnnxInt8StaticFormat();

/** Constants as initializers, BatchNormalization folded into Conv, every node named (the repair excludes by name). */
function prepare(source: ModelProto): ModelProto {
  const graph = { ...source.graph, node: (source.graph?.node ?? []).map((n) => ({ ...n })), initializer: [...(source.graph?.initializer ?? [])], input: [...(source.graph?.input ?? [])] };
  foldConstants(graph);
  foldBatchNorms(graph, modelSourceDir(source));
  const fresh = nameGenerator(graph);
  for (const node of graph.node) if (!node.name) node.name = fresh(`${node.opType}_int8`);
  return { ...source, graph };
}

/** The default-domain opset raised to `opset`, with the IR version that reads it (IR 7 came with opset 13). */
function raiseOpset(model: ModelProto, opset: number): ModelProto {
  const raised = withOpset(model, '', opset);
  return raised === model ? model : { ...raised, irVersion: Math.max(model.irVersion ?? 0, irVersionFor(opset)) };
}

/**
 * u8s8 (uint8 activations, int8 weights). Measured on an AMD EPYC with AVX-512 VNNI: onnxruntime's
 * QDQ per-channel ResNet-18 ran 3.8x faster than fp32 at batch 1 as u8s8, 1.0x as s8s8 (no fast
 * path), so u8s8 it is even with VNNI. Without VNNI (AVX2's vpmaddubsw) u8·s8 pairs can saturate
 * int16: weights then use 7 bits, as onnxruntime's reduce_range.
 */
function int8Variant(): { reduceRange: boolean; note: string } {
  let flags = '';
  try {
    flags = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
  } catch {
    // no /proc (macOS, Windows): treat as no VNNI
  }
  const vnni = ['avx512_vnni', 'avx_vnni'].filter((flag) => new RegExp(`\\b${flag}\\b`).test(flags));
  return vnni.length
    ? { reduceRange: false, note: `CPU has ${vnni.join(', ')}: u8s8 (uint8 activations, int8 weights; s8s8 has no faster path in onnxruntime, measured)` }
    : { reduceRange: true, note: 'CPU without VNNI: u8s8 with 7-bit weights (reduced range), so that u8·s8 sums do not saturate' };
}

/** Runs the quantized model on every recorded call and judges each output by the int8 tolerance. */
async function checkOnSamples(
  model: ModelProto,
  source: ModelProto,
  dir: string,
  samples: readonly RecordedCall[],
  tolerance: Tolerance,
): Promise<{ passed: boolean; failing: number[]; summary: string }> {
  const failing: number[] = [];
  let worstRelL2 = 0, worstCosine = 1;
  await runWithOutputs(model, source, dir, [], samples.map((s) => s.inputs), (outputs, index) => {
    for (const [name, expected] of Object.entries(samples[index].outputs)) {
      const actual = outputs[name];
      const error = actual ? compareTensors(name, actual, expected) : undefined;
      if ((!error || !withinTolerance(error, tolerance)) && !failing.includes(index)) failing.push(index);
      if (error) {
        worstRelL2 = Math.max(worstRelL2, error.relL2);
        worstCosine = Math.min(worstCosine, error.cosine);
      }
    }
  });
  return { passed: failing.length === 0, failing, summary: `worst relative L2 ${worstRelL2.toExponential(2)}, cosine ${worstCosine.toFixed(5)}` };
}

/**
 * The `count` quantized nodes that add the most error, measured on `feeds` against the float model
 * (relative L2). A node answers for its output as its readers get it (after
 * its Q/DQ) less the error of its inputs as they come to it; the Q/DQ of an input that no quantized
 * node produces (a graph input, a float node's output) is the reading node's own doing.
 */
async function sensitiveNodes(
  float: ModelProto,
  int8: { model: ModelProto; dequantized: Map<string, string> },
  source: ModelProto,
  dir: string,
  plan: StaticPlan,
  feeds: readonly Feeds[],
  count: number,
): Promise<{ node: string; added: number }[]> {
  const producedBy = new Map([...plan.measured].map(([node, tensor]) => [tensor, node]));
  const tensors = [...new Set([...plan.measured.values(), ...plan.activations])];
  const asRead = (name: string) => int8.dequantized.get(name) ?? name;
  const reference: Feeds[] = [];
  await runWithOutputs(float, source, `${dir}-float`, tensors, feeds, (outputs) => reference.push(Object.fromEntries(tensors.map((n) => [n, outputs[n]]))));
  const sums = new Map<string, { diff2: number; ref2: number }>();
  await runWithOutputs(int8.model, source, `${dir}-int8`, [...tensors, ...tensors.map(asRead)], feeds, (outputs, index) => {
    for (const name of tensors) {
      for (const [key, actual] of [[`before:${name}`, outputs[name]], [`after:${name}`, outputs[asRead(name)]]] as const) {
        const a = actual?.data as Float32Array | undefined;
        const b = reference[index][name]?.data as Float32Array | undefined;
        if (!a || !b || a.length !== b.length) continue;
        const sum = sums.get(key) ?? sums.set(key, { diff2: 0, ref2: 0 }).get(key)!;
        for (let i = 0; i < a.length; i++) {
          sum.diff2 += (a[i] - b[i]) ** 2;
          sum.ref2 += b[i] * b[i];
        }
      }
    }
  });
  const error = (key: string) => {
    const sum = sums.get(key);
    return sum ? similarity(0, 0, sum.ref2, sum.diff2).relL2 : 0;
  };
  const blamed = plan.nodes.map((node) => {
    const inputError = Math.max(0, ...(node.input ?? []).map((input) => error(`${producedBy.has(input) ? 'after' : 'before'}:${input}`)));
    return { node: node.name!, added: error(`after:${plan.measured.get(node.name!)}`) - inputError };
  });
  // Only nodes that add a real share of the worst node's error: the rest would cost speed for nothing.
  const most = Math.max(0, ...blamed.map((b) => b.added));
  return blamed.filter((b) => b.added >= Math.max(SENSITIVE_SHARE * most, MIN_ADDED_ERROR)).sort((a, b) => b.added - a.added).slice(0, count);
}
