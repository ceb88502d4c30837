// Shared pieces of the TensorRT addon: the logger, errors, data types and shapes.
#pragma once

#include <NvInfer.h>
#include <cuda_runtime_api.h>
#include <napi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace trt_addon {

// One logger for the whole process: TensorRT wants the same ILogger for every builder and runtime.
// It keeps the last error messages so that a failed call can say what TensorRT complained about.
class Logger : public nvinfer1::ILogger {
 public:
  Logger();
  void log(Severity severity, const char* msg) noexcept override;
  // Sequence number of the latest recorded error; pass it to errorsSince() after the call.
  uint64_t mark() const;
  // The errors recorded after `mark`, joined with "; ", or "" when there are none. Builds and runs on
  // other threads may log at the same time, so a message can belong to a neighbouring call.
  std::string errorsSince(uint64_t mark) const;

 private:
  mutable std::mutex mutex_;
  std::deque<std::pair<uint64_t, std::string>> errors_;
  uint64_t seq_ = 0;
  Severity printLevel_;  // printed to stderr at or above this severity (NAVIGATOR_TRT_LOG)
};

Logger& logger();

// An error with a stable code that JS sees as `error.code`: callers branch on the code, never on the text.
//   TRT_BAD_ARGUMENT            the options or inputs given from JS are wrong
//   TRT_PARSE_FAILED            nvonnxparser could not read the model
//   TRT_PRECISION_NOT_IN_MODEL  the precision asked for needs types (Q/DQ, fp16) the model lacks
//   TRT_NO_PROFILE              the input shapes fit none of the engine's optimization profiles
//   TRT_UNSUPPORTED             the model or engine uses something this addon does not handle
//   TRT_CALL_FAILED             a TensorRT call failed
//   CUDA_CALL_FAILED            a CUDA runtime call failed
//   TRT_IO_FAILED               reading or writing a file failed
class AddonError : public std::runtime_error {
 public:
  AddonError(std::string code, const std::string& message) : std::runtime_error(message), code(std::move(code)) {}
  std::string code;
};

// Throws TRT_CALL_FAILED naming `call`, with the errors TensorRT logged since `mark`.
[[noreturn]] void failTrt(const std::string& call, uint64_t mark);
// Throws CUDA_CALL_FAILED naming `call` unless `status` is cudaSuccess.
void checkCuda(cudaError_t status, const char* call);
#define CUDA_CHECK(call) ::trt_addon::checkCuda((call), #call)

// Throws `error` into JS as an Error with its code.
[[noreturn]] void throwJs(Napi::Env env, const AddonError& error);
Napi::Error jsError(Napi::Env env, const std::string& code, const std::string& message);

// Since TensorRT 10 every interface object is released with plain `delete`.
template <class T>
using Ptr = std::unique_ptr<T>;

// Data types are named as onnxruntime names them ('float32', 'float16', ...), so that JS can build
// onnxruntime Tensors from outputs without a table of its own.
const char* dtypeName(nvinfer1::DataType type);
// Bytes per element, or 0 for sub-byte and scale types that cannot cross the JS boundary.
size_t dtypeSize(nvinfer1::DataType type);

using Shape = std::vector<int64_t>;
Shape toShape(const nvinfer1::Dims& dims);
nvinfer1::Dims toDims(const Shape& shape);
std::string shapeText(const Shape& shape);
int64_t elementCount(const Shape& shape);
Napi::Array shapeToJs(Napi::Env env, const Shape& shape);
// Reads a JS array of non-negative integers (or -1 where allowDynamic); throws TRT_BAD_ARGUMENT naming `what`.
Shape shapeFromJs(const Napi::Value& value, const std::string& what, bool allowDynamic = false);

// min/opt/max of one input in one optimization profile.
struct InputRange {
  std::string name;
  Shape min, opt, max;
};
using Profile = std::vector<InputRange>;

// { inputs: { name: { min, opt, max } } }, the shape JS gives profiles in and gets them back in.
Napi::Object profileToJs(Napi::Env env, const Profile& profile);
Profile profileFromJs(const Napi::Value& value, const std::string& what);
// Whether `shape` lies within range.min..range.max on every axis.
bool fitsRange(const InputRange& range, const Shape& shape);

// An AsyncWorker that settles a promise: Run() works off the JS thread, Result() builds the value on it.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* name);
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;

  Napi::Promise::Deferred deferred_;
  std::string code_;
};

// Engine building (trt_build.cc) and the Engine class (trt_engine.cc).
Napi::Value BuildEngine(const Napi::CallbackInfo& info);
Napi::Function DefineEngine(Napi::Env env);

}  // namespace trt_addon
