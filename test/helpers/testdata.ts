import * as fs from 'fs';

/** Debian's libonnx-testdata (the ONNX backend test models); NAV_ONNX_TESTDATA points elsewhere. */
export const ONNX_TESTDATA = process.env.NAV_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data/node';

/**
 * A conformance suite over libonnx-testdata. Without the data, `npm test` still passes: the suite
 * does not run, and its one skipped test says why. `.ci/run` sets NAV_REQUIRE_TESTDATA=1, which
 * makes the absence a failure there.
 */
export function describeWithTestdata(name: string, body: () => void): void {
  if (fs.existsSync(ONNX_TESTDATA)) return describe(name, body);
  const why = `${ONNX_TESTDATA} is missing: install Debian's libonnx-testdata (sudo apt-get install libonnx-testdata), as .ci/run does`;
  if (process.env.NAV_REQUIRE_TESTDATA === '1') {
    describe(name, () => it('finds libonnx-testdata (NAV_REQUIRE_TESTDATA=1)', () => {
      throw new Error(why);
    }));
    return;
  }
  console.warn(`${name}: did not run. ${why}`);
  describe(name, () => it.skip(`did not run: ${why}`, () => undefined));
}
