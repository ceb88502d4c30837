// The Engine class: a deserialized engine with one execution context and one CUDA stream.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "trt_common.h"

namespace trt_addon {
namespace {

using nvinfer1::DataType;
using nvinfer1::OptProfileSelector;

struct IoTensor {
  std::string name;
  bool input = false;
  DataType type = DataType::kFLOAT;
  Shape shape;  // -1 on dynamic axes
};

// Device memory for one IO tensor: grown to the largest size seen, kept between runs.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_), capacity_(other.capacity_) { other.ptr_ = nullptr; }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  void* reserve(size_t bytes) {
    bytes = std::max<size_t>(bytes, 256);  // empty tensors still need a valid address
    if (bytes > capacity_) {
      if (ptr_ != nullptr) CUDA_CHECK(cudaFree(ptr_));
      ptr_ = nullptr;
      capacity_ = 0;
      CUDA_CHECK(cudaMalloc(&ptr_, bytes));
      capacity_ = bytes;
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t capacity_ = 0;
};

struct HostInput {
  size_t index;  // into EngineState::io
  Shape dims;
  const void* data;  // inside a JS ArrayBuffer that the run worker keeps referenced
  size_t bytes;
};

struct HostOutput {
  size_t index;
  Shape dims;
  std::vector<uint8_t> data;
};

// Waits for the stream on every exit from a run, errors included: the copies read JS memory that
// may be collected once the run's promise settles.
struct StreamSync {
  cudaStream_t stream;
  ~StreamSync() { cudaStreamSynchronize(stream); }
};

std::string profilesText(const std::vector<Profile>& profiles) {
  std::string text;
  for (size_t p = 0; p < profiles.size(); ++p) {
    text += (p ? "; " : "") + std::to_string(p) + ":";
    for (const InputRange& range : profiles[p]) {
      text += " " + range.name + " " + shapeText(range.min) + ".." + shapeText(range.max);
    }
  }
  return text;
}

// Shared by the JS object and the runs in flight, so that release() during a run frees the
// engine only when the run is over.
class EngineState {
 public:
  explicit EngineState(const std::string& path) {
    const uint64_t mark = logger().mark();
    std::ifstream in(path, std::ios::binary);
    if (!in) throw AddonError("TRT_IO_FAILED", "cannot open engine file " + path);
    const std::vector<char> blob((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    runtime_.reset(nvinfer1::createInferRuntime(logger()));
    if (!runtime_) failTrt("nvinfer1::createInferRuntime", mark);
    engine_.reset(runtime_->deserializeCudaEngine(blob.data(), blob.size()));
    if (!engine_) failTrt("IRuntime::deserializeCudaEngine(" + path + ")", mark);

    for (int32_t i = 0; i < engine_->getNbIOTensors(); ++i) {
      IoTensor tensor;
      tensor.name = engine_->getIOTensorName(i);
      tensor.input = engine_->getTensorIOMode(tensor.name.c_str()) == nvinfer1::TensorIOMode::kINPUT;
      tensor.type = engine_->getTensorDataType(tensor.name.c_str());
      tensor.shape = toShape(engine_->getTensorShape(tensor.name.c_str()));
      if (engine_->isShapeInferenceIO(tensor.name.c_str())) {
        throw AddonError("TRT_UNSUPPORTED", "tensor \"" + tensor.name + "\" is a shape tensor, which this addon does not support");
      }
      if (dtypeSize(tensor.type) == 0) {
        throw AddonError("TRT_UNSUPPORTED", "tensor \"" + tensor.name + "\" is " + dtypeName(tensor.type) +
                                                ", which this addon cannot pass to or from JS");
      }
      io.push_back(tensor);
    }
    for (int32_t p = 0; p < engine_->getNbOptimizationProfiles(); ++p) {
      Profile profile;
      for (const IoTensor& tensor : io) {
        if (!tensor.input) continue;
        auto shape = [&](OptProfileSelector select) {
          const nvinfer1::Dims dims = engine_->getProfileShape(tensor.name.c_str(), p, select);
          return dims.nbDims < 0 ? tensor.shape : toShape(dims);  // static inputs may report no range
        };
        profile.push_back({tensor.name, shape(OptProfileSelector::kMIN), shape(OptProfileSelector::kOPT),
                           shape(OptProfileSelector::kMAX)});
      }
      profiles.push_back(profile);
    }

    context_.reset(engine_->createExecutionContext());
    if (!context_) failTrt("ICudaEngine::createExecutionContext", mark);
    buffers_.resize(io.size());
    // Created last: nothing after it can throw, so the destructor always gets to destroy it.
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }

  ~EngineState() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  std::vector<HostOutput> run(const std::vector<HostInput>& inputs) {
    std::lock_guard<std::mutex> lock(mutex_);  // one execution context: runs take turns
    const uint64_t mark = logger().mark();
    const int profile = pickProfile(inputs);
    StreamSync sync{stream_};
    if (profile != profile_) {
      if (!context_->setOptimizationProfileAsync(profile, stream_)) {
        failTrt("IExecutionContext::setOptimizationProfileAsync(" + std::to_string(profile) + ")", mark);
      }
      profile_ = profile;
    }
    for (const HostInput& input : inputs) {
      const char* name = io[input.index].name.c_str();
      if (!context_->setInputShape(name, toDims(input.dims))) {
        failTrt("IExecutionContext::setInputShape(\"" + io[input.index].name + "\", " + shapeText(input.dims) + ")", mark);
      }
      void* device = buffers_[input.index].reserve(input.bytes);
      if (input.bytes > 0) CUDA_CHECK(cudaMemcpyAsync(device, input.data, input.bytes, cudaMemcpyHostToDevice, stream_));
      if (!context_->setTensorAddress(name, device)) failTrt("IExecutionContext::setTensorAddress(\"" + io[input.index].name + "\")", mark);
    }
    std::vector<HostOutput> outputs;
    for (size_t i = 0; i < io.size(); ++i) {
      if (io[i].input) continue;
      const char* name = io[i].name.c_str();
      HostOutput output{i, toShape(context_->getTensorShape(name)), {}};
      for (int64_t size : output.dims) {
        if (size < 0) {
          throw AddonError("TRT_UNSUPPORTED", "output \"" + io[i].name + "\" has a data-dependent shape " +
                                                  shapeText(output.dims) + ", which this addon does not support");
        }
      }
      output.data.resize(static_cast<size_t>(elementCount(output.dims)) * dtypeSize(io[i].type));
      if (!context_->setTensorAddress(name, buffers_[i].reserve(output.data.size()))) {
        failTrt("IExecutionContext::setTensorAddress(\"" + io[i].name + "\")", mark);
      }
      outputs.push_back(std::move(output));
    }
    if (!context_->enqueueV3(stream_)) failTrt("IExecutionContext::enqueueV3", mark);
    for (HostOutput& output : outputs) {
      if (output.data.empty()) continue;
      CUDA_CHECK(cudaMemcpyAsync(output.data.data(), buffers_[output.index].reserve(output.data.size()),
                                 output.data.size(), cudaMemcpyDeviceToHost, stream_));
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return outputs;
  }

  std::vector<IoTensor> io;
  std::vector<Profile> profiles;

 private:
  // The first profile that every input fits, as the Python Model Navigator's TensorRT runner does.
  int pickProfile(const std::vector<HostInput>& inputs) const {
    for (size_t p = 0; p < profiles.size(); ++p) {
      bool fits = true;
      for (const HostInput& input : inputs) {
        for (const InputRange& range : profiles[p]) {
          if (range.name == io[input.index].name) fits &= fitsRange(range, input.dims);
        }
      }
      if (fits) return static_cast<int>(p);
    }
    std::string given;
    for (const HostInput& input : inputs) given += " " + io[input.index].name + " " + shapeText(input.dims);
    throw AddonError("TRT_NO_PROFILE", "input shapes" + given + " fit none of the engine's optimization profiles (" +
                                           profilesText(profiles) + "); rebuild the engine with a profile that covers them");
  }

  std::mutex mutex_;
  Ptr<nvinfer1::IRuntime> runtime_;  // must outlive the engine
  Ptr<nvinfer1::ICudaEngine> engine_;
  Ptr<nvinfer1::IExecutionContext> context_;
  cudaStream_t stream_ = nullptr;
  std::vector<DeviceBuffer> buffers_;  // one per IO tensor, indexed like io
  int profile_ = 0;                    // the context starts on profile 0
};

// The typed array JS passes and gets for each data type.
napi_typedarray_type arrayType(DataType type) {
  switch (type) {
    case DataType::kFLOAT: return napi_float32_array;
    case DataType::kHALF:
    case DataType::kBF16: return napi_uint16_array;  // raw bits, as onnxruntime-node holds float16
    case DataType::kINT8: return napi_int8_array;
    case DataType::kINT32: return napi_int32_array;
    case DataType::kINT64: return napi_bigint64_array;
    default: return napi_uint8_array;  // uint8, bool, fp8
  }
}

const char* arrayTypeName(napi_typedarray_type type) {
  switch (type) {
    case napi_float32_array: return "Float32Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int8_array: return "Int8Array";
    case napi_int32_array: return "Int32Array";
    case napi_bigint64_array: return "BigInt64Array";
    default: return "Uint8Array";
  }
}

Napi::Object tensorInfoToJs(Napi::Env env, const IoTensor& tensor) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("name", tensor.name);
  object.Set("dtype", dtypeName(tensor.type));
  object.Set("shape", shapeToJs(env, tensor.shape));
  return object;
}

class RunWorker : public PromiseWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<EngineState> state)
      : PromiseWorker(env, "trt_addon.Engine.run"), state_(std::move(state)) {}

  void addInput(const HostInput& input, const Napi::Object& array) {
    inputs_.push_back(input);
    keepAlive_.push_back(Napi::Persistent(array));
  }

 protected:
  void Run() override { outputs_ = state_->run(inputs_); }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    for (const HostOutput& output : outputs_) {
      const IoTensor& tensor = state_->io[output.index];
      Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, output.data.size());
      if (!output.data.empty()) std::memcpy(buffer.Data(), output.data.data(), output.data.size());
      const napi_typedarray_type type = arrayType(tensor.type);
      napi_value array;
      const size_t length = output.data.size() / dtypeSize(tensor.type);
      if (napi_create_typedarray(env, type, length, buffer, 0, &array) != napi_ok) {
        throw Napi::Error::New(env, "creating the typed array of output \"" + tensor.name + "\" failed");
      }
      Napi::Object object = Napi::Object::New(env);
      object.Set("data", array);
      object.Set("dims", shapeToJs(env, output.dims));
      object.Set("dtype", dtypeName(tensor.type));
      result.Set(tensor.name, object);
    }
    return result;
  }

 private:
  std::shared_ptr<EngineState> state_;
  std::vector<HostInput> inputs_;
  std::vector<Napi::ObjectReference> keepAlive_;
  std::vector<HostOutput> outputs_;
};

class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceAccessor<&Engine::Inputs>("inputs"), InstanceAccessor<&Engine::Outputs>("outputs"),
                        InstanceAccessor<&Engine::Profiles>("profiles"), InstanceMethod<&Engine::Run>("run"),
                        InstanceMethod<&Engine::Release>("release")});
  }

  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {
    if (!info[0].IsString()) throw jsError(info.Env(), "TRT_BAD_ARGUMENT", "new Engine(enginePath): enginePath must be a string");
    try {
      state_ = std::make_shared<EngineState>(info[0].As<Napi::String>().Utf8Value());
    } catch (const AddonError& error) {
      throwJs(info.Env(), error);
    }
    io_ = state_->io;  // kept for the getters after release()
    profiles_ = state_->profiles;
  }

 private:
  Napi::Value Inputs(const Napi::CallbackInfo& info) { return tensorList(info.Env(), true); }
  Napi::Value Outputs(const Napi::CallbackInfo& info) { return tensorList(info.Env(), false); }

  Napi::Value Profiles(const Napi::CallbackInfo& info) {
    Napi::Array array = Napi::Array::New(info.Env(), profiles_.size());
    for (size_t i = 0; i < profiles_.size(); ++i) array.Set(i, profileToJs(info.Env(), profiles_[i]));
    return array;
  }

  Napi::Value tensorList(Napi::Env env, bool inputs) {
    Napi::Array array = Napi::Array::New(env);
    for (const IoTensor& tensor : io_) {
      if (tensor.input == inputs) array.Set(array.Length(), tensorInfoToJs(env, tensor));
    }
    return array;
  }

  // run({ name: { data, dims } }): checks the inputs here on the JS thread, where they can be read,
  // then runs the engine on a worker thread and resolves to { name: { data, dims, dtype } }.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!state_) throw jsError(env, "TRT_BAD_ARGUMENT", "Engine.run: the engine has been released");
    if (!info[0].IsObject()) throw jsError(env, "TRT_BAD_ARGUMENT", "Engine.run takes { name: { data, dims } }");
    Napi::Object feeds = info[0].As<Napi::Object>();
    auto* worker = new RunWorker(env, state_);
    try {
      size_t given = 0;
      for (size_t i = 0; i < io_.size(); ++i) {
        if (!io_[i].input) continue;
        const IoTensor& tensor = io_[i];
        const std::string where = "Engine.run: input \"" + tensor.name + "\"";
        Napi::Value feed = feeds.Get(tensor.name);
        if (!feed.IsObject()) throw AddonError("TRT_BAD_ARGUMENT", where + " is missing");
        ++given;
        Napi::Value data = feed.As<Napi::Object>().Get("data");
        const Shape dims = shapeFromJs(feed.As<Napi::Object>().Get("dims"), where + " dims");
        const napi_typedarray_type expected = arrayType(tensor.type);
        if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != expected) {
          throw AddonError("TRT_BAD_ARGUMENT", where + " is " + dtypeName(tensor.type) + ": pass its data as a " +
                                                   arrayTypeName(expected));
        }
        Napi::TypedArray array = data.As<Napi::TypedArray>();
        if (dims.size() != tensor.shape.size()) {
          throw AddonError("TRT_BAD_ARGUMENT", where + " has " + std::to_string(tensor.shape.size()) + " axes " +
                                                   shapeText(tensor.shape) + ", dims " + shapeText(dims) + " has " +
                                                   std::to_string(dims.size()));
        }
        for (size_t axis = 0; axis < dims.size(); ++axis) {
          if (tensor.shape[axis] >= 0 && dims[axis] != tensor.shape[axis]) {
            throw AddonError("TRT_BAD_ARGUMENT", where + " has shape " + shapeText(tensor.shape) + ", dims are " + shapeText(dims));
          }
        }
        if (array.ElementLength() != static_cast<size_t>(elementCount(dims))) {
          throw AddonError("TRT_BAD_ARGUMENT", where + " has " + std::to_string(array.ElementLength()) +
                                                   " elements, dims " + shapeText(dims) + " need " +
                                                   std::to_string(elementCount(dims)));
        }
        void* bytes = nullptr;  // already offset to the first element, whatever buffer backs the array
        if (napi_get_typedarray_info(env, array, nullptr, nullptr, &bytes, nullptr, nullptr) != napi_ok) {
          throw AddonError("TRT_BAD_ARGUMENT", where + ": its typed array cannot be read");
        }
        worker->addInput({i, dims, bytes, array.ByteLength()}, array);
      }
      if (given != feeds.GetPropertyNames().Length()) {
        std::string names;
        for (const IoTensor& tensor : io_) {
          if (tensor.input) names += (names.empty() ? "" : ", ") + tensor.name;
        }
        throw AddonError("TRT_BAD_ARGUMENT", "Engine.run: an input is not one of the engine's (" + names + ")");
      }
    } catch (const AddonError& error) {
      delete worker;  // never queued
      throwJs(env, error);
    } catch (...) {
      delete worker;
      throw;
    }
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // Frees the engine now rather than when the object is collected; a run in flight finishes first.
  Napi::Value Release(const Napi::CallbackInfo& info) {
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<EngineState> state_;
  std::vector<IoTensor> io_;
  std::vector<Profile> profiles_;
};

}  // namespace

Napi::Function DefineEngine(Napi::Env env) { return Engine::Define(env); }

}  // namespace trt_addon
