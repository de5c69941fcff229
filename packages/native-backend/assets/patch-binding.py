"""Patches tfjs-node's native binding sources for asynchronous eager execution.

Usage: python3 patch-binding.py BINDING_DIR            (the package's binding/ folder)
       python3 patch-binding.py --revert BINDING_DIR   (restores the unpatched sources)

tfjs-node runs every TensorFlow op to completion on the JavaScript thread, so the thread's own
work (tfjs bookkeeping, the binding's N-API calls) and the kernels never overlap. The patch
creates the eager context with TFE_ContextOptionsSetAsync: TFE_Execute queues the kernel on
TensorFlow's executor thread and returns at once. The binding must still hand tfjs each output's
shape right away, and asking TensorFlow for the shape of a pending output waits for it. So the
binding remembers the shape of every tensor it hands out and runs the op's registered shape
function (TFE_InferShapes) before executing it; only outputs whose shape is not fully known
that way (a shape that depends on a computed value) wait. Errors: an op that fails inside the
executor poisons its outputs and the ops queued after it; the next call that executes an op or
reads data throws TensorFlow's message, saying it may come from an earlier op and how to run
synchronously, and the executor is reset so that later ops run again. Data from JavaScript is
copied into TensorFlow-owned memory, because a pending op may release it on the executor
thread, where N-API references cannot be touched.

MEDFM_TF_ASYNC=0 in the environment of the process selects the original synchronous mode.
The patch only adds code; it fails, changing nothing, when the sources differ from tfjs-node
4.22's, and does nothing when they are already patched. It keeps each original beside it
(FILE.medfm-orig), which --revert restores and from which a newer patch starts. Same sources for tfjs-node-gpu. The patched binding imports
these C API functions besides the unpatched one's: TFE_ContextOptionsSetAsync, TFE_InferShapes,
TF_NewShapeAndTypeList, TF_ShapeAndTypeListSetShape, TF_ShapeAndTypeListSetUnknownShape,
TF_DeleteShapeAndTypeList, TFE_OpGetAttrs, TFE_OpAttrsSerialize, TFE_ContextGetExecutorForThread,
TFE_ExecutorClearError and TFE_DeleteExecutor.

It also passes an array of strings as a list-of-string attribute (TFE_OpSetAttrStringList), which
TensorFlow's fused ops take (`fused_ops`); the unpatched binding refuses it ("Argument is not a
string!"), and an array of types as a list-of-type attribute (TFE_OpSetAttrTypeList), as
`TArgs` of the fused convolutions.

The patch also compiles @medfm/models' own CPU kernels into the binding: it copies
medfm_kernels.cc (which sits beside this script) into BINDING_DIR, lists it in ../binding.gyp,
and has tfjs_binding.cc register them once per process and export "medfmKernels" (1 when
TensorFlow took them). They use TensorFlow's C kernel API: TF_NewOpDefinitionBuilder,
TF_OpDefinitionBuilderAddAttr/AddInput/AddOutput/SetShapeInferenceFunction,
TF_RegisterOpDefinition, TF_NewKernelBuilder, TF_RegisterKernelBuilder, TF_NumInputs,
TF_GetInput, TF_AllocateOutput, TF_ForwardInputOrAllocateOutput, TF_OpKernelContext_Failure,
TF_OpKernelConstruction_GetAttrBool/GetAttrFloat, TF_SetStatus, TF_NewShapeHandle,
TF_DeleteShapeHandle, TF_NewDimensionHandle, TF_DeleteDimensionHandle,
TF_DimensionHandleValue/ValueKnown and TF_ShapeInferenceContextNumInputs/GetInput/SetOutput/
Rank/RankKnown/Dim/Subshape/ConcatenateShapes/VectorFromSize/SetUnknownShape.
"""

import os
import sys

MARKER = "medfm: asynchronous eager execution"
KERNELS_MARKER = "medfm: kernels"
KERNELS_SOURCE = "medfm_kernels.cc"

HEADER_EDITS = [
    (
        "#include <unordered_map>\n",
        "#include <unordered_map>\n#include <vector>\n",
    ),
    (
        "  std::string device_name;\n",
        """  std::string device_name;

  // medfm: asynchronous eager execution. Shapes of the tensors handed to
  // JavaScript (so that output shapes can be inferred without waiting), and
  // for small host int tensors made from JavaScript, their value (shape
  // functions read e.g. Reshape's shape input).
  struct KnownTensor {
    std::vector<int64_t> shape;
    bool host_value_ready;
    TF_Tensor *value;
  };
  std::unordered_map<int32_t, KnownTensor> known_tensors_;
  // Output shapes that the shape function leaves open but that follow from
  // the op's attributes and input shapes (the reserve space of
  // FusedBatchNormV3, the workspaces of oneDNN's _MklNativeFusedBatchNormEx
  // and _MklNativeMaxPool),
  // as first observed, by op, attributes, input dtypes and shapes, output.
  std::unordered_map<std::string, std::vector<int64_t>> observed_shapes_;
  std::string ObservedShapeKey(TFE_Op *op, const std::string &op_name,
                               const std::vector<int32_t> &input_ids,
                               const std::vector<TFE_TensorHandle *> &inputs);
  bool async_;
  void ForgetKnownTensor(int32_t tensor_id);
  void InferOutputShapes(TFE_Op *op, const std::vector<int32_t> &input_ids,
                         const std::vector<TFE_TensorHandle *> &inputs,
                         std::vector<TF_Tensor *> *values,
                         void **output_shapes);
  napi_value GenerateAsyncOutputTensorInfo(napi_env env,
                                           TFE_TensorHandle *handle,
                                           const int64_t *dims, int num_dims,
                                           std::vector<int64_t> *observed);
  void ThrowAsyncError(napi_env env, TF_Status *status);
""",
    ),
]

SOURCE_EDITS = [
    (
        '#include "utils.h"\n',
        """#include "utils.h"

#include <cstdlib>

// medfm: asynchronous eager execution. Declarations from TensorFlow's
// tensorflow/c/c_api_experimental.h and tensorflow/c/eager/c_api_experimental.h
// (exported by every TensorFlow 2.x library; stable C ABI).
extern "C" {
typedef struct MedfmShapeAndType {
  int num_dims;
  int64_t *dims;
  TF_DataType dtype;
} MedfmShapeAndType;
typedef struct MedfmShapeAndTypeList {
  int num_items;
  MedfmShapeAndType *items;
} MedfmShapeAndTypeList;
MedfmShapeAndTypeList *TF_NewShapeAndTypeList(int num_shapes);
void TF_ShapeAndTypeListSetShape(MedfmShapeAndTypeList *shape_list, int index,
                                 const int64_t *dims, int num_dims);
void TF_ShapeAndTypeListSetUnknownShape(MedfmShapeAndTypeList *shape_list,
                                        int index);
void TF_DeleteShapeAndTypeList(MedfmShapeAndTypeList *shape_list);
void TFE_InferShapes(TFE_Op *op, MedfmShapeAndTypeList *input_shapes,
                     TF_Tensor **input_tensors,
                     MedfmShapeAndTypeList *input_tensors_as_shapes,
                     MedfmShapeAndTypeList **input_resource_shapes_and_types,
                     MedfmShapeAndTypeList **output_shapes,
                     MedfmShapeAndTypeList ***output_resource_shapes_and_types,
                     TF_Status *status);
typedef struct TFE_OpAttrs TFE_OpAttrs;
const TFE_OpAttrs *TFE_OpGetAttrs(const TFE_Op *op);
void TFE_OpAttrsSerialize(const TFE_OpAttrs *attrs, TF_Buffer *buf,
                          TF_Status *status);
typedef struct TFE_Executor TFE_Executor;
TFE_Executor *TFE_ContextGetExecutorForThread(TFE_Context *ctx);
void TFE_ExecutorClearError(TFE_Executor *executor);
void TFE_DeleteExecutor(TFE_Executor *executor);
}

namespace tfnodejs {
// In asynchronous mode, tensors from JavaScript are copied (see
// CreateTFE_TensorHandleFromTypedArray).
static bool medfm_copy_js_data = false;
}  // namespace tfnodejs
""",
    ),
    (
        """  // Sharing V8 memory with the underlying TensorFlow tensor requires adding an
  // additional refcount.""",
        """  if (medfm_copy_js_data) {
    // medfm: asynchronous eager execution. A queued op may drop the last
    // reference to this memory on TensorFlow's executor thread, where the
    // N-API reference that shared V8 memory needs cannot be released: copy.
    const size_t copy_size =
        dtype == TF_INT64 ? num_elements * width * 2 : num_elements * width;
    TF_AutoTensor copy(
        TF_AllocateTensor(dtype, shape, shape_length, copy_size));
    if (copy_size > 0) {
      memcpy(TF_TensorData(copy.tensor), array_data, copy_size);
    }
    TF_AutoStatus copy_status;
    TFE_TensorHandle *copy_handle =
        TFE_NewTensorHandle(copy.tensor, copy_status.status);
    ENSURE_TF_OK_RETVAL(env, copy_status, nullptr);
    return copy_handle;
  }

  // Sharing V8 memory with the underlying TensorFlow tensor requires adding an
  // additional refcount.""",
    ),
    (
        """  TFE_ContextOptions *tfe_options = TFE_NewContextOptions();
  tfe_context_ = TFE_NewContext(tfe_options, tf_status.status);
""",
        """  TFE_ContextOptions *tfe_options = TFE_NewContextOptions();
  // medfm: asynchronous eager execution unless MEDFM_TF_ASYNC=0 (or false).
  const char *async_setting = getenv("MEDFM_TF_ASYNC");
  async_ = !(async_setting != nullptr && (strcmp(async_setting, "0") == 0 ||
                                          strcmp(async_setting, "false") == 0));
  medfm_copy_js_data = async_;
  TFE_ContextOptionsSetAsync(tfe_options, async_ ? 1 : 0);
  tfe_context_ = TFE_NewContext(tfe_options, tf_status.status);
""",
    ),
    (
        """  if (dtype_int32 != TF_INT32 && dtype_int32 != TF_STRING) {
    // Note that this is a shallow copy""",
        """  if (async_ && dtype_int32 != TF_INT32 && dtype_int32 != TF_STRING) {
    // medfm: the copy is queued like an op; it fails while an earlier op's
    // error is pending.
    TF_AutoStatus copy_status;
    TFE_TensorHandle *device_handle = TFE_TensorHandleCopyToDevice(
        tfe_handle, tfe_context_, device_name.c_str(), copy_status.status);
    TFE_DeleteTensorHandle(tfe_handle);
    if (TF_GetCode(copy_status.status) != TF_OK) {
      ThrowAsyncError(env, copy_status.status);
      return nullptr;
    }
    tfe_handle = device_handle;
  } else if (dtype_int32 != TF_INT32 && dtype_int32 != TF_STRING) {
    // Note that this is a shallow copy""",
    ),
    (
        """  napi_value output_tensor_id;
  nstatus = napi_create_int32(env, InsertHandle(tfe_handle), &output_tensor_id);
""",
        """  const int32_t new_tensor_id = InsertHandle(tfe_handle);
  if (async_) {
    // medfm: int32 tensors stay on the host as created (ready).
    known_tensors_[new_tensor_id] = KnownTensor{
        shape_vector, dtype_int32 == TF_INT32, nullptr};
  }
  napi_value output_tensor_id;
  nstatus = napi_create_int32(env, new_tensor_id, &output_tensor_id);
""",
    ),
    (
        """  TFE_DeleteTensorHandle(tensor_entry->second);
  tfe_handle_map_.erase(tensor_entry);
""",
        """  if (async_) ForgetKnownTensor(tensor_id);
  TFE_DeleteTensorHandle(tensor_entry->second);
  tfe_handle_map_.erase(tensor_entry);
""",
    ),
    (
        """  napi_value js_value;
  CopyTFE_TensorHandleDataToJSData(env, tfe_context_, tensor_entry->second,
                                   &js_value);
  return js_value;
""",
        """  if (async_) {
    // medfm: wait for the tensor; an error of the op (or of one before it)
    // surfaces here.
    TF_AutoStatus ready_status;
    TF_AutoTensor ready(
        TFE_TensorHandleResolve(tensor_entry->second, ready_status.status));
    if (TF_GetCode(ready_status.status) != TF_OK) {
      ThrowAsyncError(env, ready_status.status);
      return nullptr;
    }
  }
  napi_value js_value;
  CopyTFE_TensorHandleDataToJSData(env, tfe_context_, tensor_entry->second,
                                   &js_value);
  return js_value;
""",
    ),
    (
        """  TFE_AutoOp tfe_op(TFE_NewOp(tfe_context_, op_name.c_str(), tf_status.status));
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
""",
        """  TFE_AutoOp tfe_op(TFE_NewOp(tfe_context_, op_name.c_str(), tf_status.status));
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
  // medfm: the inputs, for shape inference in asynchronous mode.
  std::vector<int32_t> medfm_input_ids;
  std::vector<TFE_TensorHandle *> medfm_inputs;
""",
    ),
    (
        """    TFE_OpAddInput(tfe_op.op, input_tensor_entry->second, tf_status.status);
    ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
""",
        """    TFE_OpAddInput(tfe_op.op, input_tensor_entry->second, tf_status.status);
    ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);
    if (async_) {
      medfm_input_ids.push_back(cur_input_tensor_id);
      medfm_inputs.push_back(input_tensor_entry->second);
    }
""",
    ),
    (
        """  int size = result_handles.size();
  TFE_Execute(tfe_op.op, result_handles.data(), &size, tf_status.status);
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);

  napi_value output_tensor_infos;
  nstatus = napi_create_array_with_length(env, size, &output_tensor_infos);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);

  for (int32_t i = 0; i < num_outputs; i++) {
    TFE_TensorHandle *handle = result_handles[i];
    napi_value tensor_info_value = GenerateOutputTensorInfo(env, handle);
""",
        """  int size = result_handles.size();
  if (async_) {
    // medfm: infer the output shapes, then queue the op; fully inferred
    // outputs are handed to JavaScript without waiting for the kernel.
    std::vector<TF_Tensor *> values;
    void *inferred_list = nullptr;
    InferOutputShapes(tfe_op.op, medfm_input_ids, medfm_inputs, &values,
                      &inferred_list);
    MedfmShapeAndTypeList *inferred =
        static_cast<MedfmShapeAndTypeList *>(inferred_list);
    TFE_Execute(tfe_op.op, result_handles.data(), &size, tf_status.status);
    if (TF_GetCode(tf_status.status) != TF_OK) {
      TF_DeleteShapeAndTypeList(inferred);
      ThrowAsyncError(env, tf_status.status);
      return nullptr;
    }
    napi_value async_infos;
    nstatus = napi_create_array_with_length(env, size, &async_infos);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
    std::string observed_key;
    bool observed_key_made = false;
    for (int32_t i = 0; i < num_outputs; i++) {
      const int64_t *dims = nullptr;
      int num_dims = -1;
      std::vector<int64_t> *observed = nullptr;
      if (inferred != nullptr && i < inferred->num_items &&
          inferred->items[i].num_dims >= 0) {
        bool fully_defined = true;
        for (int d = 0; d < inferred->items[i].num_dims; d++) {
          if (inferred->items[i].dims[d] < 0) fully_defined = false;
        }
        if (fully_defined) {
          dims = inferred->items[i].dims;
          num_dims = inferred->items[i].num_dims;
        }
      }
      if (dims == nullptr && (op_name == "FusedBatchNormV3" ||
                              op_name == "_MklNativeFusedBatchNormEx" ||
                              op_name == "_MklNativeMaxPool")) {
        if (!observed_key_made) {
          observed_key = ObservedShapeKey(tfe_op.op, op_name, medfm_input_ids,
                                          medfm_inputs);
          observed_key_made = true;
        }
        if (!observed_key.empty()) {
          std::vector<int64_t> &shape =
              observed_shapes_[observed_key + "#" + std::to_string(i)];
          if (!shape.empty()) {
            // Stored as [rank, dims...]; see GenerateAsyncOutputTensorInfo.
            dims = shape.data() + 1;
            num_dims = static_cast<int>(shape[0]);
          } else {
            observed = &shape;
          }
        }
      }
      napi_value info = GenerateAsyncOutputTensorInfo(env, result_handles[i],
                                                      dims, num_dims, observed);
      if (info == nullptr) {
        for (int32_t j = i + 1; j < num_outputs; j++) {
          TFE_DeleteTensorHandle(result_handles[j]);
        }
        TF_DeleteShapeAndTypeList(inferred);
        return nullptr;
      }
      nstatus = napi_set_element(env, async_infos, i, info);
      ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
    }
    TF_DeleteShapeAndTypeList(inferred);
    return async_infos;
  }
  TFE_Execute(tfe_op.op, result_handles.data(), &size, tf_status.status);
  ENSURE_TF_OK_RETVAL(env, tf_status, nullptr);

  napi_value output_tensor_infos;
  nstatus = napi_create_array_with_length(env, size, &output_tensor_infos);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);

  for (int32_t i = 0; i < num_outputs; i++) {
    TFE_TensorHandle *handle = result_handles[i];
    napi_value tensor_info_value = GenerateOutputTensorInfo(env, handle);
""",
    ),
    (
        """/* Helper function to generate TensorInfo(used for JavaScript) from
 * TFE_TensorHandle.""",
        """// medfm: asynchronous eager execution helpers.
void TFJSBackend::ForgetKnownTensor(int32_t tensor_id) {
  auto known = known_tensors_.find(tensor_id);
  if (known == known_tensors_.end()) return;
  if (known->second.value != nullptr) TF_DeleteTensor(known->second.value);
  known_tensors_.erase(known);
}

// Runs the op's shape function on the known input shapes (and the values of
// small host int inputs); stores the result (or nullptr) in *output_shapes.
void TFJSBackend::InferOutputShapes(
    TFE_Op *op, const std::vector<int32_t> &input_ids,
    const std::vector<TFE_TensorHandle *> &inputs,
    std::vector<TF_Tensor *> *values, void **output_shapes) {
  const int count = static_cast<int>(input_ids.size());
  MedfmShapeAndTypeList *input_shapes = TF_NewShapeAndTypeList(count);
  values->assign(count, nullptr);
  for (int i = 0; i < count; i++) {
    auto known = known_tensors_.find(input_ids[i]);
    if (known == known_tensors_.end()) {
      TF_ShapeAndTypeListSetUnknownShape(input_shapes, i);
      continue;
    }
    KnownTensor &tensor = known->second;
    TF_ShapeAndTypeListSetShape(input_shapes, i, tensor.shape.data(),
                                static_cast<int>(tensor.shape.size()));
    int64_t elements = 1;
    for (int64_t dim : tensor.shape) elements *= dim;
    if (tensor.host_value_ready && tensor.shape.size() <= 2 &&
        elements <= 16) {
      if (tensor.value == nullptr) {
        TF_AutoStatus resolve_status;
        tensor.value = TFE_TensorHandleResolve(inputs[i], resolve_status.status);
        if (TF_GetCode(resolve_status.status) != TF_OK) {
          if (tensor.value != nullptr) TF_DeleteTensor(tensor.value);
          tensor.value = nullptr;
          tensor.host_value_ready = false;
        }
      }
      (*values)[i] = tensor.value;
    }
  }
  MedfmShapeAndTypeList *outputs = nullptr;
  TF_AutoStatus infer_status;
  TFE_InferShapes(op, input_shapes, values->data(), nullptr, nullptr, &outputs,
                  nullptr, infer_status.status);
  TF_DeleteShapeAndTypeList(input_shapes);
  if (TF_GetCode(infer_status.status) != TF_OK) {
    // No shape function, or one that rejects the inputs: the outputs wait for
    // the kernel (whose own error, if any, then surfaces).
    TF_DeleteShapeAndTypeList(outputs);
    outputs = nullptr;
  }
  *output_shapes = outputs;
}

// The op's name, serialized attributes, and input dtypes and shapes.
std::string TFJSBackend::ObservedShapeKey(
    TFE_Op *op, const std::string &op_name,
    const std::vector<int32_t> &input_ids,
    const std::vector<TFE_TensorHandle *> &inputs) {
  std::string key = op_name;
  TF_Buffer *attrs = TF_NewBuffer();
  TF_AutoStatus status;
  TFE_OpAttrsSerialize(TFE_OpGetAttrs(op), attrs, status.status);
  bool serialized = TF_GetCode(status.status) == TF_OK;
  if (serialized) {
    // A NameAttrList: its attribute map entries come in no fixed order, so
    // split the top-level length-delimited fields and sort them.
    const unsigned char *bytes = static_cast<const unsigned char *>(attrs->data);
    const size_t length = attrs->length;
    std::vector<std::string> fields;
    size_t at = 0;
    auto varint = [&](uint64_t *value) {
      *value = 0;
      for (int shift = 0; at < length && shift < 64; shift += 7) {
        const unsigned char byte = bytes[at++];
        *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) return true;
      }
      return false;
    };
    while (serialized && at < length) {
      const size_t start = at;
      uint64_t tag = 0;
      uint64_t size = 0;
      if (!varint(&tag) || (tag & 7) != 2 || !varint(&size) ||
          size > length - at) {
        serialized = false;
        break;
      }
      at += size;
      fields.emplace_back(reinterpret_cast<const char *>(bytes + start),
                          at - start);
    }
    std::sort(fields.begin(), fields.end());
    for (const std::string &field : fields) key += "|" + field;
  }
  TF_DeleteBuffer(attrs);
  if (!serialized) return std::string();
  for (size_t i = 0; i < input_ids.size(); i++) {
    key += "|" + std::to_string(TFE_TensorHandleDataType(inputs[i])) + ":";
    auto known = known_tensors_.find(input_ids[i]);
    if (known == known_tensors_.end()) return std::string();
    for (int64_t dim : known->second.shape) key += std::to_string(dim) + ",";
  }
  return key;
}

// Like GenerateOutputTensorInfo, with the shape given (dims) or, when dims is
// nullptr, read from the handle (which waits for the op), and remembered.
napi_value TFJSBackend::GenerateAsyncOutputTensorInfo(
    napi_env env, TFE_TensorHandle *handle, const int64_t *dims, int num_dims,
    std::vector<int64_t> *observed) {
  napi_status nstatus;
  std::vector<int64_t> shape;
  if (dims != nullptr) {
    shape.assign(dims, dims + num_dims);
  } else {
    TF_AutoStatus shape_status;
    const int rank = TFE_TensorHandleNumDims(handle, shape_status.status);
    for (int i = 0; TF_GetCode(shape_status.status) == TF_OK && i < rank; i++) {
      shape.push_back(TFE_TensorHandleDim(handle, i, shape_status.status));
    }
    if (TF_GetCode(shape_status.status) != TF_OK) {
      TFE_DeleteTensorHandle(handle);
      ThrowAsyncError(env, shape_status.status);
      return nullptr;
    }
  }
  if (observed != nullptr) {
    observed->assign(1, static_cast<int64_t>(shape.size()));
    observed->insert(observed->end(), shape.begin(), shape.end());
  }
  const int32_t id = InsertHandle(handle);
  known_tensors_[id] = KnownTensor{shape, false, nullptr};

  napi_value info;
  nstatus = napi_create_object(env, &info);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  napi_value id_value;
  nstatus = napi_create_int32(env, id, &id_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  nstatus = napi_set_named_property(env, info, "id", id_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  napi_value shape_value;
  nstatus = napi_create_array_with_length(env, shape.size(), &shape_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  for (size_t i = 0; i < shape.size(); i++) {
    napi_value dim;
    nstatus = napi_create_int64(env, shape[i], &dim);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
    nstatus = napi_set_element(env, shape_value, i, dim);
    ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  }
  nstatus = napi_set_named_property(env, info, "shape", shape_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  napi_value type_value;
  nstatus = napi_create_int32(env, TFE_TensorHandleDataType(handle), &type_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  nstatus = napi_set_named_property(env, info, "dtype", type_value);
  ENSURE_NAPI_OK_RETVAL(env, nstatus, nullptr);
  return info;
}

// Throws TensorFlow's error, saying that it may come from an earlier op, and
// resets the executor so that later ops run again.
void TFJSBackend::ThrowAsyncError(napi_env env, TF_Status *status) {
  NAPI_THROW_ERROR(env,
                   "TensorFlow error (code %u): %s\\n(Ops run asynchronously: "
                   "the failing op may be an earlier one than the call that "
                   "reports it. Set MEDFM_TF_ASYNC=0 to run them one by one "
                   "and fail at the op itself.)",
                   TF_GetCode(status), TF_Message(status));
  TFE_Executor *executor = TFE_ContextGetExecutorForThread(tfe_context_);
  TFE_ExecutorClearError(executor);
  TFE_DeleteExecutor(executor);
}

/* Helper function to generate TensorInfo(used for JavaScript) from
 * TFE_TensorHandle.""",
    ),
    (
        """  for (auto &kv : tfe_handle_map_) {
    TFE_DeleteTensorHandle(kv.second);
  }
""",
        """  for (auto &kv : known_tensors_) {
    if (kv.second.value != nullptr) TF_DeleteTensor(kv.second.value);
  }
  for (auto &kv : tfe_handle_map_) {
    TFE_DeleteTensorHandle(kv.second);
  }
""",
    ),
]


# medfm: list-of-string attributes. tfjs-node passes a string attribute's value as one string;
# TensorFlow's fused ops (`_FusedMatMul`, `_MklNativeFusedMatMul`, `_FusedConv2D`) take their
# `fused_ops` as a list. An array value becomes TFE_OpSetAttrStringList; a string stays as it was.
SOURCE_EDITS.append(
    (
        """    case TF_ATTR_STRING: {
      // NOTE: String attribute values do not have to be utf8 encoded strings
      // (could be arbitrary byte sequences).
      std::string str_value;
""",
        """    case TF_ATTR_STRING: {
      // medfm: list-of-string attributes (an array of strings).
      if (IsArray(env, nstatus, &js_value)) {
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<std::string> strings(length);
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
          nstatus = GetStringParam(env, element, strings[i]);
          ENSURE_NAPI_OK(env, nstatus);
        }
        std::vector<const void *> values(length);
        std::vector<size_t> lengths(length);
        for (uint32_t i = 0; i < length; ++i) {
          values[i] = strings[i].data();
          lengths[i] = strings[i].size();
        }
        TFE_OpSetAttrStringList(tfe_op, attr_name, values.data(), lengths.data(),
                                static_cast<int>(length));
        break;
      }
      // NOTE: String attribute values do not have to be utf8 encoded strings
      // (could be arbitrary byte sequences).
      std::string str_value;
""",
    )
)


# medfm: list-of-type attributes. `_FusedConv2D` and `_MklNativeFusedConv2D` take the types of
# their extra arguments as `TArgs: list(type)`, which TFE_OpAddInput does not infer. An array
# value becomes TFE_OpSetAttrTypeList; a number stays as it was.
SOURCE_EDITS.append(
    (
        """    case TF_ATTR_TYPE: {
      TF_DataType tf_data_type;
""",
        """    case TF_ATTR_TYPE: {
      // medfm: list-of-type attributes (an array of TF_DataType numbers).
      if (IsArray(env, nstatus, &js_value)) {
        uint32_t length;
        nstatus = napi_get_array_length(env, js_value, &length);
        ENSURE_NAPI_OK(env, nstatus);
        std::vector<TF_DataType> types(length);
        for (uint32_t i = 0; i < length; ++i) {
          napi_value element;
          nstatus = napi_get_element(env, js_value, i, &element);
          ENSURE_NAPI_OK(env, nstatus);
          nstatus = napi_get_value_int32(env, element,
                                         reinterpret_cast<int32_t *>(&types[i]));
          ENSURE_NAPI_OK(env, nstatus);
        }
        TFE_OpSetAttrTypeList(tfe_op, attr_name, types.data(), static_cast<int>(length));
        break;
      }
      TF_DataType tf_data_type;
""",
    )
)


BINDING_EDITS = [
    (
        "namespace tfnodejs {\n",
        """namespace medfm {
bool RegisterKernels(TF_Status *status);
}

namespace tfnodejs {

// medfm: kernels. @medfm/models' TensorFlow kernels (medfm_kernels.cc), registered once per
// process (the module initialises once per thread that loads it): 1 when TensorFlow took them.
static int RegisterMedfmKernelsOnce() {
  static const int registered = [] {
    TF_Status *status = TF_NewStatus();
    const bool ok = medfm::RegisterKernels(status);
    if (!ok) {
      fprintf(stderr, "medfm: TensorFlow refused the medfm kernels: %s\\n",
              TF_Message(status));
    }
    TF_DeleteStatus(status);
    return ok ? 1 : 0;
  }();
  return registered;
}
""",
    ),
    (
        "#undef EXPORT_INT_PROPERTY\n",
        """#undef EXPORT_INT_PROPERTY
  AssignIntProperty(env, exports, "medfmKernels", RegisterMedfmKernelsOnce());
""",
    ),
]

GYP_EDITS = [
    (
        "      'binding/tfjs_binding.cc'\n    ],\n",
        """      'binding/tfjs_binding.cc',
      # medfm: kernels (assets/medfm_kernels.cc of @medfm/native-backend)
      'binding/medfm_kernels.cc'
    ],
""",
    ),
]


def apply(path, edits, marker=MARKER):
    """(original, patched) texts, or None when the file is patched as this script would."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    original = text
    if marker in text:
        # Patched before, maybe by another version of this script: start from the original.
        if not os.path.isfile(path + ".medfm-orig"):
            sys.exit(f"patch-binding.py: {path} is patched but {path}.medfm-orig is missing")
        with open(path + ".medfm-orig", encoding="utf-8") as handle:
            original = handle.read()
    text = original
    for number, (old, new) in enumerate(edits, start=1):
        count = text.count(old)
        if count != 1:
            sys.exit(
                f"patch-binding.py: {path}: edit {number} expects its anchor once, found it "
                f"{count} times; these are not tfjs-node 4.22's sources. Anchor:\n{old}"
            )
        text = text.replace(old, new)
    with open(path, encoding="utf-8") as handle:
        if handle.read() == text:
            return None
    return original, text


def main():
    arguments = sys.argv[1:]
    revert = arguments[:1] == ["--revert"]
    if revert:
        arguments = arguments[1:]
    if len(arguments) != 1:
        sys.exit("usage: python3 patch-binding.py [--revert] BINDING_DIR")
    binding = arguments[0]
    header = os.path.join(binding, "tfjs_backend.h")
    source = os.path.join(binding, "tfjs_backend.cc")
    module = os.path.join(binding, "tfjs_binding.cc")
    gyp = os.path.join(binding, os.pardir, "binding.gyp")
    kernels = os.path.join(binding, KERNELS_SOURCE)
    for path in (header, source, module, gyp):
        if not os.path.isfile(path):
            sys.exit(f"patch-binding.py: {path} does not exist")
    if revert:
        restored = 0
        for path in (header, source, module, gyp):
            if os.path.isfile(path + ".medfm-orig"):
                os.replace(path + ".medfm-orig", path)
                restored += 1
        if os.path.isfile(kernels):
            os.remove(kernels)
            restored += 1
        print("reverted" if restored else "not patched")
        return
    kernels_source = os.path.join(os.path.dirname(os.path.abspath(__file__)), KERNELS_SOURCE)
    if not os.path.isfile(kernels_source):
        sys.exit(f"patch-binding.py: {kernels_source} (the kernels it adds) does not exist")
    with open(kernels_source, encoding="utf-8") as handle:
        kernels_text = handle.read()
    # Check every file before writing any.
    results = [
        (path, apply(path, edits, marker))
        for path, edits, marker in (
            (header, HEADER_EDITS, MARKER),
            (source, SOURCE_EDITS, MARKER),
            (module, BINDING_EDITS, KERNELS_MARKER),
            (gyp, GYP_EDITS, KERNELS_MARKER),
        )
    ]
    for path, result in results:
        if result is None:
            continue
        original, text = result
        with open(path + ".medfm-orig", "w", encoding="utf-8") as handle:
            handle.write(original)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    copied = False
    if os.path.isfile(kernels):
        with open(kernels, encoding="utf-8") as handle:
            copied = handle.read() != kernels_text
    else:
        copied = True
    if copied:
        with open(kernels, "w", encoding="utf-8") as handle:
            handle.write(kernels_text)
    changed = copied or any(result is not None for _, result in results)
    print("patched" if changed else "already patched")


if __name__ == "__main__":
    main()
