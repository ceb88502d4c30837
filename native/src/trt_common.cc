#include "trt_common.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace trt_addon {

namespace {
constexpr size_t kKeptErrors = 16;    // errors remembered for exception messages
constexpr size_t kReportedErrors = 4; // of which the latest few go into one message

nvinfer1::ILogger::Severity printLevelFromEnv() {
  using Severity = nvinfer1::ILogger::Severity;
  const char* level = std::getenv("NAVIGATOR_TRT_LOG");
  if (level == nullptr) return Severity::kERROR;
  if (std::strcmp(level, "verbose") == 0) return Severity::kVERBOSE;
  if (std::strcmp(level, "info") == 0) return Severity::kINFO;
  if (std::strcmp(level, "warning") == 0) return Severity::kWARNING;
  if (std::strcmp(level, "none") == 0) return Severity::kINTERNAL_ERROR;
  return Severity::kERROR;
}
}  // namespace

Logger::Logger() : printLevel_(printLevelFromEnv()) {}

void Logger::log(Severity severity, const char* msg) noexcept {
  // Lower values are more severe; "none" still prints internal errors, which mean a TensorRT bug.
  if (severity <= printLevel_) std::fprintf(stderr, "[TensorRT] %s\n", msg);
  if (severity > Severity::kERROR) return;
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    errors_.emplace_back(++seq_, msg);
    if (errors_.size() > kKeptErrors) errors_.pop_front();
  } catch (...) {
    // log() must not throw; losing one message under memory pressure is acceptable.
  }
}

uint64_t Logger::mark() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seq_;
}

std::string Logger::errorsSince(uint64_t mark) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<const std::string*> recent;
  for (const auto& entry : errors_) {
    if (entry.first > mark) recent.push_back(&entry.second);
  }
  const size_t first = recent.size() > kReportedErrors ? recent.size() - kReportedErrors : 0;
  std::string text;
  for (size_t i = first; i < recent.size(); ++i) {
    if (!text.empty()) text += "; ";
    text += *recent[i];
  }
  return text;
}

Logger& logger() {
  static Logger instance;
  return instance;
}

void failTrt(const std::string& call, uint64_t mark) {
  const std::string errors = logger().errorsSince(mark);
  throw AddonError("TRT_CALL_FAILED",
                   call + " failed: " + (errors.empty() ? "TensorRT logged no error message" : errors));
}

void checkCuda(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  throw AddonError("CUDA_CALL_FAILED", std::string(call) + " failed: " + cudaGetErrorName(status) + " (" +
                                           cudaGetErrorString(status) + ")");
}

Napi::Error jsError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void throwJs(Napi::Env env, const AddonError& error) { throw jsError(env, error.code, error.what()); }

const char* dtypeName(nvinfer1::DataType type) {
  using nvinfer1::DataType;
  switch (type) {
    case DataType::kFLOAT: return "float32";
    case DataType::kHALF: return "float16";
    case DataType::kBF16: return "bfloat16";
    case DataType::kINT8: return "int8";
    case DataType::kUINT8: return "uint8";
    case DataType::kINT32: return "int32";
    case DataType::kINT64: return "int64";
    case DataType::kBOOL: return "bool";
    case DataType::kFP8: return "float8e4m3";
    case DataType::kINT4: return "int4";
    default: return "unsupported";  // fp4, e8m0 and types of later versions
  }
}

size_t dtypeSize(nvinfer1::DataType type) {
  using nvinfer1::DataType;
  switch (type) {
    case DataType::kFLOAT:
    case DataType::kINT32: return 4;
    case DataType::kHALF:
    case DataType::kBF16: return 2;
    case DataType::kINT8:
    case DataType::kUINT8:
    case DataType::kBOOL:
    case DataType::kFP8: return 1;
    case DataType::kINT64: return 8;
    default: return 0;
  }
}

Shape toShape(const nvinfer1::Dims& dims) {
  if (dims.nbDims < 0) return {};  // TensorRT's "invalid dims"; callers treat it as unknown
  return Shape(dims.d, dims.d + dims.nbDims);
}

nvinfer1::Dims toDims(const Shape& shape) {
  if (shape.size() > static_cast<size_t>(nvinfer1::Dims::MAX_DIMS)) {
    throw AddonError("TRT_UNSUPPORTED", "shape " + shapeText(shape) + " has more than " +
                                           std::to_string(nvinfer1::Dims::MAX_DIMS) + " axes, TensorRT's limit");
  }
  nvinfer1::Dims dims{};
  dims.nbDims = static_cast<int32_t>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) dims.d[i] = shape[i];
  return dims;
}

std::string shapeText(const Shape& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

int64_t elementCount(const Shape& shape) {
  int64_t count = 1;
  for (int64_t size : shape) count *= size;
  return count;
}

Napi::Array shapeToJs(Napi::Env env, const Shape& shape) {
  Napi::Array array = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) array.Set(i, Napi::Number::New(env, static_cast<double>(shape[i])));
  return array;
}

Shape shapeFromJs(const Napi::Value& value, const std::string& what, bool allowDynamic) {
  if (!value.IsArray()) throw AddonError("TRT_BAD_ARGUMENT", what + " must be an array of integers");
  Napi::Array array = value.As<Napi::Array>();
  Shape shape;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    const double size = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -2;
    const bool ok = size == static_cast<double>(static_cast<int64_t>(size)) && (size >= 0 || (allowDynamic && size == -1));
    if (!item.IsNumber() || !ok) {
      throw AddonError("TRT_BAD_ARGUMENT", what + "[" + std::to_string(i) + "] must be a non-negative integer");
    }
    shape.push_back(static_cast<int64_t>(size));
  }
  return shape;
}

Napi::Object profileToJs(Napi::Env env, const Profile& profile) {
  Napi::Object inputs = Napi::Object::New(env);
  for (const InputRange& range : profile) {
    Napi::Object shapes = Napi::Object::New(env);
    shapes.Set("min", shapeToJs(env, range.min));
    shapes.Set("opt", shapeToJs(env, range.opt));
    shapes.Set("max", shapeToJs(env, range.max));
    inputs.Set(range.name, shapes);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("inputs", inputs);
  return result;
}

Profile profileFromJs(const Napi::Value& value, const std::string& what) {
  if (!value.IsObject() || !value.As<Napi::Object>().Get("inputs").IsObject()) {
    throw AddonError("TRT_BAD_ARGUMENT", what + " must be { inputs: { name: { min, opt, max } } }");
  }
  Napi::Object inputs = value.As<Napi::Object>().Get("inputs").As<Napi::Object>();
  Napi::Array names = inputs.GetPropertyNames();
  Profile profile;
  for (uint32_t i = 0; i < names.Length(); ++i) {
    const std::string name = names.Get(i).ToString();
    const std::string where = what + ".inputs." + name;
    Napi::Value shapes = inputs.Get(name);
    if (!shapes.IsObject()) throw AddonError("TRT_BAD_ARGUMENT", where + " must be { min, opt, max }");
    Napi::Object object = shapes.As<Napi::Object>();
    InputRange range{name, shapeFromJs(object.Get("min"), where + ".min"), shapeFromJs(object.Get("opt"), where + ".opt"),
                     shapeFromJs(object.Get("max"), where + ".max")};
    if (range.min.size() != range.opt.size() || range.opt.size() != range.max.size()) {
      throw AddonError("TRT_BAD_ARGUMENT", where + ": min, opt and max must have the same number of axes");
    }
    for (size_t axis = 0; axis < range.min.size(); ++axis) {
      if (range.min[axis] > range.opt[axis] || range.opt[axis] > range.max[axis]) {
        throw AddonError("TRT_BAD_ARGUMENT", where + ": min <= opt <= max does not hold on axis " + std::to_string(axis));
      }
    }
    profile.push_back(std::move(range));
  }
  return profile;
}

bool fitsRange(const InputRange& range, const Shape& shape) {
  if (shape.size() != range.min.size()) return false;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] < range.min[axis] || shape[axis] > range.max[axis]) return false;
  }
  return true;
}

PromiseWorker::PromiseWorker(Napi::Env env, const char* name)
    : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

void PromiseWorker::Execute() {
  try {
    Run();
  } catch (const AddonError& error) {
    code_ = error.code;
    SetError(error.what());
  } catch (const std::exception& error) {
    code_ = "TRT_ADDON_ERROR";
    SetError(error.what());
  }
}

void PromiseWorker::OnOK() {
  // An exception escaping OnOK would be thrown into no JS frame; reject the promise with it instead.
  try {
    deferred_.Resolve(Result(Env()));
  } catch (const Napi::Error& error) {
    deferred_.Reject(error.Value());
  } catch (const AddonError& error) {
    deferred_.Reject(jsError(Env(), error.code, error.what()).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) {
  deferred_.Reject(jsError(Env(), code_, error.Message()).Value());
}

}  // namespace trt_addon
