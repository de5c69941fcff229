// medfm: TensorFlow CPU kernels of @medfm/models, registered when the binding loads
// (patch-binding.py, beside it in @medfm/native-backend's assets, adds this file to tfjs-node's binding).
//
// - MedfmApplyMomentum updates every variable of a model in one op: torch's SGD with momentum,
//   weight decay and no dampening (optionally Nesterov), where TensorFlow's ops take one or two
//   ops per variable and tfjs's take four.
// - MedfmBatchNormReluGrad is the gradient of relu(batch_norm(x)) in training mode, in place of
//   ReluGrad and FusedBatchNormGradV3: two passes over the data instead of five.
//   MedfmBatchNormReluGradAdd also adds the gradient that reaches x by another path and splits
//   the sum by channels, in place of a DenseNet layer's Add and SplitV.
// - MedfmGelu and MedfmGeluGrad are exact GELU, x·Φ(x), and its gradient, in one pass each, in
//   place of the four and eight TensorFlow ops of the composite and of its autodiff.
// - MedfmBatchNormRelu is relu(batch_norm(x)) with running statistics (inference), one pass in
//   place of FusedBatchNorm and Relu; MedfmBatchNormReluTraining the same with the batch's
//   statistics (and the running estimates' update), two passes, in place of oneDNN's fused op.
//   MedfmConcatBatchNormRelu is MedfmBatchNormRelu of a concatenation, read from its pieces: a
//   DenseNet layer's norm1 in inference, in place of the ConcatV2 before it.
// - MedfmLayerNormGrad is the input gradient of a layer norm, row by row in cache, in place of
//   the fifteen TensorFlow ops that recompute the statistics and apply the formula.
// - MedfmSoftmax and MedfmSoftmaxGrad are softmax(scale·x) over the last axis and its gradient,
//   attention's scaled softmax, row by row in cache in place of two and five TensorFlow ops.
// - MedfmConv2DBackpropFilter is the filter gradient of a stride-1 convolution, written for CPUs
//   with AVX2 but not AVX-512, where oneDNN's Conv2DBackpropFilter is slow.
// - MedfmAttention and MedfmAttentionGrad are a ViT block's multi-head attention from the fused
//   qkv projection and its gradient in qkv.
// - MedfmOpSignatures reports every op's declaration, so that @medfm/models calls only ops
//   declared as it expects (TensorFlow crashes on an op given more inputs than it declares).
//
// Every op has a shape function that gives its outputs' shapes: an unknown shape makes the
// binding's asynchronous execution wait for the op before going on.
//
// The prototypes come from TensorFlow's C kernel API (tensorflow/c/kernels.h and ops.h), which
// libtensorflow_framework exports; they are declared here so that the binding builds with the
// headers tfjs-node already uses.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// GCC vectorises the masked loops below (a comparison feeding arithmetic) only when it may assume
// that floating-point comparisons do not trap; they never do here (no signalling NaNs).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

// For a loop whose outputs may be its inputs, element for element (an update in place): no
// iteration reads what another writes, so it may be vectorised without alias checks.
#if defined(__clang__)
#define MEDFM_INDEPENDENT_ITERATIONS _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define MEDFM_INDEPENDENT_ITERATIONS _Pragma("GCC ivdep")
#else
#define MEDFM_INDEPENDENT_ITERATIONS
#endif

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tensorflow/c/c_api.h"

extern "C" {
typedef struct TF_OpKernelConstruction TF_OpKernelConstruction;
typedef struct TF_OpKernelContext TF_OpKernelContext;
typedef struct TF_KernelBuilder TF_KernelBuilder;
typedef struct TF_OpDefinitionBuilder TF_OpDefinitionBuilder;
typedef struct TF_ShapeInferenceContext TF_ShapeInferenceContext;
typedef struct TF_ShapeHandle TF_ShapeHandle;

TF_KernelBuilder *TF_NewKernelBuilder(const char *op_name, const char *device_name,
                                      void *(*create_func)(TF_OpKernelConstruction *),
                                      void (*compute_func)(void *, TF_OpKernelContext *),
                                      void (*delete_func)(void *));
void TF_RegisterKernelBuilder(const char *kernel_name, TF_KernelBuilder *builder,
                              TF_Status *status);
int TF_NumInputs(TF_OpKernelContext *ctx);
void TF_GetInput(TF_OpKernelContext *ctx, int i, TF_Tensor **tensor, TF_Status *status);
TF_Tensor *TF_ForwardInputOrAllocateOutput(TF_OpKernelContext *context,
                                           const int *candidate_input_indices,
                                           int num_candidate_input_indices, int output_index,
                                           const int64_t *output_dims, int output_num_dims,
                                           int *forwarded_input, TF_Status *status);
void TF_OpKernelContext_Failure(TF_OpKernelContext *ctx, TF_Status *status);
void TF_OpKernelConstruction_GetAttrBool(TF_OpKernelConstruction *ctx, const char *attr_name,
                                         unsigned char *val, TF_Status *status);
void TF_OpKernelConstruction_GetAttrFloat(TF_OpKernelConstruction *ctx, const char *attr_name,
                                          float *val, TF_Status *status);
void TF_OpKernelConstruction_GetAttrInt32(TF_OpKernelConstruction *ctx, const char *attr_name,
                                          int32_t *val, TF_Status *status);
TF_Tensor *TF_AllocateOutput(TF_OpKernelContext *context, int index, TF_DataType dtype,
                             const int64_t *dims, int num_dims, size_t len, TF_Status *status);

TF_OpDefinitionBuilder *TF_NewOpDefinitionBuilder(const char *op_name);
void TF_RegisterOpDefinition(TF_OpDefinitionBuilder *builder, TF_Status *status);
void TF_OpDefinitionBuilderAddAttr(TF_OpDefinitionBuilder *builder, const char *attr_spec);
void TF_OpDefinitionBuilderAddInput(TF_OpDefinitionBuilder *builder, const char *input_spec);
void TF_OpDefinitionBuilderAddOutput(TF_OpDefinitionBuilder *builder, const char *output_spec);
void TF_OpDefinitionBuilderSetShapeInferenceFunction(
    TF_OpDefinitionBuilder *builder,
    void (*shape_inference_func)(TF_ShapeInferenceContext *ctx, TF_Status *status));
int64_t TF_ShapeInferenceContextNumInputs(TF_ShapeInferenceContext *ctx);
TF_ShapeHandle *TF_NewShapeHandle();
void TF_ShapeInferenceContextGetInput(TF_ShapeInferenceContext *ctx, int i,
                                      TF_ShapeHandle *handle, TF_Status *status);
void TF_ShapeInferenceContextSetOutput(TF_ShapeInferenceContext *ctx, int i,
                                       TF_ShapeHandle *handle, TF_Status *status);
void TF_DeleteShapeHandle(TF_ShapeHandle *handle);
typedef struct TF_DimensionHandle TF_DimensionHandle;
TF_ShapeHandle *TF_ShapeInferenceContextVectorFromSize(TF_ShapeInferenceContext *ctx,
                                                       size_t size);
TF_DimensionHandle *TF_NewDimensionHandle();
void TF_DeleteDimensionHandle(TF_DimensionHandle *handle);
int64_t TF_ShapeInferenceContextRank(TF_ShapeInferenceContext *ctx, TF_ShapeHandle *handle);
int TF_ShapeInferenceContextRankKnown(TF_ShapeInferenceContext *ctx, TF_ShapeHandle *handle);
void TF_ShapeInferenceContextDim(TF_ShapeInferenceContext *ctx, TF_ShapeHandle *shape_handle,
                                 int64_t i, TF_DimensionHandle *result);
void TF_ShapeInferenceContextSubshape(TF_ShapeInferenceContext *ctx,
                                      TF_ShapeHandle *shape_handle, int64_t start, int64_t end,
                                      TF_ShapeHandle *result, TF_Status *status);
void TF_ShapeInferenceContextSetUnknownShape(TF_ShapeInferenceContext *ctx, TF_Status *status);
int TF_DimensionHandleValueKnown(TF_DimensionHandle *dim_handle);
int64_t TF_DimensionHandleValue(TF_DimensionHandle *dim_handle);
void TF_ShapeInferenceContextConcatenateShapes(TF_ShapeInferenceContext *ctx,
                                               TF_ShapeHandle *first, TF_ShapeHandle *second,
                                               TF_ShapeHandle *result, TF_Status *status);
}

namespace medfm {
namespace {

// The CPUs this process may run on (its affinity mask, as nproc counts them).
int AvailableCpus() {
  static const int cpus = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return cpus;
}

// Helper threads for the kernels below, started on first use and kept: part(t, count) runs
// for t in [0, count), part 0 on the calling thread (TensorFlow's executor thread). TensorFlow's
// own pool is idle while one of these kernels runs, since ops run one at a time. Helpers sleep
// between calls (the kernels are milliseconds apart); the caller spins briefly before sleeping
// while it waits for them. One call at a time: a second TensorFlow context (another worker
// thread) calling meanwhile runs its kernel on its own thread.
class Workers {
 public:
  static Workers &Get() {
    static Workers *workers = new Workers();  // never destroyed: helpers may outlive main()
    return *workers;
  }

  void Run(int threads, const std::function<void(int, int)> &part) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (threads <= 1 || !busy.owns_lock()) {
      part(0, 1);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<int>(helpers_.size()) < threads - 1) {
        const int index = static_cast<int>(helpers_.size()) + 1;
        helpers_.emplace_back([this, index] { Loop(index); });
        helpers_.back().detach();
      }
      job_ = &part;
      count_ = threads;
      remaining_.store(threads - 1, std::memory_order_relaxed);
      generation_ += 1;
    }
    wake_.notify_all();
    part(0, threads);
    for (int spin = 0; remaining_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < 4096) continue;
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
    }
  }

 private:
  Workers() = default;

  void Loop(int index) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen = generation_ - 1;  // started by Run for the call now being made
    }
    for (;;) {
      const std::function<void(int, int)> *job;
      int count;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
        count = count_;
      }
      if (index >= count) continue;
      (*job)(index, count);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_all();
      }
    }
  }

  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> helpers_;
  const std::function<void(int, int)> *job_ = nullptr;
  int count_ = 0;
  uint64_t generation_ = 0;
  std::atomic<int> remaining_{0};
};

void ParallelFor(int threads, const std::function<void(int, int)> &part) {
  Workers::Get().Run(threads, part);
}

// Threads for a kernel over `elements` values that splits into `parts` (rows, or the values
// themselves): one below 2^16 values, else up to 4, as many as the CPUs and the parts allow.
int ThreadsFor(int64_t elements, int64_t parts) {
  if (elements < (1 << 16)) return 1;
  return static_cast<int>(std::min<int64_t>(std::min(AvailableCpus(), 4), parts));
}

// A tensor's dimensions, as TF_AllocateOutput and TF_ForwardInputOrAllocateOutput take them.
std::vector<int64_t> ShapeOf(TF_Tensor *tensor) {
  std::vector<int64_t> shape(TF_NumDims(tensor));
  for (size_t d = 0; d < shape.size(); ++d) shape[d] = TF_Dim(tensor, static_cast<int>(d));
  return shape;
}

// Output 0 with the shape of input `index` (`input`), in that input's buffer where TensorFlow
// lets the op reuse it (no other reader), else newly allocated.
TF_Tensor *OutputLikeInput(TF_OpKernelContext *ctx, int index, TF_Tensor *input,
                           TF_Status *status) {
  const std::vector<int64_t> shape = ShapeOf(input);
  return TF_ForwardInputOrAllocateOutput(ctx, &index, 1, 0, shape.data(),
                                         static_cast<int>(shape.size()), nullptr, status);
}

// Inputs: lr, momentum, weight_decay, then N params, N grads, N moments. Outputs: N params, then
// N moments.
constexpr int kScalarInputs = 3;

struct MomentumKernel {
  bool nesterov;
};

void *CreateMomentum(TF_OpKernelConstruction *ctx) {
  TF_Status *status = TF_NewStatus();
  unsigned char nesterov = 0;
  TF_OpKernelConstruction_GetAttrBool(ctx, "use_nesterov", &nesterov, status);
  TF_DeleteStatus(status);
  return new MomentumKernel{nesterov != 0};
}

void DeleteMomentum(void *kernel) { delete static_cast<MomentumKernel *>(kernel); }

struct Slice {
  const float *grad;
  float *param_out;
  float *moment_out;
  const float *param_in;
  const float *moment_in;
  int64_t size;
};

void Update(const std::vector<Slice> &slices, int64_t begin, int64_t end, float lr, float mu,
            float decay, bool nesterov) {
  int64_t offset = 0;
  for (const Slice &s : slices) {
    const int64_t from = std::max<int64_t>(begin - offset, 0);
    const int64_t to = std::min<int64_t>(end - offset, s.size);
    offset += s.size;
    if (from >= to) continue;
    const float *g = s.grad;
    const float *p = s.param_in;
    const float *m = s.moment_in;
    float *po = s.param_out;
    float *mo = s.moment_out;
    // torch.optim.SGD with dampening 0: g += wd·p; buf = μ·buf + g; p −= lr·buf, or with
    // Nesterov p −= lr·(g + μ·buf). The branches keep each loop simple enough to vectorise.
    if (nesterov) {
      MEDFM_INDEPENDENT_ITERATIONS
      for (int64_t i = from; i < to; ++i) {
        const float gradient = g[i] + decay * p[i];
        const float moment = mu * m[i] + gradient;
        mo[i] = moment;
        po[i] = p[i] - lr * (gradient + mu * moment);
      }
    } else if (decay != 0.0f) {
      MEDFM_INDEPENDENT_ITERATIONS
      for (int64_t i = from; i < to; ++i) {
        const float moment = mu * m[i] + (g[i] + decay * p[i]);
        mo[i] = moment;
        po[i] = p[i] - lr * moment;
      }
    } else {
      MEDFM_INDEPENDENT_ITERATIONS
      for (int64_t i = from; i < to; ++i) {
        const float moment = mu * m[i] + g[i];
        mo[i] = moment;
        po[i] = p[i] - lr * moment;
      }
    }
  }
}

void ComputeMomentum(void *kernel, TF_OpKernelContext *ctx) {
  const bool nesterov = static_cast<MomentumKernel *>(kernel)->nesterov;
  TF_Status *status = TF_NewStatus();
  const int n = (TF_NumInputs(ctx) - kScalarInputs) / 3;
  std::vector<TF_Tensor *> owned;
  auto input = [&](int i) -> TF_Tensor * {
    TF_Tensor *tensor = nullptr;
    TF_GetInput(ctx, i, &tensor, status);
    if (tensor != nullptr) owned.push_back(tensor);
    return TF_GetCode(status) == TF_OK ? tensor : nullptr;
  };
  float scalars[kScalarInputs] = {0, 0, 0};  // lr, momentum, weight decay
  std::vector<Slice> slices;
  int64_t total = 0;
  bool ok = true;
  for (int i = 0; ok && i < kScalarInputs; ++i) {
    TF_Tensor *t = input(i);
    if (t == nullptr) ok = false; else scalars[i] = *static_cast<float *>(TF_TensorData(t));
  }
  const float lr = scalars[0];
  const float mu = scalars[1];
  const float decay = scalars[2];
  for (int v = 0; ok && v < n; ++v) {
    const int param_index = kScalarInputs + v;
    const int grad_index = kScalarInputs + n + v;
    const int moment_index = kScalarInputs + 2 * n + v;
    TF_Tensor *param = input(param_index);
    TF_Tensor *grad = param ? input(grad_index) : nullptr;
    TF_Tensor *moment = grad ? input(moment_index) : nullptr;
    if (moment == nullptr) { ok = false; break; }
    const std::vector<int64_t> shape = ShapeOf(param);
    const int dims = static_cast<int>(shape.size());
    const int64_t size = TF_TensorElementCount(param);
    if (TF_TensorElementCount(grad) != size || TF_TensorElementCount(moment) != size) {
      char message[160];
      snprintf(message, sizeof(message),
               "MedfmApplyMomentum: variable %d has %lld elements but its gradient %lld and its "
               "buffer %lld", v, static_cast<long long>(size),
               static_cast<long long>(TF_TensorElementCount(grad)),
               static_cast<long long>(TF_TensorElementCount(moment)));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
      ok = false;
      break;
    }
    TF_Tensor *param_out = TF_ForwardInputOrAllocateOutput(ctx, &param_index, 1, v, shape.data(),
                                                           dims, nullptr, status);
    if (param_out) owned.push_back(param_out);
    TF_Tensor *moment_out =
        TF_GetCode(status) == TF_OK
            ? TF_ForwardInputOrAllocateOutput(ctx, &moment_index, 1, n + v, shape.data(), dims,
                                              nullptr, status)
            : nullptr;
    if (moment_out) owned.push_back(moment_out);
    if (TF_GetCode(status) != TF_OK) { ok = false; break; }
    slices.push_back({static_cast<const float *>(TF_TensorData(grad)),
                      static_cast<float *>(TF_TensorData(param_out)),
                      static_cast<float *>(TF_TensorData(moment_out)),
                      static_cast<const float *>(TF_TensorData(param)),
                      static_cast<const float *>(TF_TensorData(moment)), size});
    total += size;
  }
  if (ok) {
    // All the elements split evenly between threads, across variables.
    const int threads = ThreadsFor(total, total);
    ParallelFor(threads, [&](int t, int count) {
      Update(slices, total * t / count, total * (t + 1) / count, lr, mu, decay, nesterov);
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : owned) TF_DeleteTensor(tensor);
  TF_DeleteStatus(status);
}

// Output i has the shape of input kScalarInputs + i (params first, then moments).
void MomentumShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  const int64_t n = (TF_ShapeInferenceContextNumInputs(ctx) - kScalarInputs) / 3;
  TF_ShapeHandle *shape = TF_NewShapeHandle();
  for (int64_t i = 0; i < 2 * n && TF_GetCode(status) == TF_OK; ++i) {
    const int64_t input = kScalarInputs + (i < n ? i : n + i);
    TF_ShapeInferenceContextGetInput(ctx, static_cast<int>(input), shape, status);
    if (TF_GetCode(status) == TF_OK) {
      TF_ShapeInferenceContextSetOutput(ctx, static_cast<int>(i), shape, status);
    }
  }
  TF_DeleteShapeHandle(shape);
}

// MedfmBatchNormReluGrad: the gradient of relu(batch_norm(x)) in training mode (NHWC), in place
// of TensorFlow's ReluGrad followed by FusedBatchNormGradV3. Inputs: dy (gradient of the ReLU's
// output), y (the ReLU's output), x, scale, mean and variance (the batch's, biased), all float32;
// attribute epsilon. With dz = dy·[y > 0], r = 1/√(variance + ε), M = N·H·W and per channel
// S = Σ dz, T = Σ dz·(x − mean): doffset = S, dscale = r·T and
// dx = scale·r·(dz − S/M − (x − mean)·r²·T/M), torch's native_batch_norm_backward of the
// masked gradient. Two passes over the data, split by rows between threads.
//
// MedfmBatchNormReluGradAdd takes two more inputs, "residual" (x's shape: the gradient reaching x
// by another path) and "split_like" (a vector of k values, only its length is read), and gives
// dx + residual as two outputs, its first C − k channels and its last k, then dscale and
// doffset. In a DenseNet block, x is the concatenation of the layers so far: the residual is the
// gradient through the later concatenations, and the last k channels are the previous layer's
// new features, whose gradient goes back through that layer.
struct BatchNormGradKernel {
  float epsilon;
  bool accumulate;
};

// A float attribute of the op, or `fallback` where it cannot be read (every op declares a default).
float FloatAttr(TF_OpKernelConstruction *ctx, const char *name, float fallback) {
  TF_Status *status = TF_NewStatus();
  float value = fallback;
  TF_OpKernelConstruction_GetAttrFloat(ctx, name, &value, status);
  TF_DeleteStatus(status);
  return value;
}

float EpsilonAttr(TF_OpKernelConstruction *ctx) { return FloatAttr(ctx, "epsilon", 1e-5f); }

void *CreateBatchNormGrad(TF_OpKernelConstruction *ctx) {
  return new BatchNormGradKernel{EpsilonAttr(ctx), false};
}

void *CreateBatchNormGradAdd(TF_OpKernelConstruction *ctx) {
  return new BatchNormGradKernel{EpsilonAttr(ctx), true};
}

void DeleteBatchNormGrad(void *kernel) { delete static_cast<BatchNormGradKernel *>(kernel); }

void ComputeBatchNormGrad(void *kernel, TF_OpKernelContext *ctx) {
  const float epsilon = static_cast<BatchNormGradKernel *>(kernel)->epsilon;
  const bool accumulate = static_cast<BatchNormGradKernel *>(kernel)->accumulate;
  const char *name = accumulate ? "MedfmBatchNormReluGradAdd" : "MedfmBatchNormReluGrad";
  const int inputs = accumulate ? 8 : 6;
  const int vectors = accumulate ? 2 : 1;  // index of dscale among the outputs
  TF_Status *status = TF_NewStatus();
  TF_Tensor *in[8] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  TF_Tensor *out[4] = {nullptr, nullptr, nullptr, nullptr};
  for (int i = 0; i < inputs && TF_GetCode(status) == TF_OK; ++i) {
    TF_GetInput(ctx, i, &in[i], status);
  }
  int64_t rows = 0;
  int64_t channels = 0;
  int64_t tail = 0;  // channels of the second output (MedfmBatchNormReluGradAdd)
  if (TF_GetCode(status) == TF_OK) {
    const int dims = TF_NumDims(in[0]);
    channels = dims > 0 ? TF_Dim(in[0], dims - 1) : 0;
    rows = channels > 0 ? TF_TensorElementCount(in[0]) / channels : 0;
    bool shapes = dims == 4 && TF_TensorElementCount(in[1]) == rows * channels &&
                  TF_TensorElementCount(in[2]) == rows * channels;
    for (int i = 3; i < 6; ++i) shapes = shapes && TF_TensorElementCount(in[i]) == channels;
    if (accumulate) {
      tail = TF_TensorElementCount(in[7]);
      shapes = shapes && TF_TensorElementCount(in[6]) == rows * channels && tail <= channels;
    }
    if (!shapes) {
      char message[200];
      snprintf(message, sizeof(message),
               "%s: dy, y and x%s must be NHWC of one shape, scale, mean and variance have one "
               "value per channel%s",
               name, accumulate ? " and residual" : "",
               accumulate ? ", and split_like no more values than channels" : "");
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    }
  }
  if (TF_GetCode(status) == TF_OK) {
    std::vector<int64_t> shape(4);
    for (int d = 0; d < 4; ++d) shape[d] = TF_Dim(in[0], d);
    // New buffers, not forwarded inputs: the loops below assume dx shares memory with nothing.
    const int64_t widths[2] = {channels - tail, tail};
    for (int i = 0; i < vectors && TF_GetCode(status) == TF_OK; ++i) {
      shape[3] = accumulate ? widths[i] : channels;
      out[i] = TF_AllocateOutput(ctx, i, TF_FLOAT, shape.data(), 4,
                                 sizeof(float) * rows * shape[3], status);
    }
    const int64_t vector_shape[1] = {channels};
    for (int i = vectors; i < vectors + 2 && TF_GetCode(status) == TF_OK; ++i) {
      out[i] = TF_AllocateOutput(ctx, i, TF_FLOAT, vector_shape, 1,
                                 sizeof(float) * channels, status);
    }
  }
  if (TF_GetCode(status) == TF_OK && rows > 0) {
    const float *dy = static_cast<const float *>(TF_TensorData(in[0]));
    const float *y = static_cast<const float *>(TF_TensorData(in[1]));
    const float *x = static_cast<const float *>(TF_TensorData(in[2]));
    const float *scale = static_cast<const float *>(TF_TensorData(in[3]));
    const float *mean = static_cast<const float *>(TF_TensorData(in[4]));
    const float *variance = static_cast<const float *>(TF_TensorData(in[5]));
    const float *residual = accumulate ? static_cast<const float *>(TF_TensorData(in[6])) : nullptr;
    float *dx = static_cast<float *>(TF_TensorData(out[0]));
    float *dx_tail = accumulate && tail > 0 ? static_cast<float *>(TF_TensorData(out[1])) : nullptr;
    float *dscale = static_cast<float *>(TF_TensorData(out[vectors]));
    float *doffset = static_cast<float *>(TF_TensorData(out[vectors + 1]));
    const int64_t head = channels - tail;
    const int64_t size = rows * channels;
    const int threads =
        static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(AvailableCpus(), size >> 15)));
    // Pass 1: per-thread sums over its rows, in double (rows can number 50,000).
    std::vector<double> sums(static_cast<size_t>(threads) * 2 * channels, 0.0);
    ParallelFor(threads, [&](int t, int count) {
      double *s = sums.data() + static_cast<size_t>(t) * 2 * channels;
      double *sc = s + channels;
      std::vector<float> fs(2 * channels);
      float *__restrict fsum = fs.data();
      float *__restrict fcen = fs.data() + channels;
      const float *__restrict mu = mean;
      const int64_t first = rows * t / count;
      const int64_t last = rows * (t + 1) / count;
      // Float partial sums over blocks of rows (vectorised across channels), added in double.
      constexpr int64_t kBlock = 64;
      for (int64_t block = first; block < last; block += kBlock) {
        std::fill(fs.begin(), fs.end(), 0.0f);
        const int64_t end = std::min(last, block + kBlock);
        for (int64_t row = block; row < end; ++row) {
          const float *__restrict g = dy + row * channels;
          const float *__restrict o = y + row * channels;
          const float *__restrict v = x + row * channels;
          for (int64_t c = 0; c < channels; ++c) {
            // ReluGrad's dy·[y > 0], as a product: no branch, and NaN in dy stays NaN.
            const float dz = g[c] * static_cast<float>(o[c] > 0.0f);
            fsum[c] += dz;
            fcen[c] += dz * (v[c] - mu[c]);
          }
        }
        for (int64_t c = 0; c < channels; ++c) {
          s[c] += fsum[c];
          sc[c] += fcen[c];
        }
      }
    });
    std::vector<float> a(channels), b(channels), k(channels);
    const double m = static_cast<double>(rows);
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0;
      double centred = 0;
      for (int t = 0; t < threads; ++t) {
        sum += sums[static_cast<size_t>(t) * 2 * channels + c];
        centred += sums[static_cast<size_t>(t) * 2 * channels + channels + c];
      }
      const double r = 1.0 / std::sqrt(static_cast<double>(variance[c]) + epsilon);
      doffset[c] = static_cast<float>(sum);
      dscale[c] = static_cast<float>(r * centred);
      a[c] = static_cast<float>(scale[c] * r);
      b[c] = static_cast<float>(scale[c] * r * sum / m);
      k[c] = static_cast<float>(scale[c] * r * r * r * centred / m);
    }
    // Pass 2: dx = a·dz − b − k·(x − mean).
    ParallelFor(threads, [&](int t, int count) {
      const int64_t first = rows * t / count;
      const int64_t last = rows * (t + 1) / count;
      const float *__restrict ca = a.data();
      const float *__restrict cb = b.data();
      const float *__restrict ck = k.data();
      const float *__restrict mu = mean;
      if (!accumulate) {
        for (int64_t row = first; row < last; ++row) {
          const float *__restrict g = dy + row * channels;
          const float *__restrict o = y + row * channels;
          const float *__restrict v = x + row * channels;
          float *__restrict d = dx + row * channels;
          for (int64_t c = 0; c < channels; ++c) {
            const float dz = g[c] * static_cast<float>(o[c] > 0.0f);
            d[c] = ca[c] * dz - cb[c] - ck[c] * (v[c] - mu[c]);
          }
        }
        return;
      }
      // dx + residual, its first "head" channels to one output and the rest to the other.
      for (int64_t row = first; row < last; ++row) {
        const float *__restrict g = dy + row * channels;
        const float *__restrict o = y + row * channels;
        const float *__restrict v = x + row * channels;
        const float *__restrict r = residual + row * channels;
        float *__restrict d = dx + row * head;
        for (int64_t c = 0; c < head; ++c) {
          const float dz = g[c] * static_cast<float>(o[c] > 0.0f);
          d[c] = ca[c] * dz - cb[c] - ck[c] * (v[c] - mu[c]) + r[c];
        }
        if (dx_tail == nullptr) continue;
        float *__restrict e = dx_tail + row * tail;
        for (int64_t c = head; c < channels; ++c) {
          const float dz = g[c] * static_cast<float>(o[c] > 0.0f);
          e[c - head] = ca[c] * dz - cb[c] - ck[c] * (v[c] - mu[c]) + r[c];
        }
      }
    });
  }
  if (TF_GetCode(status) != TF_OK) TF_OpKernelContext_Failure(ctx, status);
  for (TF_Tensor *tensor : in) if (tensor) TF_DeleteTensor(tensor);
  for (TF_Tensor *tensor : out) if (tensor) TF_DeleteTensor(tensor);
  TF_DeleteStatus(status);
}

// Whether the shape's rank is known and at least `rank` (exactly `rank` when `exact`).
bool RankIs(TF_ShapeInferenceContext *ctx, TF_ShapeHandle *shape, int64_t rank,
            bool exact = true) {
  if (!TF_ShapeInferenceContextRankKnown(ctx, shape)) return false;
  const int64_t known = TF_ShapeInferenceContextRank(ctx, shape);
  return exact ? known == rank : known >= rank;
}

// dx has dy's shape; dscale and doffset have scale's.
void BatchNormGradShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *shape = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 3, shape, status);
  for (int i = 1; i < 3 && TF_GetCode(status) == TF_OK; ++i) {
    TF_ShapeInferenceContextSetOutput(ctx, i, shape, status);
  }
  TF_DeleteShapeHandle(shape);
}

// The first two outputs have x's shape with C − k and k channels (k: split_like's length);
// dscale and doffset have scale's.
void BatchNormGradAddShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *x = TF_NewShapeHandle();
  TF_ShapeHandle *split = TF_NewShapeHandle();
  TF_ShapeHandle *outer = TF_NewShapeHandle();
  TF_ShapeHandle *result = TF_NewShapeHandle();
  TF_DimensionHandle *dim = TF_NewDimensionHandle();
  TF_ShapeInferenceContextGetInput(ctx, 2, x, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 7, split, status);
  bool known = TF_GetCode(status) == TF_OK && RankIs(ctx, x, 4) && RankIs(ctx, split, 1);
  int64_t channels = -1;
  int64_t tail = -1;
  if (known) {
    TF_ShapeInferenceContextDim(ctx, x, 3, dim);
    channels = TF_DimensionHandleValueKnown(dim) ? TF_DimensionHandleValue(dim) : -1;
    TF_ShapeInferenceContextDim(ctx, split, 0, dim);
    tail = TF_DimensionHandleValueKnown(dim) ? TF_DimensionHandleValue(dim) : -1;
    known = channels >= 0 && tail >= 0 && tail <= channels;
  }
  if (!known) {
    if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetUnknownShape(ctx, status);
  } else {
    TF_ShapeInferenceContextSubshape(ctx, x, 0, 3, outer, status);
    const int64_t widths[2] = {channels - tail, tail};
    for (int i = 0; i < 2 && TF_GetCode(status) == TF_OK; ++i) {
      TF_ShapeHandle *last = TF_ShapeInferenceContextVectorFromSize(ctx, widths[i]);
      TF_ShapeInferenceContextConcatenateShapes(ctx, outer, last, result, status);
      TF_DeleteShapeHandle(last);
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, i, result, status);
    }
    if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 3, result, status);
    for (int i = 2; i < 4 && TF_GetCode(status) == TF_OK; ++i) {
      TF_ShapeInferenceContextSetOutput(ctx, i, result, status);
    }
  }
  TF_DeleteDimensionHandle(dim);
  for (TF_ShapeHandle *handle : {x, split, outer, result}) TF_DeleteShapeHandle(handle);
}

// Exact GELU and its gradient, element by element: y = x·Φ(x) and dx = dy·(Φ(x) + x·φ(x)), with
// Φ(x) = (1 + erf(x/√2))/2 and φ(x) = e^(−x²/2)/√(2π). erf and exp are written as polynomials so
// that GCC vectorises the loops (library calls would not be); erf is Eigen's rational
// approximation (the one TensorFlow's Erf runs, within 4e-7 of erf), exp is exact to 1e-7.
inline float Erf(float a) {
  const float x = a < -4.f ? -4.f : (a > 4.f ? 4.f : a);
  const float x2 = x * x;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  p = x * p;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  return p / q;
}

// e^x for x ≤ 0 (0 below −87): x = n·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor polynomial to
// r^7, 2^n from the exponent bits.
inline float ExpNonPositive(float a) {
  const float x = a < -87.f ? -87.f : (a > 0.f ? 0.f : a);
  const float shifter = 12582912.f;  // 1.5·2^23: adding and subtracting it rounds to an integer
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = r * (1.f / 5040) + (1.f / 720);
  p = r * p + (1.f / 120);
  p = r * p + (1.f / 24);
  p = r * p + (1.f / 6);
  p = r * p + 0.5f;
  p = r * p + 1.f;
  p = r * p + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return a < -87.f ? 0.f : p * scale;
}

// Compiled for AVX-512 and AVX2 + FMA besides the baseline, chosen when the library loads: the
// polynomials make these loops compute-bound (3× faster with AVX-512 than with SSE2 here).
#if defined(__GNUC__) && defined(__x86_64__)
#define MEDFM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MEDFM_CPU_CLONES
#endif

// Hand-written AVX2 + FMA paths (GCC and Clang on x86-64), taken where the CPU has both
// (HasAvx2Fma, checked at run time); every kernel keeps a plain loop for other CPUs.
#if defined(__GNUC__) && defined(__x86_64__)
#define MEDFM_AVX2 1
#include <immintrin.h>

bool HasAvx2Fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// ExpNonPositive on 8 lanes: the same reduction and polynomial, with FMAs.
__attribute__((target("avx2,fma"))) inline __m256 ExpNonPositiveAvx2(__m256 a) {
  const __m256 x = _mm256_min_ps(_mm256_max_ps(a, _mm256_set1_ps(-87.f)), _mm256_setzero_ps());
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x));
  __m256 p = _mm256_fmadd_ps(r, _mm256_set1_ps(1.f / 5040), _mm256_set1_ps(1.f / 720));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(r, p, _mm256_set1_ps(1.f));
  const __m256 scale = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  return _mm256_andnot_ps(_mm256_cmp_ps(a, _mm256_set1_ps(-87.f), _CMP_LT_OQ),
                          _mm256_mul_ps(p, scale));
}

// The first `rest` (0..8) lanes set, for the last n % 8 values of a row.
__attribute__((target("avx2,fma"))) inline __m256i TailMaskAvx2(int64_t rest) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rest)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The largest and the sum of 8 lanes, in every lane.
__attribute__((target("avx2,fma"))) inline __m256 BroadcastMaxAvx2(__m256 v) {
  v = _mm256_max_ps(v, _mm256_permute2f128_ps(v, v, 1));
  v = _mm256_max_ps(v, _mm256_shuffle_ps(v, v, 0x4e));
  return _mm256_max_ps(v, _mm256_shuffle_ps(v, v, 0xb1));
}

__attribute__((target("avx2,fma"))) inline __m256 BroadcastSumAvx2(__m256 v) {
  v = _mm256_add_ps(v, _mm256_permute2f128_ps(v, v, 1));
  v = _mm256_add_ps(v, _mm256_shuffle_ps(v, v, 0x4e));
  return _mm256_add_ps(v, _mm256_shuffle_ps(v, v, 0xb1));
}
#endif

MEDFM_CPU_CLONES
void GeluRange(const float *x, float *y, int64_t begin, int64_t end) {
  MEDFM_INDEPENDENT_ITERATIONS
  for (int64_t i = begin; i < end; ++i) {
    const float v = x[i];
    y[i] = v * (0.5f * (1.f + Erf(v * 0.70710678118654752f)));
  }
}

MEDFM_CPU_CLONES
void GeluGradRange(const float *dy, const float *x, float *dx, int64_t begin, int64_t end) {
  MEDFM_INDEPENDENT_ITERATIONS
  for (int64_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.f + Erf(v * 0.70710678118654752f));
    const float pdf = ExpNonPositive(-0.5f * v * v) * 0.39894228040143268f;
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

struct GeluKernel {};

void *CreateGelu(TF_OpKernelConstruction *) { return new GeluKernel(); }

void DeleteGelu(void *kernel) { delete static_cast<GeluKernel *>(kernel); }

// Inputs: x (MedfmGelu), or dy and x (MedfmGeluGrad), float32 of one shape; one output of it.
template <bool kGradient>
void ComputeGelu(void *, TF_OpKernelContext *ctx) {
  TF_Status *status = TF_NewStatus();
  TF_Tensor *x = nullptr;
  TF_Tensor *dy = nullptr;
  TF_Tensor *out = nullptr;
  const int x_index = kGradient ? 1 : 0;
  TF_GetInput(ctx, x_index, &x, status);
  if (kGradient && TF_GetCode(status) == TF_OK) TF_GetInput(ctx, 0, &dy, status);
  if (TF_GetCode(status) == TF_OK && kGradient &&
      TF_TensorElementCount(dy) != TF_TensorElementCount(x)) {
    char message[160];
    snprintf(message, sizeof(message),
             "MedfmGeluGrad: dy has %lld elements but x has %lld",
             static_cast<long long>(TF_TensorElementCount(dy)),
             static_cast<long long>(TF_TensorElementCount(x)));
    TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
  }
  if (TF_GetCode(status) == TF_OK) {
    out = OutputLikeInput(ctx, x_index, x, status);
  }
  if (TF_GetCode(status) == TF_OK) {
    const int64_t size = TF_TensorElementCount(x);
    const float *in = static_cast<const float *>(TF_TensorData(x));
    const float *upstream = kGradient ? static_cast<const float *>(TF_TensorData(dy)) : nullptr;
    float *result = static_cast<float *>(TF_TensorData(out));
    const int threads = ThreadsFor(size, size);
    ParallelFor(threads, [&](int t, int count) {
      const int64_t begin = size * t / count;
      const int64_t end = size * (t + 1) / count;
      if (kGradient) {
        GeluGradRange(upstream, in, result, begin, end);
      } else {
        GeluRange(in, result, begin, end);
      }
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : {x, dy, out}) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// Sum of n floats in 16 float lanes (which GCC vectorises; a single accumulator it would not,
// without reassociation), the lanes added at the end.
inline float LaneSum(const float *v, int64_t n) {
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    for (int k = 0; k < 16; ++k) lanes[k] += v[j + k];
  }
  for (; j < n; ++j) lanes[j % 16] += v[j];
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += lanes[k];
  return sum;
}

// The input gradient of a layer norm over the last axis (torch's nn.LayerNorm), rows
// [begin, end) of `channels` values: with x̂ = (x − μ)·r, r = 1/√(σ² + ε) (biased variance)
// and g = dy·scale, dx = r·(g − mean(g) − x̂·mean(g·x̂)). `work` holds 2·channels floats.
MEDFM_CPU_CLONES
void LayerNormGradRows(const float *dy, const float *x, const float *scale, float *dx,
                       int64_t channels, float epsilon, int64_t begin, int64_t end,
                       float *work) {
  float *centred = work;
  float *g = work + channels;
  const float inverse = 1.f / static_cast<float>(channels);
  for (int64_t row = begin; row < end; ++row) {
    const float *xr = x + row * channels;
    const float *dyr = dy + row * channels;
    float *dxr = dx + row * channels;
    const float mean = LaneSum(xr, channels) * inverse;
    for (int64_t c = 0; c < channels; ++c) centred[c] = xr[c] - mean;
    for (int64_t c = 0; c < channels; ++c) g[c] = centred[c] * centred[c];
    const float r = 1.f / std::sqrt(LaneSum(g, channels) * inverse + epsilon);
    for (int64_t c = 0; c < channels; ++c) centred[c] *= r;  // now x̂
    for (int64_t c = 0; c < channels; ++c) g[c] = dyr[c] * scale[c];
    const float mean_g = LaneSum(g, channels) * inverse;
    for (int64_t c = 0; c < channels; ++c) dxr[c] = g[c] * centred[c];
    const float mean_gx = LaneSum(dxr, channels) * inverse;
    for (int64_t c = 0; c < channels; ++c) {
      dxr[c] = r * (g[c] - mean_g - centred[c] * mean_gx);
    }
  }
}

// The state of a kernel whose only attribute is epsilon (MedfmLayerNormGrad, MedfmBatchNormRelu).
struct EpsilonKernel {
  float epsilon;
};

void *CreateEpsilonKernel(TF_OpKernelConstruction *ctx) {
  return new EpsilonKernel{EpsilonAttr(ctx)};
}

void DeleteEpsilonKernel(void *kernel) { delete static_cast<EpsilonKernel *>(kernel); }

// Inputs: dy and x (one shape, rank >= 1, last axis C) and scale (C values), float32; attribute
// epsilon. Output: dx, x's shape.
void ComputeLayerNormGrad(void *kernel, TF_OpKernelContext *ctx) {
  const float epsilon = static_cast<EpsilonKernel *>(kernel)->epsilon;
  TF_Status *status = TF_NewStatus();
  TF_Tensor *inputs[3] = {nullptr, nullptr, nullptr};
  TF_Tensor *out = nullptr;
  for (int i = 0; i < 3 && TF_GetCode(status) == TF_OK; ++i) {
    TF_GetInput(ctx, i, &inputs[i], status);
  }
  TF_Tensor *dy = inputs[0];
  TF_Tensor *x = inputs[1];
  TF_Tensor *scale = inputs[2];
  int64_t channels = 0;
  if (TF_GetCode(status) == TF_OK) {
    const int dims = TF_NumDims(x);
    channels = dims > 0 ? TF_Dim(x, dims - 1) : 0;
    if (dims < 1 || channels < 1 || TF_TensorElementCount(dy) != TF_TensorElementCount(x) ||
        TF_TensorElementCount(scale) != channels) {
      char message[200];
      snprintf(message, sizeof(message),
               "MedfmLayerNormGrad: dy has %lld elements, x %lld with %lld channels, scale %lld",
               static_cast<long long>(TF_TensorElementCount(dy)),
               static_cast<long long>(TF_TensorElementCount(x)),
               static_cast<long long>(channels),
               static_cast<long long>(TF_TensorElementCount(scale)));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      out = OutputLikeInput(ctx, 0, x, status);
    }
  }
  if (TF_GetCode(status) == TF_OK) {
    const int64_t rows = TF_TensorElementCount(x) / channels;
    const float *dy_data = static_cast<const float *>(TF_TensorData(dy));
    const float *x_data = static_cast<const float *>(TF_TensorData(x));
    const float *scale_data = static_cast<const float *>(TF_TensorData(scale));
    float *dx_data = static_cast<float *>(TF_TensorData(out));
    const int threads = ThreadsFor(rows * channels, rows);
    ParallelFor(threads, [&](int t, int count) {
      std::vector<float> work(2 * channels);
      LayerNormGradRows(dy_data, x_data, scale_data, dx_data, channels, epsilon,
                        rows * t / count, rows * (t + 1) / count, work.data());
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : {dy, x, scale, out}) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// relu(batch_norm(x)) with running statistics, rows [begin, end) of `channels` values: with
// a = scale/√(variance + ε) and b = offset − mean·a per channel, y = max(0, x·a + b).
// y[c] = max(0, x[c]·a[c] + b[c]) for c < n; inlined into (and vectorised for) each caller's
// CPU clone.
inline void NormReluSpan(const float *x, const float *a, const float *b, float *y, int64_t n) {
  MEDFM_INDEPENDENT_ITERATIONS
  for (int64_t c = 0; c < n; ++c) {
    const float v = x[c] * a[c] + b[c];
    y[c] = v > 0.f ? v : 0.f;
  }
}

MEDFM_CPU_CLONES
void BatchNormReluRows(const float *x, const float *a, const float *b, float *y, int64_t channels,
                       int64_t begin, int64_t end) {
  for (int64_t row = begin; row < end; ++row) {
    NormReluSpan(x + row * channels, a, b, y + row * channels, channels);
  }
}

// The per-channel a = scale/√(variance + ε) and b = offset − mean·a of a batch norm with running
// statistics: scale, offset, mean and variance are `vectors` (C values each).
void RunningAffine(const float *const vectors[4], float epsilon, int64_t channels,
                   std::vector<float> *a, std::vector<float> *b) {
  a->resize(channels);
  b->resize(channels);
  for (int64_t c = 0; c < channels; ++c) {
    (*a)[c] = vectors[0][c] / std::sqrt(vectors[3][c] + epsilon);
    (*b)[c] = vectors[1][c] - vectors[2][c] * (*a)[c];
  }
}

// The four vectors scale, offset, mean and variance of a batch norm, inputs [first, first + 4).
void RunningVectors(TF_Tensor *const *inputs, const float *vectors[4]) {
  for (int i = 0; i < 4; ++i) vectors[i] = static_cast<const float *>(TF_TensorData(inputs[i]));
}

// Inputs: x (rank >= 1, channels last: NHWC), then scale, offset, mean and variance (C values
// each), float32; attribute epsilon. Output: y, x's shape.
void ComputeBatchNormRelu(void *kernel, TF_OpKernelContext *ctx) {
  const float epsilon = static_cast<EpsilonKernel *>(kernel)->epsilon;
  TF_Status *status = TF_NewStatus();
  TF_Tensor *inputs[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  TF_Tensor *out = nullptr;
  for (int i = 0; i < 5 && TF_GetCode(status) == TF_OK; ++i) {
    TF_GetInput(ctx, i, &inputs[i], status);
  }
  int64_t channels = 0;
  if (TF_GetCode(status) == TF_OK) {
    TF_Tensor *x = inputs[0];
    const int dims = TF_NumDims(x);
    channels = dims > 0 ? TF_Dim(x, dims - 1) : 0;
    bool fits = dims >= 1 && channels >= 1;
    for (int i = 1; i < 5; ++i) fits = fits && TF_TensorElementCount(inputs[i]) == channels;
    if (!fits) {
      char message[200];
      snprintf(message, sizeof(message),
               "MedfmBatchNormRelu: x has %lld channels but scale, offset, mean and variance "
               "have %lld, %lld, %lld and %lld values",
               static_cast<long long>(channels),
               static_cast<long long>(TF_TensorElementCount(inputs[1])),
               static_cast<long long>(TF_TensorElementCount(inputs[2])),
               static_cast<long long>(TF_TensorElementCount(inputs[3])),
               static_cast<long long>(TF_TensorElementCount(inputs[4])));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      out = OutputLikeInput(ctx, 0, x, status);
    }
  }
  if (TF_GetCode(status) == TF_OK) {
    const float *vectors[4];
    RunningVectors(inputs + 1, vectors);
    std::vector<float> a;
    std::vector<float> b;
    RunningAffine(vectors, epsilon, channels, &a, &b);
    const int64_t rows = TF_TensorElementCount(inputs[0]) / channels;
    const float *x = static_cast<const float *>(TF_TensorData(inputs[0]));
    float *y = static_cast<float *>(TF_TensorData(out));
    const int threads = ThreadsFor(rows * channels, rows);
    ParallelFor(threads, [&](int t, int count) {
      BatchNormReluRows(x, a.data(), b.data(), y, channels, rows * t / count,
                        rows * (t + 1) / count);
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : inputs) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  if (out != nullptr) TF_DeleteTensor(out);
  TF_DeleteStatus(status);
}

// relu(batch_norm(concat(pieces, last axis))) with running statistics, for rows [begin, end):
// piece p holds channels [first[p], first[p] + width[p]) of each row of `channels` values. Row by
// row, so the output is written in order: reading each piece in runs of rows instead (writing a
// piece's channels into many rows) took twice as long here.
MEDFM_CPU_CLONES
void ConcatBatchNormReluRows(const std::vector<const float *> &pieces,
                             const std::vector<int64_t> &first, const std::vector<int64_t> &width,
                             const float *a, const float *b, float *y, int64_t channels,
                             int64_t begin, int64_t end) {
  for (int64_t row = begin; row < end; ++row) {
    for (size_t p = 0; p < pieces.size(); ++p) {
      NormReluSpan(pieces[p] + row * width[p], a + first[p], b + first[p],
                   y + row * channels + first[p], width[p]);
    }
  }
}

// Inputs: N pieces (one rank >= 1, all dimensions but the last equal: channels last), then
// scale, offset, mean and variance (as many values as the pieces' channels together), float32;
// attributes N and epsilon. Output: y, the pieces' shape with their channels together, the
// values of MedfmBatchNormRelu on their concatenation, which is never made.
void ComputeConcatBatchNormRelu(void *kernel, TF_OpKernelContext *ctx) {
  const float epsilon = static_cast<EpsilonKernel *>(kernel)->epsilon;
  TF_Status *status = TF_NewStatus();
  const int n = TF_NumInputs(ctx) - 4;
  std::vector<TF_Tensor *> inputs(std::max(n, 0) + 4, nullptr);
  for (size_t i = 0; i < inputs.size() && TF_GetCode(status) == TF_OK; ++i) {
    TF_GetInput(ctx, static_cast<int>(i), &inputs[i], status);
  }
  TF_Tensor *out = nullptr;
  std::vector<int64_t> shape;
  std::vector<int64_t> first;
  std::vector<int64_t> width;
  int64_t channels = 0;
  if (TF_GetCode(status) == TF_OK) {
    char message[240] = "";
    shape = n >= 1 ? ShapeOf(inputs[0]) : std::vector<int64_t>();
    for (int p = 0; p < n && message[0] == '\0'; ++p) {
      const std::vector<int64_t> piece = ShapeOf(inputs[p]);
      const bool same = !piece.empty() && piece.size() == shape.size() &&
                        std::equal(piece.begin(), piece.end() - 1, shape.begin());
      if (!same || piece.back() < 1) {
        snprintf(message, sizeof(message),
                 "MedfmConcatBatchNormRelu: piece %d has rank %d and %lld elements, piece 0 "
                 "rank %d and %lld: the pieces need one shape but for their channels (last axis)",
                 p, static_cast<int>(piece.size()),
                 static_cast<long long>(TF_TensorElementCount(inputs[p])),
                 static_cast<int>(shape.size()),
                 static_cast<long long>(TF_TensorElementCount(inputs[0])));
        break;
      }
      first.push_back(channels);
      width.push_back(piece.back());
      channels += piece.back();
    }
    if (message[0] == '\0' && n < 1) {
      snprintf(message, sizeof(message), "MedfmConcatBatchNormRelu: no pieces");
    }
    for (int i = 0; message[0] == '\0' && i < 4; ++i) {
      if (TF_TensorElementCount(inputs[n + i]) != channels) {
        snprintf(message, sizeof(message),
                 "MedfmConcatBatchNormRelu: the pieces have %lld channels together but scale, "
                 "offset, mean and variance have %lld, %lld, %lld and %lld values",
                 static_cast<long long>(channels),
                 static_cast<long long>(TF_TensorElementCount(inputs[n])),
                 static_cast<long long>(TF_TensorElementCount(inputs[n + 1])),
                 static_cast<long long>(TF_TensorElementCount(inputs[n + 2])),
                 static_cast<long long>(TF_TensorElementCount(inputs[n + 3])));
      }
    }
    if (message[0] != '\0') {
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      shape.back() = channels;
      int64_t elements = 1;
      for (int64_t d : shape) elements *= d;
      out = TF_AllocateOutput(ctx, 0, TF_FLOAT, shape.data(), static_cast<int>(shape.size()),
                              static_cast<size_t>(elements) * sizeof(float), status);
    }
  }
  if (TF_GetCode(status) == TF_OK) {
    const float *vectors[4];
    RunningVectors(inputs.data() + n, vectors);
    std::vector<float> a;
    std::vector<float> b;
    RunningAffine(vectors, epsilon, channels, &a, &b);
    std::vector<const float *> pieces(n);
    for (int p = 0; p < n; ++p) pieces[p] = static_cast<const float *>(TF_TensorData(inputs[p]));
    const int64_t rows = TF_TensorElementCount(out) / channels;
    float *y = static_cast<float *>(TF_TensorData(out));
    const int threads = ThreadsFor(rows * channels, rows);
    ParallelFor(threads, [&](int t, int count) {
      ConcatBatchNormReluRows(pieces, first, width, a.data(), b.data(), y, channels,
                              rows * t / count, rows * (t + 1) / count);
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : inputs) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  if (out != nullptr) TF_DeleteTensor(out);
  TF_DeleteStatus(status);
}

// Per-channel sums of (x − shift) and (x − shift)² over rows [begin, end) of `channels` values,
// added to `sum` and `squares` (doubles): float sums over blocks of 64 rows, in `block` (2·C
// floats), added in double. The shift (the first row) keeps E[x²] − E[x]² from cancelling when
// a channel's mean is large against its spread.
MEDFM_CPU_CLONES
void ShiftedChannelSums(const float *x, const float *shift, int64_t channels, int64_t begin,
                        int64_t end, float *block, double *sum, double *squares) {
  float *block_sum = block;
  float *block_squares = block + channels;
  for (int64_t start = begin; start < end; start += 64) {
    const int64_t stop = std::min<int64_t>(start + 64, end);
    for (int64_t c = 0; c < channels; ++c) block_sum[c] = block_squares[c] = 0.f;
    for (int64_t row = start; row < stop; ++row) {
      const float *xr = x + row * channels;
      MEDFM_INDEPENDENT_ITERATIONS
      for (int64_t c = 0; c < channels; ++c) {
        const float d = xr[c] - shift[c];
        block_sum[c] += d;
        block_squares[c] += d * d;
      }
    }
    for (int64_t c = 0; c < channels; ++c) {
      sum[c] += block_sum[c];
      squares[c] += block_squares[c];
    }
  }
}

struct BatchNormReluTrainingKernel {
  float epsilon;
  float momentum;
};

void *CreateBatchNormReluTraining(TF_OpKernelConstruction *ctx) {
  return new BatchNormReluTrainingKernel{EpsilonAttr(ctx), FloatAttr(ctx, "momentum", 0.1f)};
}

void DeleteBatchNormReluTraining(void *kernel) {
  delete static_cast<BatchNormReluTrainingKernel *>(kernel);
}

// MedfmBatchNormReluTraining: relu(batch_norm(x)) with the batch's statistics (NHWC, any rank
// with channels last), as torch trains a norm followed by a ReLU. Inputs: x, scale, offset,
// running_mean and running_variance (C values each, or both empty), float32; attributes epsilon
// and momentum. Outputs: y; the batch mean and biased variance (as the gradient kernels take
// them); an empty reserve (what FusedBatchNormGradV3 takes on the CPU); the new running mean and
// unbiased variance, (1 − momentum)·old + momentum·batch, empty without running inputs.
void ComputeBatchNormReluTraining(void *kernel, TF_OpKernelContext *ctx) {
  const auto *attrs = static_cast<BatchNormReluTrainingKernel *>(kernel);
  TF_Status *status = TF_NewStatus();
  TF_Tensor *inputs[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  TF_Tensor *outputs[6] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
  for (int i = 0; i < 5 && TF_GetCode(status) == TF_OK; ++i) {
    TF_GetInput(ctx, i, &inputs[i], status);
  }
  int64_t channels = 0;
  int64_t rows = 0;
  bool running = false;
  if (TF_GetCode(status) == TF_OK) {
    TF_Tensor *x = inputs[0];
    const int dims = TF_NumDims(x);
    channels = dims > 0 ? TF_Dim(x, dims - 1) : 0;
    rows = channels > 0 ? TF_TensorElementCount(x) / channels : 0;
    running = TF_TensorElementCount(inputs[3]) > 0 || TF_TensorElementCount(inputs[4]) > 0;
    bool fits = dims >= 1 && channels >= 1 && rows >= 2 &&
                TF_TensorElementCount(inputs[1]) == channels &&
                TF_TensorElementCount(inputs[2]) == channels;
    if (running) {
      fits = fits && TF_TensorElementCount(inputs[3]) == channels &&
             TF_TensorElementCount(inputs[4]) == channels;
    }
    if (!fits) {
      char message[240];
      snprintf(message, sizeof(message),
               "MedfmBatchNormReluTraining: x has %lld channels and %lld values per channel "
               "(at least 2 needed); scale, offset, running mean and variance have %lld, %lld, "
               "%lld and %lld values",
               static_cast<long long>(channels), static_cast<long long>(rows),
               static_cast<long long>(TF_TensorElementCount(inputs[1])),
               static_cast<long long>(TF_TensorElementCount(inputs[2])),
               static_cast<long long>(TF_TensorElementCount(inputs[3])),
               static_cast<long long>(TF_TensorElementCount(inputs[4])));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      const std::vector<int64_t> shape = ShapeOf(x);
      const int64_t vector[1] = {channels};
      const int64_t empty[1] = {0};
      outputs[0] = TF_AllocateOutput(ctx, 0, TF_FLOAT, shape.data(), dims,
                                     TF_TensorElementCount(x) * sizeof(float), status);
      for (int i = 1; i < 6 && TF_GetCode(status) == TF_OK; ++i) {
        const bool sized = i < 3 || (i > 3 && running);
        outputs[i] = TF_AllocateOutput(ctx, i, TF_FLOAT, sized ? vector : empty, 1,
                                       (sized ? channels : 0) * sizeof(float), status);
      }
    }
  }
  if (TF_GetCode(status) == TF_OK) {
    const float *x = static_cast<const float *>(TF_TensorData(inputs[0]));
    const float *scale = static_cast<const float *>(TF_TensorData(inputs[1]));
    const float *offset = static_cast<const float *>(TF_TensorData(inputs[2]));
    const int threads = ThreadsFor(rows * channels, rows);
    std::vector<double> sums(2 * channels * threads, 0.0);
    ParallelFor(threads, [&](int t, int count) {
      std::vector<float> block(2 * channels);
      double *sum = sums.data() + 2 * channels * t;
      ShiftedChannelSums(x, x, channels, rows * t / count, rows * (t + 1) / count, block.data(),
                         sum, sum + channels);
    });
    float *mean = static_cast<float *>(TF_TensorData(outputs[1]));
    float *variance = static_cast<float *>(TF_TensorData(outputs[2]));
    std::vector<float> a(channels);
    std::vector<float> b(channels);
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0;
      double squares = 0;
      for (int t = 0; t < threads; ++t) {
        sum += sums[2 * channels * t + c];
        squares += sums[2 * channels * t + channels + c];
      }
      const double shifted_mean = sum / static_cast<double>(rows);
      const double biased = std::max(0.0, squares / static_cast<double>(rows) -
                                              shifted_mean * shifted_mean);
      mean[c] = static_cast<float>(x[c] + shifted_mean);
      variance[c] = static_cast<float>(biased);
      a[c] = static_cast<float>(scale[c] / std::sqrt(biased + attrs->epsilon));
      b[c] = offset[c] - mean[c] * a[c];
    }
    if (running) {
      const float *old_mean = static_cast<const float *>(TF_TensorData(inputs[3]));
      const float *old_variance = static_cast<const float *>(TF_TensorData(inputs[4]));
      float *new_mean = static_cast<float *>(TF_TensorData(outputs[4]));
      float *new_variance = static_cast<float *>(TF_TensorData(outputs[5]));
      const float m = attrs->momentum;
      const double bessel = static_cast<double>(rows) / static_cast<double>(rows - 1);
      for (int64_t c = 0; c < channels; ++c) {
        new_mean[c] = (1 - m) * old_mean[c] + m * mean[c];
        new_variance[c] =
            (1 - m) * old_variance[c] + m * static_cast<float>(variance[c] * bessel);
      }
    }
    float *y = static_cast<float *>(TF_TensorData(outputs[0]));
    ParallelFor(threads, [&](int t, int count) {
      BatchNormReluRows(x, a.data(), b.data(), y, channels, rows * t / count,
                        rows * (t + 1) / count);
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : inputs) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  for (TF_Tensor *tensor : outputs) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// y has x's shape; the batch mean and variance have scale's; the reserve is empty; the running
// outputs have the running inputs' shapes.
void BatchNormReluTrainingShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *shape = TF_NewShapeHandle();
  const int sources[6] = {0, 1, 1, -1, 3, 4};
  for (int i = 0; i < 6 && TF_GetCode(status) == TF_OK; ++i) {
    if (sources[i] < 0) {
      TF_ShapeHandle *empty = TF_ShapeInferenceContextVectorFromSize(ctx, 0);
      TF_ShapeInferenceContextSetOutput(ctx, i, empty, status);
      TF_DeleteShapeHandle(empty);
      continue;
    }
    TF_ShapeInferenceContextGetInput(ctx, sources[i], shape, status);
    if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, i, shape, status);
  }
  TF_DeleteShapeHandle(shape);
}

// y has the pieces' shape with their channels together. The shape must be known: an op with an
// unknown output shape makes asynchronous eager execution wait for it, which serialises the
// caller with TensorFlow's executor.
void ConcatBatchNormReluShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  const int64_t n = TF_ShapeInferenceContextNumInputs(ctx) - 4;
  TF_ShapeHandle *piece = TF_NewShapeHandle();
  TF_ShapeHandle *leading = TF_NewShapeHandle();
  TF_ShapeHandle *result = TF_NewShapeHandle();
  TF_DimensionHandle *dim = TF_NewDimensionHandle();
  bool known = n >= 1;
  int64_t rank = -1;
  int64_t channels = 0;
  for (int64_t p = 0; known && p < n && TF_GetCode(status) == TF_OK; ++p) {
    TF_ShapeInferenceContextGetInput(ctx, static_cast<int>(p), piece, status);
    if (TF_GetCode(status) != TF_OK || !RankIs(ctx, piece, 1, false)) {
      known = false;
      break;
    }
    const int64_t r = TF_ShapeInferenceContextRank(ctx, piece);
    if (p == 0) {
      rank = r;
      TF_ShapeInferenceContextSubshape(ctx, piece, 0, r - 1, leading, status);
    }
    TF_ShapeInferenceContextDim(ctx, piece, r - 1, dim);
    known = r == rank && TF_DimensionHandleValueKnown(dim);
    if (known) channels += TF_DimensionHandleValue(dim);
  }
  if (TF_GetCode(status) == TF_OK) {
    if (!known) {
      TF_ShapeInferenceContextSetUnknownShape(ctx, status);
    } else {
      TF_ShapeHandle *last = TF_ShapeInferenceContextVectorFromSize(ctx, channels);
      TF_ShapeInferenceContextConcatenateShapes(ctx, leading, last, result, status);
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, result, status);
      TF_DeleteShapeHandle(last);
    }
  }
  TF_DeleteDimensionHandle(dim);
  for (TF_ShapeHandle *handle : {piece, leading, result}) TF_DeleteShapeHandle(handle);
}

// softmax(scale·x) over the last axis, rows [begin, end) of `n` values, and its gradient
// dx = scale·y·(dy − Σ dy·y): attention's scaled softmax (scale = 1/√head_dim), row by row in
// cache, in place of the scale's Mul and the softmax, and of the Mul, Sum, Mul and Sub of tfjs's
// softmax gradient and the scale's Mul. exp is ExpNonPositive (the shifted logits are ≤ 0).
MEDFM_CPU_CLONES
void SoftmaxRows(const float *x, float *y, int64_t n, float scale, int64_t begin, int64_t end) {
  constexpr float kMinus = -std::numeric_limits<float>::infinity();
  const int64_t full = n - n % 16;
  const int64_t rest = n - full;
  // The largest scaled logit is scale times the largest logit, or the smallest for scale < 0.
  const float sign = scale < 0 ? -1.f : 1.f;
  for (int64_t row = begin; row < end; ++row) {
    const float *xr = x + row * n;
    float *yr = y + row * n;
    // The last n % 16 values in a block of 16 padded with −∞ (whose e^ is 0), so that every
    // block is vectorised: a scalar e^ costs about as much as a vector one.
    float tail[16];
    for (int k = 0; k < 16; ++k) tail[k] = k < rest ? sign * xr[full + k] : kMinus;
    float lanes[16];
    for (int k = 0; k < 16; ++k) lanes[k] = tail[k];
    for (int64_t j = 0; j < full; j += 16) {
      for (int k = 0; k < 16; ++k) lanes[k] = std::max(lanes[k], sign * xr[j + k]);
    }
    float top = lanes[0];
    for (int k = 1; k < 16; ++k) top = std::max(top, lanes[k]);
    top *= sign * scale;
    // e^(scale·x − top), summed in 16 lanes as it is written.
    float sums[16] = {0};
    for (int64_t j = 0; j < full; j += 16) {
      for (int k = 0; k < 16; ++k) {
        const float e = ExpNonPositive(scale * xr[j + k] - top);
        yr[j + k] = e;
        sums[k] += e;
      }
    }
    for (int k = 0; k < 16; ++k) {
      tail[k] = ExpNonPositive(k < rest ? scale * xr[full + k] - top : kMinus);
      sums[k] += tail[k];
    }
    for (int64_t k = 0; k < rest; ++k) yr[full + k] = tail[k];
    float total = 0;
    for (int k = 0; k < 16; ++k) total += sums[k];
    const float inverse = 1.f / total;
    MEDFM_INDEPENDENT_ITERATIONS
    for (int64_t c = 0; c < n; ++c) yr[c] *= inverse;
  }
}

MEDFM_CPU_CLONES
void SoftmaxGradRows(const float *dy, const float *y, float *dx, int64_t n, float scale,
                     int64_t begin, int64_t end) {
  for (int64_t row = begin; row < end; ++row) {
    const float *dyr = dy + row * n;
    const float *yr = y + row * n;
    float *dxr = dx + row * n;
    float lanes[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
      for (int k = 0; k < 16; ++k) lanes[k] += dyr[j + k] * yr[j + k];
    }
    for (; j < n; ++j) lanes[j % 16] += dyr[j] * yr[j];
    float dot = 0;
    for (int k = 0; k < 16; ++k) dot += lanes[k];
    MEDFM_INDEPENDENT_ITERATIONS
    for (int64_t c = 0; c < n; ++c) dxr[c] = scale * yr[c] * (dyr[c] - dot);
  }
}

#ifdef MEDFM_AVX2
// SoftmaxRows and SoftmaxGradRows 8 lanes at a time, the last n % 8 values masked. GCC does not
// vectorise the plain loops' 16-lane arrays (3 ymm instructions in their x86-64-v3 clone).
__attribute__((target("avx2,fma"))) void SoftmaxRowsAvx2(const float *x, float *y, int64_t n,
                                                         float scale, int64_t begin,
                                                         int64_t end) {
  const int64_t full = n - n % 8;
  const __m256i mask = TailMaskAvx2(n - full);
  const __m256 lanes = _mm256_castsi256_ps(mask);
  const __m256 minus = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 factor = _mm256_set1_ps(scale);
  for (int64_t row = begin; row < end; ++row) {
    const float *xr = x + row * n;
    float *yr = y + row * n;
    __m256 top = minus;
    for (int64_t j = 0; j < full; j += 8) {
      top = _mm256_max_ps(top, _mm256_mul_ps(_mm256_loadu_ps(xr + j), factor));
    }
    const __m256 last = _mm256_mul_ps(_mm256_maskload_ps(xr + full, mask), factor);
    if (full < n) top = _mm256_max_ps(top, _mm256_blendv_ps(minus, last, lanes));
    top = BroadcastMaxAvx2(top);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t j = 0; j < full; j += 8) {
      const __m256 e = ExpNonPositiveAvx2(_mm256_fmsub_ps(_mm256_loadu_ps(xr + j), factor, top));
      _mm256_storeu_ps(yr + j, e);
      sum = _mm256_add_ps(sum, e);
    }
    if (full < n) {
      const __m256 e = _mm256_and_ps(ExpNonPositiveAvx2(_mm256_sub_ps(last, top)), lanes);
      _mm256_maskstore_ps(yr + full, mask, e);
      sum = _mm256_add_ps(sum, e);
    }
    const __m256 inverse = _mm256_div_ps(_mm256_set1_ps(1.f), BroadcastSumAvx2(sum));
    for (int64_t j = 0; j < full; j += 8) {
      _mm256_storeu_ps(yr + j, _mm256_mul_ps(_mm256_loadu_ps(yr + j), inverse));
    }
    if (full < n) {
      _mm256_maskstore_ps(yr + full, mask,
                          _mm256_mul_ps(_mm256_maskload_ps(yr + full, mask), inverse));
    }
  }
}

__attribute__((target("avx2,fma"))) void SoftmaxGradRowsAvx2(const float *dy, const float *y,
                                                             float *dx, int64_t n, float scale,
                                                             int64_t begin, int64_t end) {
  const int64_t full = n - n % 8;
  const __m256i mask = TailMaskAvx2(n - full);
  const __m256 factor = _mm256_set1_ps(scale);
  for (int64_t row = begin; row < end; ++row) {
    const float *dyr = dy + row * n;
    const float *yr = y + row * n;
    float *dxr = dx + row * n;
    __m256 a = _mm256_setzero_ps(), b = a;
    int64_t j = 0;
    for (; j + 16 <= full; j += 16) {
      a = _mm256_fmadd_ps(_mm256_loadu_ps(dyr + j), _mm256_loadu_ps(yr + j), a);
      b = _mm256_fmadd_ps(_mm256_loadu_ps(dyr + j + 8), _mm256_loadu_ps(yr + j + 8), b);
    }
    if (j < full) a = _mm256_fmadd_ps(_mm256_loadu_ps(dyr + j), _mm256_loadu_ps(yr + j), a);
    const __m256 last_dy = _mm256_maskload_ps(dyr + full, mask);
    const __m256 last_y = _mm256_maskload_ps(yr + full, mask);
    b = _mm256_fmadd_ps(last_dy, last_y, b);
    const __m256 dot = BroadcastSumAvx2(_mm256_add_ps(a, b));
    for (j = 0; j < full; j += 8) {
      const __m256 yv = _mm256_loadu_ps(yr + j);
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(dyr + j), dot);
      _mm256_storeu_ps(dxr + j, _mm256_mul_ps(_mm256_mul_ps(factor, yv), d));
    }
    if (full < n) {
      const __m256 d = _mm256_sub_ps(last_dy, dot);
      _mm256_maskstore_ps(dxr + full, mask, _mm256_mul_ps(_mm256_mul_ps(factor, last_y), d));
    }
  }
}
#endif

// The row functions for this CPU: the AVX2 ones where it has AVX2 and FMA.
void SoftmaxRowsFor(const float *x, float *y, int64_t n, float scale, int64_t begin,
                    int64_t end) {
#ifdef MEDFM_AVX2
  if (HasAvx2Fma()) return SoftmaxRowsAvx2(x, y, n, scale, begin, end);
#endif
  SoftmaxRows(x, y, n, scale, begin, end);
}

void SoftmaxGradRowsFor(const float *dy, const float *y, float *dx, int64_t n, float scale,
                        int64_t begin, int64_t end) {
#ifdef MEDFM_AVX2
  if (HasAvx2Fma()) return SoftmaxGradRowsAvx2(dy, y, dx, n, scale, begin, end);
#endif
  SoftmaxGradRows(dy, y, dx, n, scale, begin, end);
}

struct SoftmaxKernel {
  float scale;
};

void *CreateSoftmax(TF_OpKernelConstruction *ctx) {
  return new SoftmaxKernel{FloatAttr(ctx, "scale", 1.f)};
}

void DeleteSoftmax(void *kernel) { delete static_cast<SoftmaxKernel *>(kernel); }

// Inputs: logits (MedfmSoftmax), or dy and y (MedfmSoftmaxGrad; y the forward's output), float32
// of one shape, rank >= 1; attribute scale. One output of that shape.
template <bool kGradient>
void ComputeSoftmax(void *kernel, TF_OpKernelContext *ctx) {
  const float scale = static_cast<SoftmaxKernel *>(kernel)->scale;
  const char *name = kGradient ? "MedfmSoftmaxGrad" : "MedfmSoftmax";
  TF_Status *status = TF_NewStatus();
  TF_Tensor *first = nullptr;
  TF_Tensor *second = nullptr;
  TF_Tensor *out = nullptr;
  TF_GetInput(ctx, 0, &first, status);
  if (kGradient && TF_GetCode(status) == TF_OK) TF_GetInput(ctx, 1, &second, status);
  int64_t n = 0;
  if (TF_GetCode(status) == TF_OK) {
    const int dims = TF_NumDims(first);
    n = dims > 0 ? TF_Dim(first, dims - 1) : 0;
    if (dims < 1 || (kGradient && TF_TensorElementCount(second) != TF_TensorElementCount(first))) {
      char message[160];
      snprintf(message, sizeof(message), "%s: rank %d, %lld and %lld elements", name, dims,
               static_cast<long long>(TF_TensorElementCount(first)),
               static_cast<long long>(kGradient ? TF_TensorElementCount(second) : 0));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      out = OutputLikeInput(ctx, 0, first, status);
    }
  }
  if (TF_GetCode(status) == TF_OK && n > 0) {
    const int64_t rows = TF_TensorElementCount(first) / n;
    const float *a = static_cast<const float *>(TF_TensorData(first));
    const float *b = kGradient ? static_cast<const float *>(TF_TensorData(second)) : nullptr;
    float *result = static_cast<float *>(TF_TensorData(out));
    const int threads = ThreadsFor(rows * n, rows);
    ParallelFor(threads, [&](int t, int count) {
      const int64_t begin = rows * t / count;
      const int64_t end = rows * (t + 1) / count;
      if (kGradient) {
        SoftmaxGradRowsFor(a, b, result, n, scale, begin, end);
      } else {
        SoftmaxRowsFor(a, result, n, scale, begin, end);
      }
    });
  } else if (TF_GetCode(status) != TF_OK) {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : {first, second, out}) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// The filter gradient of a stride-1, undilated NHWC convolution,
// dW[i][j][c][o] = Σ over n, h, w of x[n, h + i − top, w + j − left, c] · dy[n, h, w, o] (x read as
// zero outside its bounds), in place of TensorFlow's Conv2DBackpropFilter. oneDNN's is slow on
// CPUs without AVX-512 (5× a forward convolution of the same size on an AMD EPYC with AVX2): here
// the image rows (n, h) are split between the threads, each adding into its own filter, summed
// at the end; for each row, tap (i, j), pair of input channels and block of 32 output channels,
// 2 × 4 vectors of 8 sums stay in registers over the row's positions. The vector path needs AVX2
// and FMA (chosen at run time); other CPUs take the plain loops, which give the same sums.
#ifdef MEDFM_AVX2

// Adds the products of kChannels (1 or 2) input channels with kVectors × 8 output channels (of
// which the last vector's first `rest` when kMasked) over `count` positions into dw (rows
// `o_stride` floats apart): xr and d step by x_step and d_step floats per position.
template <int kVectors, int kChannels, bool kMasked>
__attribute__((target("avx2,fma"))) void FilterGradBlock(const float *xr, const float *d,
                                                         int64_t count, int64_t x_step,
                                                         int64_t d_step, float *dw,
                                                         int64_t o_stride, int rest) {
  const __m256i mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  // Named sums, not an array: GCC keeps an array of vectors in memory across the loop.
#define MEDFM_LOAD(p, v)                                                  \
  ((v) >= kVectors ? _mm256_setzero_ps()                                  \
   : kMasked && (v) == kVectors - 1 ? _mm256_maskload_ps((p) + 8 * (v), mask) \
                                    : _mm256_loadu_ps((p) + 8 * (v)))
#define MEDFM_STORE(p, v, value)                                        \
  if ((v) < kVectors) {                                                 \
    if (kMasked && (v) == kVectors - 1) {                               \
      _mm256_maskstore_ps((p) + 8 * (v), mask, value);                  \
    } else {                                                            \
      _mm256_storeu_ps((p) + 8 * (v), value);                           \
    }                                                                   \
  }
  float *const second = dw + (kChannels > 1 ? o_stride : 0);
  __m256 a0 = MEDFM_LOAD(dw, 0), a1 = MEDFM_LOAD(dw, 1), a2 = MEDFM_LOAD(dw, 2),
         a3 = MEDFM_LOAD(dw, 3);
  __m256 b0 = _mm256_setzero_ps(), b1 = b0, b2 = b0, b3 = b0;
  if (kChannels > 1) {
    b0 = MEDFM_LOAD(second, 0), b1 = MEDFM_LOAD(second, 1), b2 = MEDFM_LOAD(second, 2),
    b3 = MEDFM_LOAD(second, 3);
  }
  for (int64_t k = 0; k < count; ++k, xr += x_step, d += d_step) {
    const __m256 d0 = MEDFM_LOAD(d, 0), d1 = MEDFM_LOAD(d, 1), d2 = MEDFM_LOAD(d, 2),
                 d3 = MEDFM_LOAD(d, 3);
    const __m256 x0 = _mm256_broadcast_ss(xr);
    a0 = _mm256_fmadd_ps(x0, d0, a0);
    if (kVectors > 1) a1 = _mm256_fmadd_ps(x0, d1, a1);
    if (kVectors > 2) a2 = _mm256_fmadd_ps(x0, d2, a2);
    if (kVectors > 3) a3 = _mm256_fmadd_ps(x0, d3, a3);
    if (kChannels > 1) {
      const __m256 x1 = _mm256_broadcast_ss(xr + 1);
      b0 = _mm256_fmadd_ps(x1, d0, b0);
      if (kVectors > 1) b1 = _mm256_fmadd_ps(x1, d1, b1);
      if (kVectors > 2) b2 = _mm256_fmadd_ps(x1, d2, b2);
      if (kVectors > 3) b3 = _mm256_fmadd_ps(x1, d3, b3);
    }
  }
  MEDFM_STORE(dw, 0, a0) MEDFM_STORE(dw, 1, a1) MEDFM_STORE(dw, 2, a2) MEDFM_STORE(dw, 3, a3)
  if (kChannels > 1) {
    MEDFM_STORE(second, 0, b0) MEDFM_STORE(second, 1, b1) MEDFM_STORE(second, 2, b2)
    MEDFM_STORE(second, 3, b3)
  }
#undef MEDFM_LOAD
#undef MEDFM_STORE
}

using FilterGradBlockFn = void (*)(const float *, const float *, int64_t, int64_t, int64_t,
                                   float *, int64_t, int);

template <int kChannels, bool kMasked>
FilterGradBlockFn FilterGradBlockFor(int vectors) {
  switch (vectors) {
    case 1: return FilterGradBlock<1, kChannels, kMasked>;
    case 2: return FilterGradBlock<2, kChannels, kMasked>;
    case 3: return FilterGradBlock<3, kChannels, kMasked>;
    default: return FilterGradBlock<4, kChannels, kMasked>;
  }
}

// One tap's sums over `count` positions of a row: tap[c][o] += Σ x[c] · d[o], x and d stepping
// by C and O floats, in blocks of 2 input and up to 32 output channels.
void FilterGradTapAvx2(const float *x, const float *d, int64_t count, int64_t C, int64_t O,
                       float *tap) {
  for (int64_t o0 = 0; o0 < O; o0 += 32) {
    const int64_t width = std::min<int64_t>(32, O - o0);
    const int vectors = static_cast<int>((width + 7) / 8);
    const int rest = static_cast<int>(width % 8);
    const FilterGradBlockFn pair =
        rest == 0 ? FilterGradBlockFor<2, false>(vectors) : FilterGradBlockFor<2, true>(vectors);
    const FilterGradBlockFn single =
        rest == 0 ? FilterGradBlockFor<1, false>(vectors) : FilterGradBlockFor<1, true>(vectors);
    int64_t c = 0;
    for (; c + 2 <= C; c += 2) pair(x + c, d + o0, count, C, O, tap + c * O + o0, O, rest);
    if (c < C) single(x + c, d + o0, count, C, O, tap + c * O + o0, O, rest);
  }
}

#endif

// The sizes of one filter-gradient call (dy's height and width are the output's).
struct FilterGradShape {
  int64_t batch, height, width, channels;
  int64_t out_height, out_width, outputs;
  int64_t filter_height, filter_width, top, left;
};

// Adds the image rows [begin, end) (row = n·out_height + h) into dw, zeroed first.
void FilterGradRows(const FilterGradShape &s, const float *x, const float *dy, float *dw,
                    int64_t begin, int64_t end) {
  const int64_t C = s.channels, O = s.outputs;
  std::fill(dw, dw + s.filter_height * s.filter_width * C * O, 0.f);
#ifdef MEDFM_AVX2
  const bool vector = HasAvx2Fma();
#endif
  for (int64_t row = begin; row < end; ++row) {
    const int64_t n = row / s.out_height;
    const int64_t h = row % s.out_height;
    const float *drow = dy + row * s.out_width * O;
    for (int64_t i = 0; i < s.filter_height; ++i) {
      const int64_t hh = h + i - s.top;
      if (hh < 0 || hh >= s.height) continue;
      const float *xrow = x + (n * s.height + hh) * s.width * C;
      for (int64_t j = 0; j < s.filter_width; ++j) {
        // Positions w whose input column w + j − left lies inside x.
        const int64_t w0 = std::max<int64_t>(0, s.left - j);
        const int64_t w1 = std::min<int64_t>(s.out_width, s.width + s.left - j);
        if (w1 <= w0) continue;
        float *tap = dw + (i * s.filter_width + j) * C * O;
        const float *xstart = xrow + (w0 + j - s.left) * C;
        const float *dstart = drow + w0 * O;
#ifdef MEDFM_AVX2
        if (vector) {
          FilterGradTapAvx2(xstart, dstart, w1 - w0, C, O, tap);
          continue;
        }
#endif
        for (int64_t w = 0; w < w1 - w0; ++w) {
          const float *xv = xstart + w * C;
          const float *dv = dstart + w * O;
          for (int64_t c = 0; c < C; ++c) {
            float *out = tap + c * O;
            const float a = xv[c];
            for (int64_t o = 0; o < O; ++o) out[o] += a * dv[o];
          }
        }
      }
    }
  }
}

struct FilterGradKernel {
  int32_t top;
  int32_t left;
};

// An int attribute of the op, or `fallback` where it cannot be read (every op declares a default).
int32_t IntAttr(TF_OpKernelConstruction *ctx, const char *name, int32_t fallback) {
  TF_Status *status = TF_NewStatus();
  int32_t value = fallback;
  TF_OpKernelConstruction_GetAttrInt32(ctx, name, &value, status);
  TF_DeleteStatus(status);
  return value;
}

void *CreateFilterGrad(TF_OpKernelConstruction *ctx) {
  return new FilterGradKernel{IntAttr(ctx, "pad_top", 0), IntAttr(ctx, "pad_left", 0)};
}

void DeleteFilterGrad(void *kernel) { delete static_cast<FilterGradKernel *>(kernel); }

// Inputs: x [N, H, W, C], dy [N, Ho, Wo, O] and filter_like, whose first two dimensions are the
// filter's height and width (its values are not read; an empty [KH, KW, 0, 0] will do);
// attributes pad_top and pad_left, x's implicit zero rows above and columns left of it. Output:
// dw [KH, KW, C, O].
void ComputeFilterGrad(void *kernel, TF_OpKernelContext *ctx) {
  const FilterGradKernel &attrs = *static_cast<FilterGradKernel *>(kernel);
  TF_Status *status = TF_NewStatus();
  TF_Tensor *x = nullptr;
  TF_Tensor *dy = nullptr;
  TF_Tensor *like = nullptr;
  TF_Tensor *out = nullptr;
  TF_GetInput(ctx, 0, &x, status);
  if (TF_GetCode(status) == TF_OK) TF_GetInput(ctx, 1, &dy, status);
  if (TF_GetCode(status) == TF_OK) TF_GetInput(ctx, 2, &like, status);
  FilterGradShape s{};
  if (TF_GetCode(status) == TF_OK) {
    const bool ranks = TF_NumDims(x) == 4 && TF_NumDims(dy) == 4 && TF_NumDims(like) >= 2;
    if (ranks) {
      s = {TF_Dim(x, 0),  TF_Dim(x, 1),  TF_Dim(x, 2),    TF_Dim(x, 3),
           TF_Dim(dy, 1), TF_Dim(dy, 2), TF_Dim(dy, 3),   TF_Dim(like, 0),
           TF_Dim(like, 1), attrs.top,   attrs.left};
    }
    if (!ranks || TF_Dim(dy, 0) != s.batch || attrs.top < 0 || attrs.left < 0) {
      char message[200];
      snprintf(message, sizeof(message),
               "MedfmConv2DBackpropFilter: x rank %d, dy rank %d (batch %lld vs %lld), "
               "filter_like rank %d, pad_top %d, pad_left %d",
               TF_NumDims(x), TF_NumDims(dy),
               static_cast<long long>(TF_NumDims(x) > 0 ? TF_Dim(x, 0) : -1),
               static_cast<long long>(TF_NumDims(dy) > 0 ? TF_Dim(dy, 0) : -1),
               TF_NumDims(like), attrs.top, attrs.left);
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      const int64_t dims[4] = {s.filter_height, s.filter_width, s.channels, s.outputs};
      out = TF_AllocateOutput(ctx, 0, TF_FLOAT, dims, 4,
                              sizeof(float) * dims[0] * dims[1] * dims[2] * dims[3], status);
    }
  }
  if (TF_GetCode(status) == TF_OK) {
    const float *xd = static_cast<const float *>(TF_TensorData(x));
    const float *dyd = static_cast<const float *>(TF_TensorData(dy));
    float *dw = static_cast<float *>(TF_TensorData(out));
    const int64_t rows = s.batch * s.out_height;
    const int64_t size = s.filter_height * s.filter_width * s.channels * s.outputs;
    const int threads = ThreadsFor(rows * s.out_width * s.outputs * s.channels, rows);
    // Threads after the first add into their own filters, summed into dw once all are done.
    std::vector<float> parts(static_cast<size_t>(std::max(threads - 1, 0)) * size);
    float *partial = parts.data();
    ParallelFor(threads, [&](int t, int count) {
      float *target = t == 0 ? dw : partial + (t - 1) * size;
      FilterGradRows(s, xd, dyd, target, rows * t / count, rows * (t + 1) / count);
    });
    for (int t = 1; t < threads; ++t) {
      const float *part = partial + (t - 1) * size;
      MEDFM_INDEPENDENT_ITERATIONS
      for (int64_t k = 0; k < size; ++k) dw[k] += part[k];
    }
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : {x, dy, like, out}) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// dw's shape: filter_like's first two dimensions, then x's and dy's channels.
void FilterGradShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *x = TF_NewShapeHandle();
  TF_ShapeHandle *dy = TF_NewShapeHandle();
  TF_ShapeHandle *like = TF_NewShapeHandle();
  TF_ShapeHandle *part = TF_NewShapeHandle();
  TF_ShapeHandle *joined = TF_NewShapeHandle();
  TF_ShapeHandle *result = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, x, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 1, dy, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 2, like, status);
  if (TF_GetCode(status) == TF_OK) {
    if (!RankIs(ctx, x, 4) || !RankIs(ctx, dy, 4) || !RankIs(ctx, like, 2, false)) {
      TF_ShapeInferenceContextSetUnknownShape(ctx, status);
    } else {
      TF_ShapeInferenceContextSubshape(ctx, like, 0, 2, result, status);
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSubshape(ctx, x, 3, 4, part, status);
      if (TF_GetCode(status) == TF_OK)
        TF_ShapeInferenceContextConcatenateShapes(ctx, result, part, joined, status);
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSubshape(ctx, dy, 3, 4, part, status);
      if (TF_GetCode(status) == TF_OK)
        TF_ShapeInferenceContextConcatenateShapes(ctx, joined, part, result, status);
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, result, status);
    }
  }
  for (TF_ShapeHandle *handle : {x, dy, like, part, joined, result}) TF_DeleteShapeHandle(handle);
}

// MedfmFlipSwapFilter: a convolution filter [KH, KW, C, O] flipped in both spatial axes and
// with its channel axes swapped, [KH, KW, O, C]: out[i, j, o, c] = in[KH−1−i, KW−1−j, c, o].
// A forward convolution of dy with it is the stride-1 input gradient (one op in place of
// ReverseV2 and Transpose, and the two index tensors they take).
struct FlipSwapKernel {};

void *CreateFlipSwap(TF_OpKernelConstruction *) { return new FlipSwapKernel(); }

void DeleteFlipSwap(void *kernel) { delete static_cast<FlipSwapKernel *>(kernel); }

void ComputeFlipSwap(void *, TF_OpKernelContext *ctx) {
  TF_Status *status = TF_NewStatus();
  TF_Tensor *filter = nullptr;
  TF_Tensor *out = nullptr;
  TF_GetInput(ctx, 0, &filter, status);
  if (TF_GetCode(status) == TF_OK && TF_NumDims(filter) != 4) {
    char message[120];
    snprintf(message, sizeof(message), "MedfmFlipSwapFilter: filter rank %d, expected 4",
             TF_NumDims(filter));
    TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
  }
  int64_t kh = 0, kw = 0, c = 0, o = 0;
  if (TF_GetCode(status) == TF_OK) {
    kh = TF_Dim(filter, 0);
    kw = TF_Dim(filter, 1);
    c = TF_Dim(filter, 2);
    o = TF_Dim(filter, 3);
    const int64_t dims[4] = {kh, kw, o, c};
    out = TF_AllocateOutput(ctx, 0, TF_FLOAT, dims, 4, sizeof(float) * kh * kw * c * o, status);
  }
  if (TF_GetCode(status) == TF_OK) {
    const float *in = static_cast<const float *>(TF_TensorData(filter));
    float *result = static_cast<float *>(TF_TensorData(out));
    // Tiles of 16 output channels × 16 input channels, so both the rows read and the rows
    // written stay in cache; the threads share the (kernel position, output tile) pairs.
    constexpr int64_t kTile = 16;
    const int64_t tiles = (o + kTile - 1) / kTile;
    const int64_t pairs = kh * kw * tiles;
    ParallelFor(ThreadsFor(kh * kw * c * o, pairs), [&](int t, int count) {
      for (int64_t pair = pairs * t / count; pair < pairs * (t + 1) / count; ++pair) {
        const int64_t position = pair / tiles;
        const int64_t i = position / kw;
        const int64_t j = position % kw;
        const float *source = in + ((kh - 1 - i) * kw + (kw - 1 - j)) * c * o;
        float *target = result + position * o * c;
        const int64_t o0 = (pair % tiles) * kTile;
        const int64_t o1 = std::min(o, o0 + kTile);
        for (int64_t c0 = 0; c0 < c; c0 += kTile) {
          const int64_t c1 = std::min(c, c0 + kTile);
          for (int64_t oi = o0; oi < o1; ++oi) {
            for (int64_t ci = c0; ci < c1; ++ci) target[oi * c + ci] = source[ci * o + oi];
          }
        }
      }
    });
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : {filter, out}) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// The flipped filter's shape: the input's with its last two dimensions swapped.
void FlipSwapShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *filter = TF_NewShapeHandle();
  TF_ShapeHandle *part = TF_NewShapeHandle();
  TF_ShapeHandle *joined = TF_NewShapeHandle();
  TF_ShapeHandle *result = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, filter, status);
  if (TF_GetCode(status) == TF_OK) {
    if (!RankIs(ctx, filter, 4)) {
      TF_ShapeInferenceContextSetUnknownShape(ctx, status);
    } else {
      TF_ShapeInferenceContextSubshape(ctx, filter, 0, 2, result, status);
      if (TF_GetCode(status) == TF_OK)
        TF_ShapeInferenceContextSubshape(ctx, filter, 3, 4, part, status);
      if (TF_GetCode(status) == TF_OK)
        TF_ShapeInferenceContextConcatenateShapes(ctx, result, part, joined, status);
      if (TF_GetCode(status) == TF_OK)
        TF_ShapeInferenceContextSubshape(ctx, filter, 2, 3, part, status);
      if (TF_GetCode(status) == TF_OK)
        TF_ShapeInferenceContextConcatenateShapes(ctx, joined, part, result, status);
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, result, status);
    }
  }
  for (TF_ShapeHandle *handle : {filter, part, joined, result}) TF_DeleteShapeHandle(handle);
}

// MedfmAttention: multi-head self-attention from the fused qkv projection, as timm's `Attention`
// computes it, in one op where TensorFlow runs Transpose, SplitV, Mul, two BatchMatMulV2s,
// Softmax and a second Transpose. qkv is [B, T, 3·H·D] (tokens' queries, keys and values, each
// H heads of D channels); for the first Q queries (all T by default) and each head,
// probabilities = softmax(scale · q·kᵀ) over the T keys and context = probabilities · v, written
// straight in the [B, Q, H·D] layout the output projection reads. The probabilities, [B, H, Q, T],
// are the second output (the gradient's input). Each (image, head) pair is one task: its keys
// are packed transposed and its values packed contiguous, and blocks of 4 query rows are scored
// against 16 keys at a time, softmaxed 8 lanes at a time (AttentionSoftmaxAvx2) and multiplied
// with v, 4 rows by 16 channels at a time, in registers.
// The vector path needs AVX2 and FMA and D a multiple of 8; otherwise plain loops give the
// same sums.
struct AttentionShape {
  int64_t batch, tokens, heads, depth, queries, padded;
  float scale;
};

#ifdef MEDFM_AVX2
// s[r][j] = Σ_d q[r][d] · kt[d][j] for kRows query rows (q rows `q_step` floats apart) and the
// padded key count, 16 keys at a time.
template <int kRows>
__attribute__((target("avx2,fma"))) void AttentionScoresAvx2(const float *q, int64_t q_step,
                                                             const float *kt, int64_t depth,
                                                             int64_t padded, float *s) {
  for (int64_t j = 0; j < padded; j += 16) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0,
           e1 = a0;
    const float *column = kt + j;
    for (int64_t d = 0; d < depth; ++d, column += padded) {
      const __m256 k0 = _mm256_loadu_ps(column), k1 = _mm256_loadu_ps(column + 8);
      __m256 x = _mm256_broadcast_ss(q + d);
      a0 = _mm256_fmadd_ps(x, k0, a0), a1 = _mm256_fmadd_ps(x, k1, a1);
      if (kRows > 1) {
        x = _mm256_broadcast_ss(q + q_step + d);
        b0 = _mm256_fmadd_ps(x, k0, b0), b1 = _mm256_fmadd_ps(x, k1, b1);
      }
      if (kRows > 2) {
        x = _mm256_broadcast_ss(q + 2 * q_step + d);
        c0 = _mm256_fmadd_ps(x, k0, c0), c1 = _mm256_fmadd_ps(x, k1, c1);
      }
      if (kRows > 3) {
        x = _mm256_broadcast_ss(q + 3 * q_step + d);
        e0 = _mm256_fmadd_ps(x, k0, e0), e1 = _mm256_fmadd_ps(x, k1, e1);
      }
    }
    _mm256_storeu_ps(s + j, a0), _mm256_storeu_ps(s + j + 8, a1);
    if (kRows > 1) _mm256_storeu_ps(s + padded + j, b0), _mm256_storeu_ps(s + padded + j + 8, b1);
    if (kRows > 2)
      _mm256_storeu_ps(s + 2 * padded + j, c0), _mm256_storeu_ps(s + 2 * padded + j + 8, c1);
    if (kRows > 3)
      _mm256_storeu_ps(s + 3 * padded + j, e0), _mm256_storeu_ps(s + 3 * padded + j + 8, e1);
  }
}

// out[r][c] = Σ_j p[r][j] · v[j][c] for kRows rows (p rows `p_step` floats apart, out rows
// `out_step`) and 8·kVectors channels from v's first, v rows `v_step` floats apart: per key, up
// to 2 loads of v and 4 broadcasts of p for up to 8 FMAs.
template <int kRows, int kVectors>
__attribute__((target("avx2,fma"))) void AttentionContextAvx2(const float *p, int64_t p_step,
                                                              const float *v, int64_t v_step,
                                                              int64_t tokens, float *out,
                                                              int64_t out_step) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, e0 = a0, e1 = a0;
  for (int64_t j = 0; j < tokens; ++j, v += v_step) {
    const __m256 v0 = _mm256_loadu_ps(v);
    const __m256 v1 = kVectors > 1 ? _mm256_loadu_ps(v + 8) : v0;
    __m256 x = _mm256_broadcast_ss(p + j);
    a0 = _mm256_fmadd_ps(x, v0, a0);
    if (kVectors > 1) a1 = _mm256_fmadd_ps(x, v1, a1);
    if (kRows > 1) {
      x = _mm256_broadcast_ss(p + p_step + j);
      b0 = _mm256_fmadd_ps(x, v0, b0);
      if (kVectors > 1) b1 = _mm256_fmadd_ps(x, v1, b1);
    }
    if (kRows > 2) {
      x = _mm256_broadcast_ss(p + 2 * p_step + j);
      c0 = _mm256_fmadd_ps(x, v0, c0);
      if (kVectors > 1) c1 = _mm256_fmadd_ps(x, v1, c1);
    }
    if (kRows > 3) {
      x = _mm256_broadcast_ss(p + 3 * p_step + j);
      e0 = _mm256_fmadd_ps(x, v0, e0);
      if (kVectors > 1) e1 = _mm256_fmadd_ps(x, v1, e1);
    }
  }
  const __m256 sums[4][2] = {{a0, a1}, {b0, b1}, {c0, c1}, {e0, e1}};
  for (int r = 0; r < kRows; ++r) {
    for (int k = 0; k < kVectors; ++k) _mm256_storeu_ps(out + r * out_step + 8 * k, sums[r][k]);
  }
}

// row[0, padded) ← softmax(scale · row[0, tokens)), zero past `tokens`, in place (padded a
// multiple of 8); the first `tokens` values are also written to out.
__attribute__((target("avx2,fma"))) void AttentionSoftmaxAvx2(float *row, int64_t tokens,
                                                              int64_t padded, float scale,
                                                              float *out) {
  constexpr float kMinus = -std::numeric_limits<float>::infinity();
  const __m256 factor = _mm256_set1_ps(scale);
  for (int64_t j = 0; j < padded; j += 8) {
    _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), factor));
  }
  for (int64_t j = tokens; j < padded; ++j) row[j] = kMinus;
  __m256 top = _mm256_set1_ps(kMinus);
  for (int64_t j = 0; j < padded; j += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(row + j));
  top = BroadcastMaxAvx2(top);
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = 0; j < padded; j += 8) {
    const __m256 e = ExpNonPositiveAvx2(_mm256_sub_ps(_mm256_loadu_ps(row + j), top));
    _mm256_storeu_ps(row + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inverse = _mm256_div_ps(_mm256_set1_ps(1.f), BroadcastSumAvx2(sum));
  for (int64_t j = 0; j < padded; j += 8) {
    _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inverse));
  }
  memcpy(out, row, sizeof(float) * tokens);
}

using AttentionContextFn = void (*)(const float *, int64_t, const float *, int64_t, int64_t,
                                    float *, int64_t);

template <int kVectors>
AttentionContextFn AttentionContextFor(int rows) {
  switch (rows) {
    case 1: return AttentionContextAvx2<1, kVectors>;
    case 2: return AttentionContextAvx2<2, kVectors>;
    case 3: return AttentionContextAvx2<3, kVectors>;
    default: return AttentionContextAvx2<4, kVectors>;
  }
}
#endif

// s[r][j] = Σ_d a[r][d] · bt[d][j] for `rows` (1 to 4) rows of a (`a_step` floats apart) and
// j < tokens; bt is [depth][padded], zero past `tokens`. The vector path writes all `padded`.
void ScoresRows(bool vector, int rows, const float *a, int64_t a_step, const float *bt,
                int64_t depth, int64_t tokens, int64_t padded, float *s) {
#ifdef MEDFM_AVX2
  if (vector) {
    switch (rows) {
      case 1: AttentionScoresAvx2<1>(a, a_step, bt, depth, padded, s); break;
      case 2: AttentionScoresAvx2<2>(a, a_step, bt, depth, padded, s); break;
      case 3: AttentionScoresAvx2<3>(a, a_step, bt, depth, padded, s); break;
      default: AttentionScoresAvx2<4>(a, a_step, bt, depth, padded, s); break;
    }
    return;
  }
#endif
  for (int r = 0; r < rows; ++r) {
    float *sr = s + r * padded;
    for (int64_t j = 0; j < tokens; ++j) sr[j] = 0.f;
    for (int64_t d = 0; d < depth; ++d) {
      const float x = a[r * a_step + d];
      const float *bd = bt + d * padded;
      for (int64_t j = 0; j < tokens; ++j) sr[j] += x * bd[j];
    }
  }
}

// out[r][c] = Σ_j p[r][j] · v[j][c] for `rows` (1 to 4) rows of p (`p_step` floats apart), j <
// count and c < depth (v packed, [count][depth]; out rows `out_step` floats apart).
void ContextRows(bool vector, int rows, const float *p, int64_t p_step, const float *v,
                 int64_t depth, int64_t count, float *out, int64_t out_step) {
#ifdef MEDFM_AVX2
  if (vector) {
    // 16 channels at a time, and a last 8 where D is an odd multiple of 8.
    const AttentionContextFn wide = AttentionContextFor<2>(rows);
    for (int64_t c = 0; c < depth; c += 16) {
      const AttentionContextFn fn = c + 16 <= depth ? wide : AttentionContextFor<1>(rows);
      fn(p, p_step, v + c, depth, count, out + c, out_step);
    }
    return;
  }
#endif
  for (int r = 0; r < rows; ++r) {
    float *o = out + r * out_step;
    const float *pr = p + r * p_step;
    for (int64_t c = 0; c < depth; ++c) o[c] = 0.f;
    for (int64_t j = 0; j < count; ++j) {
      const float x = pr[j];
      const float *vj = v + j * depth;
      for (int64_t c = 0; c < depth; ++c) o[c] += x * vj[c];
    }
  }
}

// One (image, head) pair: qkv, probabilities and context point at the image's first token, its
// head's probabilities and its first context row; scratch holds (2·depth + 4)·padded floats.
void AttentionHead(const AttentionShape &s, const float *qkv, int64_t head, float *probabilities,
                   float *context, float *scratch) {
  const int64_t dim = s.heads * s.depth;
  const int64_t step = 3 * dim;  // between tokens in qkv
  const float *q = qkv + head * s.depth;
  const float *k = q + dim;
  const float *v = k + dim;
  // Keys transposed and zero-padded, [depth][padded]; values packed, [tokens][depth] (read in
  // place, their rows 3·H·D floats apart would map to a few cache sets); scores, [4][padded].
  float *kt = scratch;
  float *packed = kt + s.depth * s.padded;
  float *scores = packed + s.depth * s.padded;
  for (int64_t d = 0; d < s.depth; ++d) {
    float *row = kt + d * s.padded;
    for (int64_t j = 0; j < s.tokens; ++j) row[j] = k[j * step + d];
    for (int64_t j = s.tokens; j < s.padded; ++j) row[j] = 0.f;
  }
  for (int64_t j = 0; j < s.tokens; ++j) {
    memcpy(packed + j * s.depth, v + j * step, sizeof(float) * s.depth);
  }
#ifdef MEDFM_AVX2
  const bool vector = HasAvx2Fma() && s.depth % 8 == 0;
#else
  const bool vector = false;
#endif
  for (int64_t i = 0; i < s.queries; i += 4) {
    const int rows = static_cast<int>(std::min<int64_t>(4, s.queries - i));
    ScoresRows(vector, rows, q + i * step, step, kt, s.depth, s.tokens, s.padded, scores);
    float *pi = probabilities + i * s.tokens;
    for (int r = 0; r < rows; ++r) {
#ifdef MEDFM_AVX2
      if (vector) {
        AttentionSoftmaxAvx2(scores + r * s.padded, s.tokens, s.padded, s.scale,
                             pi + r * s.tokens);
        continue;
      }
#endif
      SoftmaxRowsFor(scores + r * s.padded, pi + r * s.tokens, s.tokens, s.scale, 0, 1);
    }
    // The vector softmax leaves the probabilities in the padded scores too.
    ContextRows(vector, rows, vector ? scores : pi, vector ? s.padded : s.tokens, packed, s.depth,
                s.tokens, context + i * dim, dim);
  }
}

// The floats AttentionHeadGrad's scratch holds.
int64_t AttentionGradScratch(const AttentionShape &s) {
  const int64_t query_padded = (s.queries + 15) / 16 * 16;
  return s.depth * s.padded + s.tokens * s.depth + 2 * s.queries * s.depth +
         2 * s.tokens * query_padded + 4 * s.padded;
}

// The gradient of one (image, head) pair of AttentionHead in its q, k and v: with P the
// probabilities and dO the context's gradient (rows `dim` floats apart), dV = Pᵀ·dO,
// dS = scale · P ⊙ (dP − Σ_j P·dP) with dP = dO·Vᵀ + dprobabilities, dQ = dS·K (zero for tokens
// past the queries) and dK = dSᵀ·Q, written into dqkv's q, k and v columns of the head. Each
// product runs on the forward's register blocks (ScoresRows, ContextRows) over packed copies:
// Vᵀ for dP, K for dQ, and Pᵀ, dSᵀ, dO and Q for dV and dK.
void AttentionHeadGrad(const AttentionShape &s, const float *qkv, int64_t head,
                       const float *probabilities, const float *dprobabilities,
                       const float *dcontext, float *dqkv, float *scratch) {
  const int64_t dim = s.heads * s.depth;
  const int64_t step = 3 * dim;
  const int64_t D = s.depth, T = s.tokens, Q = s.queries;
  const int64_t query_padded = (Q + 15) / 16 * 16;
  const float *q = qkv + head * D;
  const float *k = q + dim;
  const float *v = k + dim;
  float *dq = dqkv + head * D;
  float *dk = dq + dim;
  float *dv = dk + dim;
  float *vt = scratch;                   // [D][padded], zero past T
  float *kp = vt + D * s.padded;         // [T][D]
  float *qp = kp + T * D;                // [Q][D]
  float *dop = qp + Q * D;               // [Q][D]
  float *pt = dop + Q * D;               // [T][query_padded]
  float *dst = pt + T * query_padded;    // [T][query_padded]
  float *ds = dst + T * query_padded;    // [4][padded]
  for (int64_t d = 0; d < D; ++d) {
    float *row = vt + d * s.padded;
    for (int64_t j = 0; j < T; ++j) row[j] = v[j * step + d];
    for (int64_t j = T; j < s.padded; ++j) row[j] = 0.f;
  }
  for (int64_t j = 0; j < T; ++j) memcpy(kp + j * D, k + j * step, sizeof(float) * D);
  for (int64_t i = 0; i < Q; ++i) {
    memcpy(qp + i * D, q + i * step, sizeof(float) * D);
    memcpy(dop + i * D, dcontext + i * dim, sizeof(float) * D);
    const float *pr = probabilities + i * T;
    for (int64_t j = 0; j < T; ++j) pt[j * query_padded + i] = pr[j];
  }
#ifdef MEDFM_AVX2
  const bool vector = HasAvx2Fma() && D % 8 == 0;
#else
  const bool vector = false;
#endif
  for (int64_t i = 0; i < Q; i += 4) {
    const int rows = static_cast<int>(std::min<int64_t>(4, Q - i));
    ScoresRows(vector, rows, dop + i * D, D, vt, D, T, s.padded, ds);
    for (int r = 0; r < rows; ++r) {
      const int64_t row = i + r;
      const float *pr = probabilities + row * T;
      const float *gr = dprobabilities + row * T;
      float *dsr = ds + r * s.padded;
      float dot = 0.f;
      for (int64_t j = 0; j < T; ++j) {
        dsr[j] += gr[j];
        dot += dsr[j] * pr[j];
      }
      for (int64_t j = 0; j < T; ++j) {
        const float g = s.scale * pr[j] * (dsr[j] - dot);
        dsr[j] = g;
        dst[j * query_padded + row] = g;
      }
    }
    ContextRows(vector, rows, ds, s.padded, kp, D, T, dq + i * step, step);
  }
  for (int64_t i = Q; i < T; ++i) std::fill(dq + i * step, dq + i * step + D, 0.f);
  for (int64_t j = 0; j < T; j += 4) {
    const int rows = static_cast<int>(std::min<int64_t>(4, T - j));
    ContextRows(vector, rows, pt + j * query_padded, query_padded, dop, D, Q, dv + j * step, step);
    ContextRows(vector, rows, dst + j * query_padded, query_padded, qp, D, Q, dk + j * step, step);
  }
}

struct AttentionKernel {
  int32_t heads, queries;
  float scale;
};

void *CreateAttention(TF_OpKernelConstruction *ctx) {
  return new AttentionKernel{IntAttr(ctx, "heads", 1), IntAttr(ctx, "queries", 0),
                             FloatAttr(ctx, "scale", 1.f)};
}

void DeleteAttention(void *kernel) { delete static_cast<AttentionKernel *>(kernel); }

// The sizes of a MedfmAttention call (and of its gradient) from qkv and the attributes: false,
// leaving s as it was, where qkv is not [B, T, 3·heads·D] with T >= 1 or queries is outside 0..T.
bool AttentionShapeOf(TF_Tensor *qkv, const AttentionKernel &attrs, AttentionShape *s) {
  const int dims = TF_NumDims(qkv);
  const int64_t tokens = dims == 3 ? TF_Dim(qkv, 1) : 0;
  const int64_t width = dims == 3 ? TF_Dim(qkv, 2) : 0;
  if (dims != 3 || attrs.heads < 1 || width % (3 * static_cast<int64_t>(attrs.heads)) != 0 ||
      attrs.queries < 0 || attrs.queries > tokens || tokens < 1) {
    return false;
  }
  s->batch = TF_Dim(qkv, 0);
  s->tokens = tokens;
  s->heads = attrs.heads;
  s->depth = width / (3 * s->heads);
  s->queries = attrs.queries == 0 ? tokens : attrs.queries;
  s->padded = (tokens + 15) / 16 * 16;
  s->scale = attrs.scale;
  return true;
}

// context [B, Q, W / 3] and probabilities [B, H, Q, T] from qkv [B, T, W] and layout [H, Q, 0];
// unknown where a size is (a shape error is the kernel's to report). Known shapes let
// asynchronous eager execution go on without waiting for the op.
void AttentionShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *qkv = TF_NewShapeHandle();
  TF_ShapeHandle *layout = TF_NewShapeHandle();
  TF_DimensionHandle *dim = TF_NewDimensionHandle();
  int64_t sizes[5] = {0, 0, 0, 0, 0};  // B, T, W, H, Q
  bool known = true;
  TF_ShapeInferenceContextGetInput(ctx, 0, qkv, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 1, layout, status);
  if (TF_GetCode(status) == TF_OK) {
    known = RankIs(ctx, qkv, 3) && RankIs(ctx, layout, 3);
    for (int i = 0; known && i < 5; ++i) {
      TF_ShapeInferenceContextDim(ctx, i < 3 ? qkv : layout, i < 3 ? i : i - 3, dim);
      known = TF_DimensionHandleValueKnown(dim);
      if (known) sizes[i] = TF_DimensionHandleValue(dim);
    }
    known = known && sizes[2] % 3 == 0;
  }
  if (TF_GetCode(status) == TF_OK && !known) {
    TF_ShapeInferenceContextSetUnknownShape(ctx, status);
  } else if (TF_GetCode(status) == TF_OK) {
    const std::vector<int64_t> context = {sizes[0], sizes[4], sizes[2] / 3};
    const std::vector<int64_t> probabilities = {sizes[0], sizes[3], sizes[4], sizes[1]};
    int output = 0;
    for (const std::vector<int64_t> &shape : {context, probabilities}) {
      TF_ShapeHandle *joined = TF_ShapeInferenceContextVectorFromSize(ctx, shape[0]);
      for (size_t d = 1; d < shape.size() && TF_GetCode(status) == TF_OK; ++d) {
        TF_ShapeHandle *next = TF_ShapeInferenceContextVectorFromSize(ctx, shape[d]);
        TF_ShapeHandle *result = TF_NewShapeHandle();
        TF_ShapeInferenceContextConcatenateShapes(ctx, joined, next, result, status);
        TF_DeleteShapeHandle(joined);
        TF_DeleteShapeHandle(next);
        joined = result;
      }
      if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, output, joined, status);
      TF_DeleteShapeHandle(joined);
      output += 1;
    }
  }
  TF_DeleteDimensionHandle(dim);
  TF_DeleteShapeHandle(qkv);
  TF_DeleteShapeHandle(layout);
}

// Inputs: qkv [B, T, 3·H·D] and layout, an empty tensor [H, Q, 0] whose shape lets shape
// inference give the outputs' shapes (which it cannot read from the attributes); attributes
// heads (H), queries (Q, 0 for all T) and scale. Outputs: context [B, Q, H·D] and probabilities
// [B, H, Q, T].
void ComputeAttention(void *kernel, TF_OpKernelContext *ctx) {
  const AttentionKernel &attrs = *static_cast<AttentionKernel *>(kernel);
  TF_Status *status = TF_NewStatus();
  TF_Tensor *qkv = nullptr;
  TF_Tensor *layout = nullptr;
  TF_Tensor *context = nullptr;
  TF_Tensor *probabilities = nullptr;
  AttentionShape s{};
  TF_GetInput(ctx, 0, &qkv, status);
  if (TF_GetCode(status) == TF_OK) TF_GetInput(ctx, 1, &layout, status);
  if (TF_GetCode(status) == TF_OK) {
    const bool valid = AttentionShapeOf(qkv, attrs, &s);
    if (valid && (TF_NumDims(layout) != 3 || TF_Dim(layout, 0) != s.heads ||
                  TF_Dim(layout, 1) != s.queries || TF_Dim(layout, 2) != 0)) {
      char message[200];
      snprintf(message, sizeof(message),
               "MedfmAttention: layout rank %d with %lld elements, expected [%d, %lld, 0] "
               "(heads, queries)",
               TF_NumDims(layout), static_cast<long long>(TF_TensorElementCount(layout)),
               attrs.heads, static_cast<long long>(s.queries));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else if (!valid) {
      const int dims = TF_NumDims(qkv);
      const int64_t width = dims == 3 ? TF_Dim(qkv, 2) : 0;
      const int64_t tokens = dims == 3 ? TF_Dim(qkv, 1) : 0;
      char message[200];
      snprintf(message, sizeof(message),
               "MedfmAttention: qkv rank %d, tokens %lld, width %lld with heads %d and queries %d "
               "(expected [B, T, 3·heads·D] and 0 <= queries <= T, T >= 1)",
               dims, static_cast<long long>(tokens), static_cast<long long>(width), attrs.heads,
               attrs.queries);
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      const int64_t context_shape[] = {s.batch, s.queries, s.heads * s.depth};
      const int64_t probability_shape[] = {s.batch, s.heads, s.queries, s.tokens};
      context = TF_AllocateOutput(ctx, 0, TF_FLOAT, context_shape, 3,
                                  sizeof(float) * s.batch * s.queries * s.heads * s.depth, status);
      if (TF_GetCode(status) == TF_OK) {
        probabilities =
            TF_AllocateOutput(ctx, 1, TF_FLOAT, probability_shape, 4,
                              sizeof(float) * s.batch * s.heads * s.queries * s.tokens, status);
      }
    }
  }
  if (TF_GetCode(status) == TF_OK && s.batch * s.depth > 0) {
    const float *input = static_cast<const float *>(TF_TensorData(qkv));
    float *probs = static_cast<float *>(TF_TensorData(probabilities));
    float *out = static_cast<float *>(TF_TensorData(context));
    const int64_t pairs = s.batch * s.heads;
    const int64_t dim = s.heads * s.depth;
    const int threads = ThreadsFor(pairs * s.queries * s.tokens * s.depth, pairs);
    ParallelFor(threads, [&](int t, int count) {
      std::vector<float> scratch((2 * s.depth + 4) * s.padded);
      for (int64_t pair = pairs * t / count; pair < pairs * (t + 1) / count; ++pair) {
        const int64_t b = pair / s.heads;
        const int64_t h = pair % s.heads;
        AttentionHead(s, input + b * s.tokens * 3 * dim, h,
                      probs + pair * s.queries * s.tokens, out + b * s.queries * dim + h * s.depth,
                      scratch.data());
      }
    });
  } else if (TF_GetCode(status) != TF_OK) {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : {qkv, layout, context, probabilities}) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  TF_DeleteStatus(status);
}

// Inputs: qkv [B, T, 3·H·D], probabilities [B, H, Q, T] (MedfmAttention's second output),
// dcontext [B, Q, H·D] and dprobabilities [B, H, Q, T] (its outputs' gradients); attributes as
// MedfmAttention's. Output: dqkv, qkv's shape.
void ComputeAttentionGrad(void *kernel, TF_OpKernelContext *ctx) {
  const AttentionKernel &attrs = *static_cast<AttentionKernel *>(kernel);
  TF_Status *status = TF_NewStatus();
  TF_Tensor *inputs[4] = {nullptr, nullptr, nullptr, nullptr};
  TF_Tensor *dqkv = nullptr;
  for (int i = 0; i < 4 && TF_GetCode(status) == TF_OK; ++i) {
    TF_GetInput(ctx, i, &inputs[i], status);
  }
  AttentionShape s{};
  if (TF_GetCode(status) == TF_OK) {
    TF_Tensor *qkv = inputs[0];
    bool valid = AttentionShapeOf(qkv, attrs, &s);
    const int64_t probability_shape[4] = {s.batch, s.heads, s.queries, s.tokens};
    const int64_t context_shape[3] = {s.batch, s.queries, s.heads * s.depth};
    for (int i : {1, 3}) {
      valid = valid && TF_NumDims(inputs[i]) == 4;
      for (int d = 0; valid && d < 4; ++d) valid = TF_Dim(inputs[i], d) == probability_shape[d];
    }
    valid = valid && TF_NumDims(inputs[2]) == 3;
    for (int d = 0; valid && d < 3; ++d) valid = TF_Dim(inputs[2], d) == context_shape[d];
    if (!valid) {
      const int dims = TF_NumDims(qkv);
      const int64_t batch = dims == 3 ? TF_Dim(qkv, 0) : 0;
      const int64_t tokens = dims == 3 ? TF_Dim(qkv, 1) : 0;
      const int64_t width = dims == 3 ? TF_Dim(qkv, 2) : 0;
      char message[240];
      snprintf(message, sizeof(message),
               "MedfmAttentionGrad: qkv rank %d [%lld, %lld, %lld] with heads %d and queries %d, "
               "probabilities rank %d, dcontext rank %d, dprobabilities rank %d (expected "
               "[B, T, 3·heads·D], [B, heads, Q, T], [B, Q, heads·D] and [B, heads, Q, T])",
               dims, static_cast<long long>(batch), static_cast<long long>(tokens),
               static_cast<long long>(width), attrs.heads, attrs.queries,
               TF_NumDims(inputs[1]), TF_NumDims(inputs[2]), TF_NumDims(inputs[3]));
      TF_SetStatus(status, TF_INVALID_ARGUMENT, message);
    } else {
      const std::vector<int64_t> shape = ShapeOf(qkv);
      dqkv = TF_AllocateOutput(ctx, 0, TF_FLOAT, shape.data(), 3,
                               sizeof(float) * TF_TensorElementCount(qkv), status);
    }
  }
  if (TF_GetCode(status) == TF_OK && s.batch * s.depth > 0) {
    const float *qkv = static_cast<const float *>(TF_TensorData(inputs[0]));
    const float *probs = static_cast<const float *>(TF_TensorData(inputs[1]));
    const float *dcontext = static_cast<const float *>(TF_TensorData(inputs[2]));
    const float *dprobs = static_cast<const float *>(TF_TensorData(inputs[3]));
    float *out = static_cast<float *>(TF_TensorData(dqkv));
    const int64_t pairs = s.batch * s.heads;
    const int64_t dim = s.heads * s.depth;
    const int threads = ThreadsFor(pairs * s.queries * s.tokens * s.depth, pairs);
    ParallelFor(threads, [&](int t, int count) {
      std::vector<float> scratch(AttentionGradScratch(s));
      for (int64_t pair = pairs * t / count; pair < pairs * (t + 1) / count; ++pair) {
        const int64_t b = pair / s.heads;
        const int64_t h = pair % s.heads;
        const int64_t offset = pair * s.queries * s.tokens;
        AttentionHeadGrad(s, qkv + b * s.tokens * 3 * dim, h, probs + offset, dprobs + offset,
                          dcontext + b * s.queries * dim + h * s.depth,
                          out + b * s.tokens * 3 * dim, scratch.data());
      }
    });
  } else if (TF_GetCode(status) != TF_OK) {
    TF_OpKernelContext_Failure(ctx, status);
  }
  for (TF_Tensor *tensor : inputs) {
    if (tensor != nullptr) TF_DeleteTensor(tensor);
  }
  if (dqkv != nullptr) TF_DeleteTensor(dqkv);
  TF_DeleteStatus(status);
}

// The output has input 0's shape.
void SameShapeAsFirst(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *shape = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, shape, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, shape, status);
  TF_DeleteShapeHandle(shape);
}

}  // namespace

namespace {

// One op of ours: its definition (attributes, inputs and outputs in TensorFlow's op-definition
// syntax, and its shape function) and its CPU kernel.
struct OpSpec {
  const char *name;
  std::vector<const char *> attrs;
  std::vector<const char *> inputs;
  std::vector<const char *> outputs;
  void (*shapes)(TF_ShapeInferenceContext *, TF_Status *);
  void *(*create)(TF_OpKernelConstruction *);
  void (*compute)(void *, TF_OpKernelContext *);
  void (*destroy)(void *);
};

// One line per registered op, "Name|attr;attr|input;input|output;output" with the specs as
// registered: what MedfmOpSignatures reports, so that @medfm/models calls only ops whose
// declarations match its own (TensorFlow's eager API crashes when an op is given more inputs
// than it declares, as a binding built from older kernels would be).
std::string &Signatures() {
  static std::string signatures;
  return signatures;
}

void AppendSignature(const OpSpec &spec) {
  std::string &out = Signatures();
  out += spec.name;
  for (const std::vector<const char *> *list : {&spec.attrs, &spec.inputs, &spec.outputs}) {
    out += '|';
    for (size_t i = 0; i < list->size(); ++i) {
      if (i > 0) out += ';';
      out += (*list)[i];
    }
  }
  out += '\n';
}

// No inputs; output: the bytes of Signatures() as int32 values (a string tensor needs
// TensorFlow's string API, which the binding does not otherwise use).
void *CreateSignatures(TF_OpKernelConstruction *) { return nullptr; }

void DeleteSignatures(void *) {}

void ComputeSignatures(void *, TF_OpKernelContext *ctx) {
  TF_Status *status = TF_NewStatus();
  const std::string &text = Signatures();
  const int64_t length = static_cast<int64_t>(text.size());
  TF_Tensor *out =
      TF_AllocateOutput(ctx, 0, TF_INT32, &length, 1, sizeof(int32_t) * text.size(), status);
  if (TF_GetCode(status) == TF_OK) {
    int32_t *bytes = static_cast<int32_t *>(TF_TensorData(out));
    for (size_t i = 0; i < text.size(); ++i) bytes[i] = static_cast<unsigned char>(text[i]);
  } else {
    TF_OpKernelContext_Failure(ctx, status);
  }
  if (out != nullptr) TF_DeleteTensor(out);
  TF_DeleteStatus(status);
}

// A vector as long as Signatures().
void SignaturesShapes(TF_ShapeInferenceContext *ctx, TF_Status *status) {
  TF_ShapeHandle *shape =
      TF_ShapeInferenceContextVectorFromSize(ctx, static_cast<size_t>(Signatures().size()));
  TF_ShapeInferenceContextSetOutput(ctx, 0, shape, status);
  TF_DeleteShapeHandle(shape);
}

bool Register(const OpSpec &spec, TF_Status *status) {
  TF_OpDefinitionBuilder *op = TF_NewOpDefinitionBuilder(spec.name);
  for (const char *attr : spec.attrs) TF_OpDefinitionBuilderAddAttr(op, attr);
  for (const char *input : spec.inputs) TF_OpDefinitionBuilderAddInput(op, input);
  for (const char *output : spec.outputs) TF_OpDefinitionBuilderAddOutput(op, output);
  TF_OpDefinitionBuilderSetShapeInferenceFunction(op, spec.shapes);
  TF_RegisterOpDefinition(op, status);
  if (TF_GetCode(status) != TF_OK) return false;
  TF_RegisterKernelBuilder(
      spec.name, TF_NewKernelBuilder(spec.name, "CPU", spec.create, spec.compute, spec.destroy),
      status);
  return TF_GetCode(status) == TF_OK;
}

}  // namespace

// Registers the ops and their CPU kernels; returns false (with the reason in status) when
// TensorFlow refuses one.
bool RegisterKernels(TF_Status *status) {
  const std::vector<const char *> batch_norm_inputs = {
      "dy: float", "y: float", "x: float", "scale: float", "mean: float", "variance: float"};
  std::vector<const char *> accumulate_inputs = batch_norm_inputs;
  accumulate_inputs.insert(accumulate_inputs.end(), {"residual: float", "split_like: float"});
  const OpSpec specs[] = {
      {"MedfmApplyMomentum",
       {"N: int >= 1", "use_nesterov: bool = false"},
       {"lr: float", "momentum: float", "weight_decay: float", "params: N * float",
        "grads: N * float", "moments: N * float"},
       {"new_params: N * float", "new_moments: N * float"},
       MomentumShapes, CreateMomentum, ComputeMomentum, DeleteMomentum},
      {"MedfmBatchNormReluGrad",
       {"epsilon: float = 0.0001"},
       batch_norm_inputs,
       {"dx: float", "dscale: float", "doffset: float"},
       BatchNormGradShapes, CreateBatchNormGrad, ComputeBatchNormGrad, DeleteBatchNormGrad},
      {"MedfmBatchNormReluGradAdd",
       {"epsilon: float = 0.0001"},
       accumulate_inputs,
       {"dx_head: float", "dx_tail: float", "dscale: float", "doffset: float"},
       BatchNormGradAddShapes, CreateBatchNormGradAdd, ComputeBatchNormGrad, DeleteBatchNormGrad},
      {"MedfmGelu",
       {},
       {"x: float"},
       {"y: float"},
       SameShapeAsFirst, CreateGelu, ComputeGelu<false>, DeleteGelu},
      {"MedfmGeluGrad",
       {},
       {"dy: float", "x: float"},
       {"dx: float"},
       SameShapeAsFirst, CreateGelu, ComputeGelu<true>, DeleteGelu},
      {"MedfmLayerNormGrad",
       {"epsilon: float = 0.00001"},
       {"dy: float", "x: float", "scale: float"},
       {"dx: float"},
       SameShapeAsFirst, CreateEpsilonKernel, ComputeLayerNormGrad, DeleteEpsilonKernel},
      {"MedfmBatchNormRelu",
       {"epsilon: float = 0.00001"},
       {"x: float", "scale: float", "offset: float", "mean: float", "variance: float"},
       {"y: float"},
       SameShapeAsFirst, CreateEpsilonKernel, ComputeBatchNormRelu, DeleteEpsilonKernel},
      {"MedfmConcatBatchNormRelu",
       {"N: int >= 1", "epsilon: float = 0.00001"},
       {"pieces: N * float", "scale: float", "offset: float", "mean: float", "variance: float"},
       {"y: float"},
       ConcatBatchNormReluShapes, CreateEpsilonKernel, ComputeConcatBatchNormRelu,
       DeleteEpsilonKernel},
      {"MedfmBatchNormReluTraining",
       {"epsilon: float = 0.00001", "momentum: float = 0.1"},
       {"x: float", "scale: float", "offset: float", "running_mean: float",
        "running_variance: float"},
       {"y: float", "mean: float", "variance: float", "reserve: float",
        "new_running_mean: float", "new_running_variance: float"},
       BatchNormReluTrainingShapes, CreateBatchNormReluTraining, ComputeBatchNormReluTraining,
       DeleteBatchNormReluTraining},
      {"MedfmSoftmax",
       {"scale: float = 1"},
       {"logits: float"},
       {"y: float"},
       SameShapeAsFirst, CreateSoftmax, ComputeSoftmax<false>, DeleteSoftmax},
      {"MedfmSoftmaxGrad",
       {"scale: float = 1"},
       {"dy: float", "y: float"},
       {"dx: float"},
       SameShapeAsFirst, CreateSoftmax, ComputeSoftmax<true>, DeleteSoftmax},
      {"MedfmConv2DBackpropFilter",
       {"pad_top: int = 0", "pad_left: int = 0"},
       {"x: float", "dy: float", "filter_like: float"},
       {"dw: float"},
       FilterGradShapes, CreateFilterGrad, ComputeFilterGrad, DeleteFilterGrad},
      {"MedfmFlipSwapFilter",
       {},
       {"filter: float"},
       {"flipped: float"},
       FlipSwapShapes, CreateFlipSwap, ComputeFlipSwap, DeleteFlipSwap},
      {"MedfmAttention",
       {"heads: int >= 1", "queries: int = 0", "scale: float = 1"},
       {"qkv: float", "layout: float"},
       {"context: float", "probabilities: float"},
       AttentionShapes, CreateAttention, ComputeAttention, DeleteAttention},
      {"MedfmAttentionGrad",
       {"heads: int >= 1", "queries: int = 0", "scale: float = 1"},
       {"qkv: float", "probabilities: float", "dcontext: float", "dprobabilities: float"},
       {"dqkv: float"},
       SameShapeAsFirst, CreateAttention, ComputeAttentionGrad, DeleteAttention},
      {"MedfmOpSignatures",
       {},
       {},
       {"signatures: int32"},
       SignaturesShapes, CreateSignatures, ComputeSignatures, DeleteSignatures},
  };
  Signatures().clear();
  for (const OpSpec &spec : specs) AppendSignature(spec);
  for (const OpSpec &spec : specs) {
    if (!Register(spec, status)) return false;
  }
  return true;
}

}  // namespace medfm
