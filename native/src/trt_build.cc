// buildEngine(): ONNX model -> serialized TensorRT engine, through nvonnxparser, on a worker thread.
#include <NvOnnxParser.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "trt_common.h"

namespace trt_addon {
namespace {

using nvinfer1::BuilderFlag;
using nvinfer1::DataType;
using nvinfer1::LayerType;
using nvinfer1::OptProfileSelector;

struct BuildOptions {
  std::string onnxPath;
  std::string enginePath;
  std::string timingCachePath;  // "" = no timing cache
  std::string precision;
  std::vector<Profile> profiles;
  double workspaceBytes = 0;  // 0 = TensorRT's default (all device memory)
  int optimizationLevel = -1;  // -1 = TensorRT's default (3)
};

struct BuildResult {
  size_t engineBytes = 0;
  double buildMs = 0;
  bool stronglyTyped = false;
  int networkLayers = 0;
  size_t timingCacheBytes = 0;
  std::vector<std::string> notes;
};

std::vector<char> readFile(const std::string& path, bool mustExist) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!mustExist) return {};
    throw AddonError("TRT_IO_FAILED", "cannot open " + path + ": " + std::strerror(errno));
  }
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes to a temporary file beside `path`, then renames it over `path`: a reader (another process
// sharing the workspace) sees the old file or the new one, never half of one.
void writeFileAtomic(const std::string& path, const void* data, size_t size) {
  const std::string temp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                           std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
      std::remove(temp.c_str());
      throw AddonError("TRT_IO_FAILED", "writing " + temp + " failed: " + std::strerror(errno));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    throw AddonError("TRT_IO_FAILED", "renaming " + temp + " to " + path + " failed: " + reason);
  }
}

[[maybe_unused]] bool isQuantized(const std::string& precision) { return precision == "int8" || precision == "fp8"; }

// What the parsed network holds, to tell whether a precision can come from the model itself.
struct NetworkTypes {
  bool qdq = false;
  bool int8 = false, fp8 = false, half = false, bf16 = false;
};

NetworkTypes scanNetwork(const nvinfer1::INetworkDefinition& network) {
  NetworkTypes types;
  for (int32_t i = 0; i < network.getNbLayers(); ++i) {
    const nvinfer1::ILayer* layer = network.getLayer(i);
    const LayerType kind = layer->getType();
    if (kind == LayerType::kQUANTIZE || kind == LayerType::kDEQUANTIZE) types.qdq = true;
    for (int32_t j = 0; j < layer->getNbOutputs(); ++j) {
      const DataType type = layer->getOutput(j)->getType();
      types.int8 |= type == DataType::kINT8;
      types.fp8 |= type == DataType::kFP8;
      types.half |= type == DataType::kHALF;
      types.bf16 |= type == DataType::kBF16;
    }
  }
  return types;
}

// Int8 and fp8 engines are built only from models that carry QuantizeLinear/DequantizeLinear nodes
// (as a strongly typed network): this addon does no calibration. Since TensorRT 11 every network is
// strongly typed, so fp16 and bf16 must also be in the model already.
void checkPrecisionInModel(const std::string& precision, const NetworkTypes& types, bool stronglyTyped) {
  std::string missing;
  if (precision == "int8" && !(types.qdq && types.int8)) missing = "QuantizeLinear/DequantizeLinear nodes to int8";
  if (precision == "fp8" && !(types.qdq && types.fp8)) missing = "QuantizeLinear/DequantizeLinear nodes to fp8";
  if (stronglyTyped && precision == "fp16" && !types.half) missing = "float16 tensors";
  if (stronglyTyped && precision == "bf16" && !types.bf16) missing = "bfloat16 tensors";
  if (missing.empty()) return;
  throw AddonError("TRT_PRECISION_NOT_IN_MODEL",
                   "a " + precision + " TensorRT engine needs a model with " + missing +
                       " (TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                       (stronglyTyped ? " builds it as a strongly typed network, whose types come from the model"
                                      : "") +
                       "), and this model has none");
}

// Precision flags of a weakly typed network (TensorRT 10). As in the Python Model Navigator's
// "hierarchy" mode, each precision also allows the ones above it: fp16 => tf32 + fp16, bf16 => tf32 +
// fp16 + bf16. TF32 is on by default in TensorRT, so fp32 clears it to get IEEE fp32 math.
void setPrecisionFlags(nvinfer1::IBuilderConfig& config, const std::string& precision, bool stronglyTyped) {
  if (precision == "fp32") {
    config.clearFlag(BuilderFlag::kTF32);
    return;
  }
  config.setFlag(BuilderFlag::kTF32);
  // Strongly typed networks reject the fp16/bf16/int8/fp8 flags: the types are the model's.
  if (stronglyTyped) return;
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // weak typing is deprecated since 10.12, gone in 11
  if (precision == "fp16" || precision == "bf16") config.setFlag(BuilderFlag::kFP16);
  if (precision == "bf16") config.setFlag(BuilderFlag::kBF16);
#pragma GCC diagnostic pop
#endif
}

void addProfiles(nvinfer1::IBuilder& builder, nvinfer1::INetworkDefinition& network, nvinfer1::IBuilderConfig& config,
                 const std::vector<Profile>& profiles, uint64_t mark) {
  std::string inputNames;
  bool dynamic = false;
  for (int32_t i = 0; i < network.getNbInputs(); ++i) {
    const Shape dims = toShape(network.getInput(i)->getDimensions());
    inputNames += std::string(i ? ", " : "") + network.getInput(i)->getName() + shapeText(dims);
    for (int64_t size : dims) dynamic |= size < 0;
  }
  if (profiles.empty() && dynamic) {
    throw AddonError("TRT_BAD_ARGUMENT", "the model has dynamic inputs (" + inputNames +
                                             "): give at least one profile with their min/opt/max shapes");
  }
  for (size_t p = 0; p < profiles.size(); ++p) {
    const std::string where = "profiles[" + std::to_string(p) + "]";
    nvinfer1::IOptimizationProfile* profile = builder.createOptimizationProfile();  // owned by the builder
    if (profile == nullptr) failTrt("IBuilder::createOptimizationProfile", mark);
    size_t matched = 0;
    for (int32_t i = 0; i < network.getNbInputs(); ++i) {
      const nvinfer1::ITensor* input = network.getInput(i);
      const std::string name = input->getName();
      const Shape dims = toShape(input->getDimensions());
      const InputRange* range = nullptr;
      for (const InputRange& candidate : profiles[p]) {
        if (candidate.name == name) range = &candidate;
      }
      bool inputDynamic = false;
      for (int64_t size : dims) inputDynamic |= size < 0;
      if (range == nullptr) {
        if (inputDynamic) {
          throw AddonError("TRT_BAD_ARGUMENT", where + " gives no min/opt/max for dynamic input \"" + name + "\" " +
                                                   shapeText(dims) + "; the model's inputs are " + inputNames);
        }
        continue;  // a static input needs no range
      }
      ++matched;
      if (input->isShapeTensor()) {
        throw AddonError("TRT_UNSUPPORTED", "input \"" + name + "\" is a shape tensor, which this addon does not support");
      }
      if (range->min.size() != dims.size()) {
        throw AddonError("TRT_BAD_ARGUMENT", where + ": input \"" + name + "\" has " + std::to_string(dims.size()) +
                                                 " axes in the model " + shapeText(dims) + ", the profile gives " +
                                                 std::to_string(range->min.size()));
      }
      for (size_t axis = 0; axis < dims.size(); ++axis) {
        if (dims[axis] >= 0 && (range->min[axis] != dims[axis] || range->max[axis] != dims[axis])) {
          throw AddonError("TRT_BAD_ARGUMENT", where + ": axis " + std::to_string(axis) + " of input \"" + name +
                                                   "\" is fixed to " + std::to_string(dims[axis]) +
                                                   " in the model, but the profile ranges over " +
                                                   shapeText(range->min) + ".." + shapeText(range->max));
        }
      }
      if (!profile->setDimensions(name.c_str(), OptProfileSelector::kMIN, toDims(range->min)) ||
          !profile->setDimensions(name.c_str(), OptProfileSelector::kOPT, toDims(range->opt)) ||
          !profile->setDimensions(name.c_str(), OptProfileSelector::kMAX, toDims(range->max))) {
        failTrt("IOptimizationProfile::setDimensions(\"" + name + "\")", mark);
      }
    }
    if (matched != profiles[p].size()) {
      throw AddonError("TRT_BAD_ARGUMENT", where + " names an input the model does not have; its inputs are " + inputNames);
    }
    if (!profile->isValid()) failTrt("IOptimizationProfile::isValid (" + where + ")", mark);
    if (config.addOptimizationProfile(profile) < 0) failTrt("IBuilderConfig::addOptimizationProfile (" + where + ")", mark);
  }
}

// Loads the timing cache file if there is one. A cache from another TensorRT version or GPU is
// dropped (with a note), not an error: it only makes the build slower.
Ptr<nvinfer1::ITimingCache> loadTimingCache(nvinfer1::IBuilderConfig& config, const std::string& path,
                                            BuildResult& result, uint64_t mark) {
  const std::vector<char> blob = readFile(path, false);
  Ptr<nvinfer1::ITimingCache> cache;
  if (!blob.empty()) {
    cache.reset(config.createTimingCache(blob.data(), blob.size()));
    if (cache && !config.setTimingCache(*cache, false)) cache.reset();
    if (!cache) result.notes.push_back("timing cache " + path + " does not fit this TensorRT/GPU; started a new one");
  }
  if (!cache) {
    cache.reset(config.createTimingCache(nullptr, 0));
    if (!cache) failTrt("IBuilderConfig::createTimingCache", mark);
    if (!config.setTimingCache(*cache, false)) failTrt("IBuilderConfig::setTimingCache", mark);
  }
  return cache;
}

// Another build sharing the workspace may have written the cache file since it was read: merge
// its entries before writing, so that neither build's timings are lost (the window between this
// read and the rename remains; losing some timings there only costs time).
void saveTimingCache(nvinfer1::IBuilderConfig& config, nvinfer1::ITimingCache& cache, const std::string& path,
                     BuildResult& result, uint64_t mark) {
  const std::vector<char> onDisk = readFile(path, false);
  if (!onDisk.empty()) {
    Ptr<nvinfer1::ITimingCache> other(config.createTimingCache(onDisk.data(), onDisk.size()));
    if (other) cache.combine(*other, false);  // false when it is another version's: then it is replaced
  }
  Ptr<nvinfer1::IHostMemory> serialized(cache.serialize());
  if (!serialized) failTrt("ITimingCache::serialize", mark);
  writeFileAtomic(path, serialized->data(), serialized->size());
  result.timingCacheBytes = serialized->size();
}

BuildResult build(const BuildOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t mark = logger().mark();
  BuildResult result;

  Ptr<nvinfer1::IBuilder> builder(nvinfer1::createInferBuilder(logger()));
  if (!builder) failTrt("nvinfer1::createInferBuilder", mark);
#if NV_TENSORRT_MAJOR >= 11
  result.stronglyTyped = true;  // TensorRT 11 builds strongly typed networks only
  const nvinfer1::NetworkDefinitionCreationFlags flags = 0;
#else
  result.stronglyTyped = isQuantized(options.precision);
  const nvinfer1::NetworkDefinitionCreationFlags flags =
      result.stronglyTyped ? 1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED) : 0U;
#endif
  Ptr<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(flags));
  if (!network) failTrt("IBuilder::createNetworkV2", mark);

  Ptr<nvonnxparser::IParser> parser(nvonnxparser::createParser(*network, logger()));
  if (!parser) failTrt("nvonnxparser::createParser", mark);
  if (!parser->parseFromFile(options.onnxPath.c_str(), static_cast<int>(nvinfer1::ILogger::Severity::kWARNING))) {
    std::string errors;
    for (int i = 0; i < parser->getNbErrors(); ++i) {
      const nvonnxparser::IParserError* error = parser->getError(i);
      errors += std::string(i ? "; " : "") + "node " + std::to_string(error->node()) + " (" + error->nodeName() + ", " +
                error->nodeOperator() + "): " + error->desc();
    }
    if (errors.empty()) errors = logger().errorsSince(mark);
    throw AddonError("TRT_PARSE_FAILED", "nvonnxparser::IParser::parseFromFile(" + options.onnxPath + ") failed: " + errors);
  }
  result.networkLayers = network->getNbLayers();
  checkPrecisionInModel(options.precision, scanNetwork(*network), result.stronglyTyped);

  Ptr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
  if (!config) failTrt("IBuilder::createBuilderConfig", mark);
  setPrecisionFlags(*config, options.precision, result.stronglyTyped);
  if (options.workspaceBytes > 0) {
    config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, static_cast<size_t>(options.workspaceBytes));
  }
  if (options.optimizationLevel >= 0) config->setBuilderOptimizationLevel(options.optimizationLevel);
  addProfiles(*builder, *network, *config, options.profiles, mark);

  Ptr<nvinfer1::ITimingCache> cache;
  if (!options.timingCachePath.empty()) cache = loadTimingCache(*config, options.timingCachePath, result, mark);

  Ptr<nvinfer1::IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
  if (!plan || plan->size() == 0) failTrt("IBuilder::buildSerializedNetwork", mark);
  writeFileAtomic(options.enginePath, plan->data(), plan->size());
  result.engineBytes = plan->size();
  if (cache) saveTimingCache(*config, *cache, options.timingCachePath, result, mark);

  result.buildMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

class BuildWorker : public PromiseWorker {
 public:
  BuildWorker(Napi::Env env, BuildOptions options) : PromiseWorker(env, "trt_addon.buildEngine"), options_(std::move(options)) {}

 protected:
  void Run() override { result_ = build(options_); }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object object = Napi::Object::New(env);
    object.Set("engineBytes", static_cast<double>(result_.engineBytes));
    object.Set("buildMs", result_.buildMs);
    Napi::Array profiles = Napi::Array::New(env, options_.profiles.size());
    for (size_t i = 0; i < options_.profiles.size(); ++i) profiles.Set(i, profileToJs(env, options_.profiles[i]));
    object.Set("profiles", profiles);
    object.Set("stronglyTyped", result_.stronglyTyped);
    object.Set("networkLayers", result_.networkLayers);
    object.Set("timingCacheBytes", static_cast<double>(result_.timingCacheBytes));
    Napi::Array notes = Napi::Array::New(env, result_.notes.size());
    for (size_t i = 0; i < result_.notes.size(); ++i) notes.Set(i, result_.notes[i]);
    object.Set("notes", notes);
    return object;
  }

 private:
  BuildOptions options_;
  BuildResult result_;
};

std::string stringOption(const Napi::Object& object, const char* key, bool required) {
  Napi::Value value = object.Get(key);
  if (value.IsString()) return value.As<Napi::String>().Utf8Value();
  if (!required && (value.IsUndefined() || value.IsNull())) return "";
  throw AddonError("TRT_BAD_ARGUMENT", std::string("buildEngine: options.") + key + " must be a string");
}

BuildOptions parseOptions(const Napi::Value& value) {
  if (!value.IsObject()) throw AddonError("TRT_BAD_ARGUMENT", "buildEngine takes one options object");
  Napi::Object object = value.As<Napi::Object>();
  BuildOptions options;
  options.onnxPath = stringOption(object, "onnxPath", true);
  options.enginePath = stringOption(object, "enginePath", true);
  options.timingCachePath = stringOption(object, "timingCachePath", false);
  options.precision = stringOption(object, "precision", true);
  static const char* const kPrecisions[] = {"fp32", "tf32", "fp16", "bf16", "int8", "fp8"};
  bool known = false;
  for (const char* precision : kPrecisions) known |= options.precision == precision;
  if (!known) {
    throw AddonError("TRT_BAD_ARGUMENT", "buildEngine: unknown precision \"" + options.precision +
                                             "\" (use fp32, tf32, fp16, bf16, int8 or fp8)");
  }
  Napi::Value profiles = object.Get("profiles");
  if (!profiles.IsUndefined()) {
    if (!profiles.IsArray()) throw AddonError("TRT_BAD_ARGUMENT", "buildEngine: options.profiles must be an array");
    Napi::Array array = profiles.As<Napi::Array>();
    for (uint32_t i = 0; i < array.Length(); ++i) {
      options.profiles.push_back(profileFromJs(array.Get(i), "buildEngine: options.profiles[" + std::to_string(i) + "]"));
    }
  }
  Napi::Value workspace = object.Get("workspaceBytes");
  if (!workspace.IsUndefined()) {
    if (!workspace.IsNumber() || workspace.As<Napi::Number>().DoubleValue() < 0) {
      throw AddonError("TRT_BAD_ARGUMENT", "buildEngine: options.workspaceBytes must be a non-negative number");
    }
    options.workspaceBytes = workspace.As<Napi::Number>().DoubleValue();
  }
  Napi::Value level = object.Get("optimizationLevel");
  if (!level.IsUndefined()) {
    const double number = level.IsNumber() ? level.As<Napi::Number>().DoubleValue() : -1;
    if (number != static_cast<int>(number) || number < 0 || number > 5) {
      throw AddonError("TRT_BAD_ARGUMENT", "buildEngine: options.optimizationLevel must be an integer from 0 to 5");
    }
    options.optimizationLevel = static_cast<int>(number);
  }
  return options;
}

}  // namespace

Napi::Value BuildEngine(const Napi::CallbackInfo& info) {
  BuildOptions options;
  try {
    options = parseOptions(info[0]);
  } catch (const AddonError& error) {
    throwJs(info.Env(), error);
  }
  auto* worker = new BuildWorker(info.Env(), std::move(options));  // deletes itself when done
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace trt_addon
