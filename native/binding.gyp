{
  # TensorRT and CUDA are found by build.js (TENSORRT_ROOT / TRT_ROOT / CUDA_HOME, then the standard
  # paths), which also runs this build. Where either is missing the target has no sources and
  # nothing is compiled, so a bare `node-gyp rebuild` here cannot fail for want of them.
  "variables": {
    "trt_include%": "<!(node build.js --print trt_include)",
    "trt_lib%": "<!(node build.js --print trt_lib)",
    "cuda_include%": "<!(node build.js --print cuda_include)",
    "cuda_lib%": "<!(node build.js --print cuda_lib)"
  },
  "targets": [
    {
      "target_name": "trt_addon",
      "conditions": [
        ["trt_include=='' or cuda_include==''", {
          "type": "none"
        }, {
          "sources": [
            "src/trt_addon.cc",
            "src/trt_build.cc",
            "src/trt_common.cc",
            "src/trt_engine.cc"
          ],
          "dependencies": [
            "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
          ],
          "defines": ["NAPI_VERSION=8"],
          # -isystem: warnings inside NVIDIA's headers (deprecations) are theirs, not ours.
          "cflags_cc": [
            "-std=c++17", "-Wall", "-Wextra",
            "-isystem", "<(trt_include)", "-isystem", "<(cuda_include)"
          ],
          "libraries": [
            "-L<(trt_lib)", "-L<(cuda_lib)",
            "-lnvinfer", "-lnvonnxparser", "-lcudart",
            # Find the libraries at run time where they were found at build time.
            "-Wl,-rpath,<(trt_lib)", "-Wl,-rpath,<(cuda_lib)"
          ]
        }]
      ]
    }
  ]
}
