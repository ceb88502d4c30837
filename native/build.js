#!/usr/bin/env node
'use strict';
/**
 * Builds the TensorRT addon (native/build/Release/trt_addon.node) where TensorRT and CUDA are
 * installed. It is the package's `install` script, so it must never fail `npm install`: where
 * TensorRT or CUDA is missing, or the build fails, it prints one line saying why, records the reason
 * in native/build/status.json ({ built: false, reason }) and exits 0. native/index.ts reads that file
 * to tell the TensorRT runner why it is unavailable.
 *
 *   node native/build.js                  find TensorRT and CUDA, build, write status.json
 *   node native/build.js --print KEY      print what was found (trt_include, trt_lib, cuda_include,
 *                                         cuda_lib), or nothing; binding.gyp calls this
 *
 * Environment: TENSORRT_ROOT or TRT_ROOT (a TensorRT install: include/NvInfer.h, lib/libnvinfer.so;
 * when set, only that folder is searched), CUDA_HOME or CUDA_PATH (the CUDA toolkit), and
 * NAVIGATOR_SKIP_TENSORRT=1 to skip the build.
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const BUILD_DIR = path.join(__dirname, 'build');
const STATUS_FILE = path.join(BUILD_DIR, 'status.json');
const ADDON_FILE = path.join(BUILD_DIR, 'Release', 'trt_addon.node');
const MIN_TENSORRT_MAJOR = 10; // name-based tensor API, 64-bit Dims, `delete` for every object
// `npx model-navigator-build-addon` in an application (npm 11 runs a dependency's install script
// only once approved), `npm run build:addon` in this repository.
const RUN_AGAIN = 'run `npx model-navigator-build-addon` (in this repository: `npm run build:addon`)';
const TRT_HINT = `set TENSORRT_ROOT (or TRT_ROOT) to a TensorRT 10+ install, the folder with include/NvInfer.h and lib/libnvinfer.so, then ${RUN_AGAIN}`;
const CUDA_HINT = `set CUDA_HOME to the CUDA toolkit, the folder with include/cuda_runtime_api.h and lib64/libcudart.so, then ${RUN_AGAIN}`;

const exists = (file) => {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** x86_64-linux-gnu and the like: Debian's multiarch folder names. */
function triplet() {
  const arch = { x64: 'x86_64', arm64: 'aarch64', ppc64: 'powerpc64le' }[process.arch];
  return arch ? `${arch}-linux-gnu` : undefined;
}

function archLinux() {
  const arch = { x64: 'x86_64', arm64: 'sbsa' }[process.arch];
  return arch ? `${arch}-linux` : undefined;
}

/** Folders named like TensorRT-10.9.0.34 (where NVIDIA's tarball unpacks), newest first. */
function tarballRoots(parent) {
  try {
    return fs
      .readdirSync(parent)
      .filter((name) => /^TensorRT-\d/.test(name))
      .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))
      .map((name) => path.join(parent, name));
  } catch {
    return [];
  }
}

function rootLayout(root) {
  const t = triplet();
  const a = archLinux();
  return {
    root,
    include: [path.join(root, 'include'), t && path.join(root, 'include', t), a && path.join(root, 'targets', a, 'include')],
    lib: [
      path.join(root, 'lib'),
      path.join(root, 'lib64'),
      t && path.join(root, 'lib', t),
      a && path.join(root, 'targets', a, 'lib'),
    ],
  };
}

/** `major.minor.patch` from NvInferVersion.h, whose defines are numbers or (10.1+) other macros. */
function headerVersion(includeDir) {
  const text = fs.readFileSync(path.join(includeDir, 'NvInferVersion.h'), 'utf8');
  const value = (name, seen = 0) => {
    const match = new RegExp(`#define\\s+${name}\\s+(\\w+)`).exec(text);
    if (!match) return undefined;
    return /^\d+$/.test(match[1]) ? Number(match[1]) : seen < 3 ? value(match[1], seen + 1) : undefined;
  };
  const parts = ['NV_TENSORRT_MAJOR', 'NV_TENSORRT_MINOR', 'NV_TENSORRT_PATCH'].map((name) => value(name));
  return parts.every((part) => part !== undefined) ? parts.join('.') : undefined;
}

/** The TensorRT install to build against, or why there is none. */
function findTensorRT(env = process.env) {
  const variable = env.TENSORRT_ROOT ? 'TENSORRT_ROOT' : env.TRT_ROOT ? 'TRT_ROOT' : undefined;
  const t = triplet();
  const candidates = variable
    ? [rootLayout(path.resolve(env[variable]))]
    : [
        // Debian/Ubuntu packages (libnvinfer-dev): headers and libraries in the multiarch folders.
        { root: '/usr', include: [t && `/usr/include/${t}`, '/usr/include'], lib: [t && `/usr/lib/${t}`, '/usr/lib64', '/usr/lib'] },
        rootLayout('/usr/local/tensorrt'),
        rootLayout('/opt/tensorrt'),
        ...tarballRoots('/usr/local').map(rootLayout),
        ...tarballRoots('/opt').map(rootLayout),
      ];
  let partial; // the most specific reason, when some but not all of an install was found
  for (const candidate of candidates) {
    const include = candidate.include.find((dir) => dir && exists(path.join(dir, 'NvInfer.h')));
    if (!include) continue;
    const where = `TensorRT headers in ${include}`;
    if (!exists(path.join(include, 'NvOnnxParser.h'))) {
      partial = partial || `${where}, but no NvOnnxParser.h beside them (install the ONNX parser's dev package)`;
      continue;
    }
    const lib = candidate.lib.find(
      (dir) => dir && exists(path.join(dir, 'libnvinfer.so')) && exists(path.join(dir, 'libnvonnxparser.so')),
    );
    if (!lib) {
      partial = partial || `${where}, but no libnvinfer.so with libnvonnxparser.so in ${candidate.lib.filter(Boolean).join(', ')}`;
      continue;
    }
    const version = headerVersion(include);
    if (!version) {
      partial = partial || `${where}, but no TensorRT version in ${path.join(include, 'NvInferVersion.h')}`;
      continue;
    }
    if (Number(version.split('.')[0]) < MIN_TENSORRT_MAJOR) {
      partial = partial || `TensorRT ${version} in ${candidate.root}, but the addon needs TensorRT ${MIN_TENSORRT_MAJOR} or newer`;
      continue;
    }
    return { found: true, root: candidate.root, include, lib, version };
  }
  const looked = variable ? `${variable}=${env[variable]}` : candidates.map((c) => c.root).join(', ');
  return {
    found: false,
    reason: `TensorRT not found (looked in ${looked}${partial ? `; found ${partial}` : ''}): ${TRT_HINT}`,
  };
}

/** The CUDA toolkit (runtime headers and libcudart) to build against, or why there is none. */
function findCuda(env = process.env) {
  const variable = env.CUDA_HOME ? 'CUDA_HOME' : env.CUDA_PATH ? 'CUDA_PATH' : undefined;
  const t = triplet();
  const candidates = variable
    ? [rootLayout(path.resolve(env[variable]))]
    : [rootLayout('/usr/local/cuda'), { root: '/usr', include: ['/usr/include'], lib: [t && `/usr/lib/${t}`, '/usr/lib64'] }];
  for (const candidate of candidates) {
    const include = candidate.include.find((dir) => dir && exists(path.join(dir, 'cuda_runtime_api.h')));
    const lib = candidate.lib.find((dir) => dir && exists(path.join(dir, 'libcudart.so')));
    if (include && lib) return { found: true, root: candidate.root, include, lib };
  }
  const looked = variable ? `${variable}=${env[variable]}` : candidates.map((c) => c.root).join(', ');
  return { found: false, reason: `CUDA runtime not found for the TensorRT addon (looked in ${looked}): ${CUDA_HINT}` };
}

/** Why nothing is to be built here, or what to build against. */
function findAll(env = process.env) {
  if (env.NAVIGATOR_SKIP_TENSORRT && env.NAVIGATOR_SKIP_TENSORRT !== '0') {
    return { reason: `the TensorRT addon build was skipped (NAVIGATOR_SKIP_TENSORRT is set): unset it and ${TRT_HINT}` };
  }
  if (process.platform !== 'linux') {
    return { reason: `the TensorRT addon builds on Linux only (this is ${process.platform})` };
  }
  const trt = findTensorRT(env);
  if (!trt.found) return { reason: trt.reason };
  const cuda = findCuda(env);
  if (!cuda.found) return { reason: cuda.reason };
  return { trt, cuda };
}

function findNodeGyp(env = process.env) {
  const candidates = [
    env.npm_config_node_gyp, // npm sets it for install scripts
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [path.join(__dirname, '..')] }));
  } catch {
    // not a dependency: npm's bundled copy is the usual one
  }
  return candidates.find((file) => file && exists(file));
}

function writeStatus(status) {
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  fs.writeFileSync(STATUS_FILE, `${JSON.stringify(status, null, 2)}\n`);
}

function skip(reason) {
  writeStatus({ built: false, reason, checkedAt: new Date().toISOString() });
  console.log(`[model-navigator] TensorRT addon not built: ${reason}. The TensorRT runner will be skipped.`);
}

/** The lines of a failed build that say what went wrong: the compiler's first errors, else node-gyp's. */
function buildErrors(output) {
  const lines = output.split('\n').map((line) => line.trim());
  const compiler = lines.filter((line) => /\berror:/.test(line));
  if (compiler.length > 0) return compiler.slice(0, 2).join(' | ');
  const gyp = lines.filter((line) => /error|not found|cannot|No such file/i.test(line));
  return (gyp.length > 0 ? gyp.slice(-3) : lines.filter(Boolean).slice(-3)).join(' | ');
}

function build() {
  const found = findAll();
  if (found.reason) return skip(found.reason);
  const { trt, cuda } = found;
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    return skip(`TensorRT ${trt.version} found in ${trt.root}, but node-gyp was not (run this through npm, which bundles it)`);
  }
  const args = [nodeGyp, 'rebuild', '--jobs=max'];
  // Node's own headers, where this Node install ships them: node-gyp then needs no download.
  const nodeDir = path.resolve(path.dirname(process.execPath), '..');
  if (exists(path.join(nodeDir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodeDir}`);
  const result = spawnSync(process.execPath, args, { cwd: __dirname, encoding: 'utf8', timeout: 20 * 60 * 1000 });
  const output = `${result.stdout || ''}${result.stderr || ''}${result.error ? `\n${result.error.message}` : ''}`;
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  fs.writeFileSync(path.join(BUILD_DIR, 'build.log'), output);
  if (result.status !== 0 || !exists(ADDON_FILE)) {
    const how = result.status !== 0 ? `node-gyp exited with ${result.status ?? result.signal}` : 'node-gyp made no trt_addon.node';
    return skip(
      `TensorRT ${trt.version} found in ${trt.root}, but building the addon failed (${how}: ${buildErrors(output)}; ` +
        `full log in native/build/build.log): fix the build, or point TENSORRT_ROOT / CUDA_HOME at other installs`,
    );
  }
  writeStatus({
    built: true,
    tensorrtVersion: trt.version,
    tensorrtRoot: trt.root,
    tensorrtInclude: trt.include,
    tensorrtLib: trt.lib,
    cudaInclude: cuda.include,
    cudaLib: cuda.lib,
    addon: path.relative(__dirname, ADDON_FILE),
    node: process.version,
    napi: process.versions.napi,
    builtAt: new Date().toISOString(),
  });
  console.log(`[model-navigator] TensorRT addon built against TensorRT ${trt.version} (${trt.root}) and CUDA in ${cuda.root}.`);
}

function print(key) {
  const found = findAll();
  const values = found.reason
    ? {}
    : { trt_include: found.trt.include, trt_lib: found.trt.lib, cuda_include: found.cuda.include, cuda_lib: found.cuda.lib };
  process.stdout.write(values[key] || '');
}

if (require.main === module) {
  try {
    const at = process.argv.indexOf('--print');
    if (at >= 0) print(process.argv[at + 1]);
    else build();
  } catch (error) {
    // Whatever went wrong, `npm install` goes on without the addon.
    try {
      skip(`the TensorRT addon build script failed: ${error && error.message}; ${TRT_HINT}`);
    } catch {
      console.log(`[model-navigator] TensorRT addon not built: ${error && error.message}`);
    }
  }
  process.exitCode = 0;
}
