import type { Tolerance, VerifyFunc } from '../core/config';
import { errorText } from '../core/errors';
import type { StoredSample } from '../capture/sample-store';
import type { RunnerSession } from '../core/plugin';
import type { CandidateStatus, OutputError } from '../core/status';
import { compareTensors, wholeOutput, withinTolerance } from '../tensors';

type Checks = Pick<CandidateStatus, 'correctness' | 'verify'>;

/**
 * Runs a candidate on every recorded sample and compares each output with the source's. Unlike the
 * Python tool, a candidate over tolerance, or with NaN/Inf where the source had none, fails; the
 * figures are kept either way. The user's verifyFunc, where given, can fail it too.
 */
export async function checkCandidate(
  session: RunnerSession,
  samples: readonly StoredSample[],
  tolerance: Tolerance,
  verifyFunc: VerifyFunc | undefined,
): Promise<Checks> {
  const worst = new Map<string, Checks['correctness']['outputs'][number]>();
  let verify: Checks['verify'] = { status: verifyFunc ? 'ok' : 'skipped' };
  const sourceNonFinite = new Map<string, number>();
  for (const sample of samples) {
    let outputs;
    try {
      outputs = await session.run(sample.inputs);
    } catch (error) {
      return { correctness: { status: 'failed', reason: `run failed: ${errorText(error)}`, outputs: [] }, verify };
    }
    for (const [name, expected] of Object.entries(sample.outputs)) {
      const actual = outputs[name];
      if (!actual) {
        return { correctness: { status: 'failed', reason: `output "${name}" is missing`, outputs: [] }, verify };
      }
      const error = compareTensors(name, actual, expected);
      if (error.sourceNonFinite) sourceNonFinite.set(name, (sourceNonFinite.get(name) ?? 0) + error.sourceNonFinite);
      const passed = withinTolerance(error, tolerance);
      const previous = worst.get(name);
      if (!previous || !passed || badness(error, tolerance) > badness(previous, tolerance)) {
        worst.set(name, { ...error, tolerance, passed: passed && (previous?.passed ?? true) });
      }
    }
    if (verifyFunc && verify.status === 'ok') {
      try {
        if (!(await verifyFunc(outputs, sample.outputs))) verify = { status: 'failed', reason: `verifyFunc returned false on ${sample.file}` };
      } catch (error) {
        verify = { status: 'failed', reason: `verifyFunc threw: ${errorText(error)}` };
      }
    }
  }
  const outputs = [...worst.values()];
  const failing = outputs.filter((o) => !o.passed);
  const correctness: Checks['correctness'] = failing.length
    ? {
        status: 'failed',
        reason: failing
          .map((o) =>
            o.nonFinite
              ? `${o.output} has NaN/Inf`
              : o.shapeMismatch
                ? `${o.output} has the wrong shape`
                : wholeOutput(o.tolerance)
                  ? `${o.output} relative L2 ${o.relL2.toExponential(2)} (max ${o.tolerance.maxRelL2 ?? '-'}), cosine ${o.cosine.toFixed(5)} (min ${o.tolerance.minCosine ?? '-'})`
                  : `${o.output} max abs error ${o.maxAbsError.toExponential(2)} > ${(o.tolerance.atol + o.tolerance.rtol * o.sourceMaxAbs).toExponential(2)}`,
          )
          .join('; '),
        outputs,
      }
    : { status: 'ok', outputs };
  // The source's own NaN/Inf cannot be compared: said in the reason, so the status shows it.
  const warning = [...sourceNonFinite].map(([name, count]) => `warning: the source's ${name} has ${count} NaN/Inf elements, not compared`).join('; ');
  if (warning) correctness.reason = correctness.reason ? `${correctness.reason}; ${warning}` : warning;
  return { correctness, verify };
}

/** Which sample's figures an output keeps: the worst by the measure its tolerance judges. */
function badness(error: OutputError, tolerance: Tolerance): number {
  return wholeOutput(tolerance) ? error.relL2 : error.maxAbsError;
}
