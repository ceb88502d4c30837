// The TensorRT addon's entry point: info(), buildEngine() and the Engine class.
// Its TypeScript types and loader are in native/index.ts; docs/tensorrt.md says how it is built.
#include "trt_common.h"

namespace trt_addon {
namespace {

// getInferLibVersion() is (MAJOR * 100 + MINOR) * 100 + PATCH.
std::string tensorrtVersionText(int version) {
  return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." + std::to_string(version % 100);
}

// CUDA versions are 1000 * MAJOR + 10 * MINOR.
std::string cudaVersionText(int version) { return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10); }

// info(): versions, and the first CUDA device. Never throws for a missing GPU or driver: a machine
// without one reports deviceCount 0 and cudaError, which is how availability() tells it apart.
Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  // The library loaded, which may be newer than the headers the addon was compiled with.
  result.Set("tensorrtVersion", tensorrtVersionText(getInferLibVersion()));
  result.Set("tensorrtHeaderVersion", std::to_string(NV_TENSORRT_MAJOR) + "." + std::to_string(NV_TENSORRT_MINOR) + "." +
                                          std::to_string(NV_TENSORRT_PATCH));
  int version = 0;
  if (cudaRuntimeGetVersion(&version) == cudaSuccess) result.Set("cudaRuntimeVersion", cudaVersionText(version));
  if (cudaDriverGetVersion(&version) == cudaSuccess) result.Set("cudaDriverVersion", cudaVersionText(version));
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    count = 0;
    result.Set("cudaError", std::string("cudaGetDeviceCount failed: ") + cudaGetErrorName(status) + " (" +
                                cudaGetErrorString(status) + ")");
  }
  result.Set("deviceCount", count);
  cudaDeviceProp props{};
  if (count > 0 && cudaGetDeviceProperties(&props, 0) == cudaSuccess) {
    Napi::Object device = Napi::Object::New(env);
    device.Set("name", std::string(props.name));
    device.Set("computeCapability", std::to_string(props.major) + "." + std::to_string(props.minor));
    device.Set("totalMemoryBytes", static_cast<double>(props.totalGlobalMem));
    result.Set("device", device);
  }
  return result;
}

}  // namespace
}  // namespace trt_addon

// At global scope: NODE_API_MODULE pastes the function's name into an identifier.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, trt_addon::Info, "info"));
  exports.Set("buildEngine", Napi::Function::New(env, trt_addon::BuildEngine, "buildEngine"));
  exports.Set("Engine", trt_addon::DefineEngine(env));
  return exports;
}

NODE_API_MODULE(trt_addon, InitAddon)
