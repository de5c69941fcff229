import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { Command } from "commander";

/** Version of `@tensorflow/tfjs-node` whose native binding is built; matches `@tensorflow/tfjs`. */
export const TFJS_NODE_VERSION = "4.22.0";

/**
 * TensorFlow wheel used by default. 2.12 and later ship `libtensorflow_cc.so.2`, which exports the
 * C API without needing Python; see docs/native-backend.md for the versions that were tried.
 */
export const DEFAULT_TENSORFLOW_VERSION = "2.18.1";

/** Directory, relative to the working directory, that `medfm backend install` fills by default. */
export const DEFAULT_NATIVE_DIRECTORY = ".medfm/native";

/** Name of the JSON manifest written into the provisioning directory. */
export const NATIVE_BACKEND_MANIFEST = "medfm-native-backend.json";

/** Python version tag passed to `pip download`: only the shared objects are used, not Python code. */
export const DEFAULT_WHEEL_PYTHON_VERSION = "3.10";

/** C and eager C API functions that tfjs-node 4.22's `tfjs_binding.node` imports (`nm -u`). */
export const REQUIRED_TENSORFLOW_SYMBOLS: readonly string[] = [
  "TFE_ContextListDevices",
  "TFE_DeleteContext",
  "TFE_DeleteContextOptions",
  "TFE_DeleteOp",
  "TFE_DeleteTensorHandle",
  "TFE_Execute",
  "TFE_NewContext",
  "TFE_NewContextOptions",
  "TFE_NewOp",
  "TFE_NewTensorHandle",
  "TFE_OpAddInput",
  "TFE_OpSetAttrBool",
  "TFE_OpSetAttrBoolList",
  "TFE_OpSetAttrFloat",
  "TFE_OpSetAttrFloatList",
  "TFE_OpSetAttrInt",
  "TFE_OpSetAttrIntList",
  "TFE_OpSetAttrShape",
  "TFE_OpSetAttrString",
  "TFE_OpSetAttrType",
  "TFE_TensorHandleCopyToDevice",
  "TFE_TensorHandleDataType",
  "TFE_TensorHandleDim",
  "TFE_TensorHandleNumDims",
  "TFE_TensorHandleResolve",
  "TF_AllocateTensor",
  "TF_DataTypeSize",
  "TF_DeleteBuffer",
  "TF_DeleteDeviceList",
  "TF_DeleteGraph",
  "TF_DeleteSession",
  "TF_DeleteSessionOptions",
  "TF_DeleteStatus",
  "TF_DeleteTensor",
  "TF_DeviceListCount",
  "TF_DeviceListName",
  "TF_DeviceListType",
  "TF_Dim",
  "TF_GetCode",
  "TF_GraphOperationByName",
  "TF_LoadSessionFromSavedModel",
  "TF_Message",
  "TF_NewBuffer",
  "TF_NewBufferFromString",
  "TF_NewGraph",
  "TF_NewSessionOptions",
  "TF_NewStatus",
  "TF_NewTensor",
  "TF_NumDims",
  "TF_SessionRun",
  "TF_TensorByteSize",
  "TF_TensorData",
  "TF_TensorElementCount",
  "TF_TensorType",
  "TF_Version",
];

/**
 * C API functions that the binding patched by `PATCH_BINDING_SCRIPT` imports besides
 * `REQUIRED_TENSORFLOW_SYMBOLS`: those of asynchronous execution, then TensorFlow's C kernel API
 * that @medfm/models' own kernels (`MEDFM_KERNELS_SOURCE`) use. Without them the binding is built
 * unpatched.
 */
export const ASYNC_BINDING_SYMBOLS: readonly string[] = [
  "TFE_ContextGetExecutorForThread",
  "TFE_ContextOptionsSetAsync",
  "TFE_DeleteExecutor",
  "TFE_ExecutorClearError",
  "TFE_InferShapes",
  "TFE_OpAttrsSerialize",
  "TFE_OpGetAttrs",
  "TF_DeleteShapeAndTypeList",
  "TF_NewShapeAndTypeList",
  "TF_ShapeAndTypeListSetShape",
  "TF_ShapeAndTypeListSetUnknownShape",
  "TF_AllocateOutput",
  "TF_DeleteShapeHandle",
  "TF_ForwardInputOrAllocateOutput",
  "TF_GetInput",
  "TF_NewKernelBuilder",
  "TF_NewOpDefinitionBuilder",
  "TF_NewShapeHandle",
  "TF_NumInputs",
  "TF_OpDefinitionBuilderAddAttr",
  "TF_OpDefinitionBuilderAddInput",
  "TF_OpDefinitionBuilderAddOutput",
  "TF_OpDefinitionBuilderSetShapeInferenceFunction",
  "TF_OpKernelConstruction_GetAttrBool",
  "TF_OpKernelConstruction_GetAttrFloat",
  "TF_OpKernelContext_Failure",
  "TF_RegisterKernelBuilder",
  "TF_RegisterOpDefinition",
  "TF_SetStatus",
  "TF_ShapeInferenceContextGetInput",
  "TF_ShapeInferenceContextNumInputs",
  "TF_ShapeInferenceContextSetOutput",
  "TF_DeleteDimensionHandle",
  "TF_DimensionHandleValue",
  "TF_DimensionHandleValueKnown",
  "TF_NewDimensionHandle",
  "TF_ShapeInferenceContextConcatenateShapes",
  "TF_ShapeInferenceContextDim",
  "TF_ShapeInferenceContextRank",
  "TF_ShapeInferenceContextRankKnown",
  "TF_ShapeInferenceContextSetUnknownShape",
  "TF_ShapeInferenceContextSubshape",
  "TF_ShapeInferenceContextVectorFromSize",
];

/**
 * Copy of scripts/native-backend/patch-binding.py (a test keeps them equal). It patches
 * tfjs-node's binding sources so that TensorFlow runs ops asynchronously on its own executor
 * thread while JavaScript queues the next ones; `MEDFM_TF_ASYNC=0` turns it off at run time.
 */
export const PATCH_BINDING_SCRIPT = String.raw`"""Patches tfjs-node's native binding sources for asynchronous eager execution.

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
      # medfm: kernels (scripts/native-backend/medfm_kernels.cc)
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
`;

/**
 * Copy of scripts/native-backend/medfm_kernels.cc (a test keeps them equal): @medfm/models' own
 * TensorFlow CPU kernels, which `PATCH_BINDING_SCRIPT` compiles into the binding (it reads the
 * file from its own directory).
 */
export const MEDFM_KERNELS_SOURCE = String.raw`// medfm: TensorFlow CPU kernels of @medfm/models, registered when the binding loads
// (scripts/native-backend/patch-binding.py adds this file to tfjs-node's binding).
//
// - MedfmApplyMomentum updates every variable of a model in one op: torch's SGD with momentum,
//   weight decay and no dampening (optionally Nesterov), where TensorFlow's ops take one or two
//   ops per variable and tfjs's take four.
// - MedfmBatchNormReluGrad is the gradient of relu(batch_norm(x)) in training mode, in place of
//   ReluGrad and FusedBatchNormGradV3: two passes over the data instead of five.
//   MedfmBatchNormReluGradAdd also adds the gradient that reaches x by another path and splits
//   the sum by channels, in place of a DenseNet layer's Add and SplitV.
//
// The prototypes come from TensorFlow's C kernel API (tensorflow/c/kernels.h and ops.h), which
// libtensorflow_framework exports; they are declared here so that the binding builds with the
// headers tfjs-node already uses.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
    const int dims = TF_NumDims(param);
    std::vector<int64_t> shape(dims);
    for (int d = 0; d < dims; ++d) shape[d] = TF_Dim(param, d);
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
    const int threads = total >= (1 << 16) ? std::min(AvailableCpus(), 4) : 1;
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

float EpsilonAttr(TF_OpKernelConstruction *ctx) {
  TF_Status *status = TF_NewStatus();
  float epsilon = 1e-5f;
  TF_OpKernelConstruction_GetAttrFloat(ctx, "epsilon", &epsilon, status);
  TF_DeleteStatus(status);
  return epsilon;
}

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
  bool known = TF_GetCode(status) == TF_OK && TF_ShapeInferenceContextRankKnown(ctx, x) &&
               TF_ShapeInferenceContextRank(ctx, x) == 4 &&
               TF_ShapeInferenceContextRankKnown(ctx, split) &&
               TF_ShapeInferenceContextRank(ctx, split) == 1;
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
  };
  for (const OpSpec &spec : specs) {
    if (!Register(spec, status)) return false;
  }
  return true;
}

}  // namespace medfm
`;

/**
 * Copy of scripts/native-backend/extract-wheel.py (a test keeps them equal). It reads the wheel
 * with Python's zipfile, so no unzip tool is needed and nothing is imported from TensorFlow.
 */
export const EXTRACT_WHEEL_SCRIPT = String.raw`"""Extracts what tfjs-node's native build needs from a TensorFlow wheel, without importing it.

Usage: python3 extract-wheel.py WHEEL DEPS_DIR
       python3 extract-wheel.py --nvidia WHEEL DEPS_DIR   (an nvidia-* CUDA wheel: nvidia/*/lib/*)

Writes DEPS_DIR/lib/<shared libraries> and DEPS_DIR/include/<headers reachable from the headers
that tfjs-node's binding includes>, then prints one JSON line:
{"libraries": [...], "headers": N, "missingHeaders": [...], "cudaRequirements": [...]}.
"""

import json
import os
import re
import shutil
import sys
import zipfile

LIBRARY_MEMBERS = [
    "tensorflow/libtensorflow_cc.so.2",
    "tensorflow/libtensorflow_framework.so.2",
]
# Before TensorFlow 2.12 the C API lives in the Python extension module.
LEGACY_LIBRARY_MEMBER = "tensorflow/python/_pywrap_tensorflow_internal.so"
INCLUDE_PREFIX = "tensorflow/include/"
# The headers that tfjs-node 4.22's binding/*.cc include.
ROOT_HEADERS = [
    "tensorflow/c/c_api.h",
    "tensorflow/c/eager/c_api.h",
    "tensorflow/core/platform/ctstring_internal.h",
]
QUOTED_INCLUDE = re.compile(rb'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)
CUDA_REQUIREMENT = re.compile(r"^Requires-Dist: (nvidia-[A-Za-z0-9_.-]+) ?\(?([^;)]*)\)? ?; extra == .and-cuda.")


def copy_member(archive, member, destination):
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    with archive.open(member) as source, open(destination, "wb") as target:
        shutil.copyfileobj(source, target, 16 * 1024 * 1024)


def extract_nvidia(wheel, deps):
    archive = zipfile.ZipFile(wheel)
    libraries = []
    for member in archive.namelist():
        parts = member.split("/")
        # nvidia/<component>/lib/<file>: TensorFlow's RUNPATH looks in $ORIGIN/../nvidia/<component>/lib.
        if len(parts) == 4 and parts[0] == "nvidia" and parts[2] == "lib" and parts[3]:
            destination = os.path.join(deps, member)
            copy_member(archive, member, destination)
            os.chmod(destination, 0o755)
            libraries.append(member)
    print(json.dumps({"libraries": libraries}))


def main():
    if sys.argv[1] == "--nvidia":
        extract_nvidia(sys.argv[2], sys.argv[3])
        return
    wheel, deps = sys.argv[1], sys.argv[2]
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    members = [member for member in LIBRARY_MEMBERS if member in names]
    if "tensorflow/libtensorflow_cc.so.2" not in names:
        if LEGACY_LIBRARY_MEMBER not in names:
            raise SystemExit(f"{wheel}: neither libtensorflow_cc.so.2 nor {LEGACY_LIBRARY_MEMBER} found")
        members.append(LEGACY_LIBRARY_MEMBER)
    libraries = []
    for member in members:
        destination = os.path.join(deps, "lib", os.path.basename(member))
        copy_member(archive, member, destination)
        os.chmod(destination, 0o755)
        libraries.append(os.path.basename(member))

    pending, seen, missing = list(ROOT_HEADERS), set(), []
    while pending:
        header = pending.pop()
        if header in seen:
            continue
        seen.add(header)
        member = INCLUDE_PREFIX + header
        if member not in names:
            missing.append(header)
            continue
        data = archive.read(member)
        destination = os.path.join(deps, "include", header)
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with open(destination, "wb") as target:
            target.write(data)
        pending.extend(match.decode() for match in QUOTED_INCLUDE.findall(data))

    cuda = []
    metadata = [name for name in names if name.endswith(".dist-info/METADATA")]
    if metadata:
        for line in archive.read(metadata[0]).decode("utf-8", "replace").splitlines():
            match = CUDA_REQUIREMENT.match(line.strip())
            if match:
                cuda.append(match.group(1) + match.group(2).replace(" ", ""))
    print(json.dumps({
        "libraries": libraries,
        "headers": len(seen) - len(missing),
        "missingHeaders": sorted(missing),
        "cudaRequirements": cuda,
    }))


if __name__ == "__main__":
    main()
`;

/** Runs a program and resolves with its standard output; rejects with a `NativeBackendError`. */
export type RunCommand = (
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
) => Promise<string>;

/** Options of `installNativeBackend`. */
export interface InstallNativeBackendOptions {
  /** Provisioning directory; created when missing. Default `.medfm/native`. */
  directory?: string;
  /** Build `@tensorflow/tfjs-node-gpu` against the `tensorflow` wheel and its CUDA wheels. */
  gpu?: boolean;
  /** TensorFlow wheel version. Default `DEFAULT_TENSORFLOW_VERSION`. */
  tensorflowVersion?: string;
  /** Python version tag of the wheel to download. Default `DEFAULT_WHEEL_PYTHON_VERSION`. */
  wheelPythonVersion?: string;
  /** Python interpreter that runs pip and the wheel extractor. Default `python3`. */
  python?: string;
  /** Directory holding `include/node/node_api.h`; default: next to the running Node.js. */
  nodeHeadersDirectory?: string;
  /** `@tensorflow/tfjs` package directory that the built backend must register into. */
  tfjsPackageDirectory?: string;
  /** Receives one progress line at a time. Default: standard error. */
  log?: (line: string) => void;
  /** Runs external programs; tests inject a fake. */
  runCommand?: RunCommand;
}

/** What `installNativeBackend` built, also written to `medfm-native-backend.json`. */
export interface NativeBackendManifest {
  /** Directory of the built tfjs-node package: the value for `MEDFM_TFJS_NODE_PATH`. */
  packagePath: string;
  /** `@tensorflow/tfjs-node` or `@tensorflow/tfjs-node-gpu`. */
  packageName: string;
  /** TensorFlow version that the binding reported after loading (`TF_Version()`). */
  tensorflowVersion: string;
  /** File name of the wheel the libraries came from. */
  wheel: string;
  /** Whether the GPU wheel and CUDA libraries were used. */
  gpu: boolean;
  /** Shared libraries placed in `deps/lib`. */
  libraries: string[];
  /** `@tensorflow/tfjs` package directory that the binding was checked against. */
  tfjsPackageDirectory: string;
  /**
   * Whether the binding was built with asynchronous op execution (`PATCH_BINDING_SCRIPT`; off at
   * run time with `MEDFM_TF_ASYNC=0`). False for `--gpu` builds (it passed on a GPU but gave no
   * speed there) and when the libraries lack `ASYNC_BINDING_SYMBOLS`.
   */
  asyncExecution: boolean;
  /**
   * Whether the binding carries @medfm/models' own TensorFlow kernels (`MEDFM_KERNELS_SOURCE`:
   * the whole model's SGD update in one op, the batch-norm and ReLU gradient in one op). Built
   * with the asynchronous binding, so false where `asyncExecution` is.
   */
  medfmKernels: boolean;
  /** ISO time of the provisioning. */
  provisionedAt: string;
}

/** A provisioning step failed; the message names the step, the program and its output. */
export class NativeBackendError extends Error {
  private readonly marker = Symbol.for("medfm.cli.NativeBackendError");

  constructor(message: string) {
    super(message);
    this.name = "NativeBackendError";
  }

  /** True for any `NativeBackendError`, also one made by another copy of this package. */
  static isInstance(error: unknown): error is NativeBackendError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as { marker?: unknown }).marker === Symbol.for("medfm.cli.NativeBackendError")
    );
  }
}

/** Runs a program, collecting both streams; its output is shown only in the error when it fails. */
export const spawnCommand: RunCommand = (command, args, options) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: Buffer[] = [];
    const errors: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => errors.push(chunk));
    child.on("error", (error) =>
      reject(new NativeBackendError(`could not start ${command}: ${error.message}`)),
    );
    child.on("close", (code) => {
      const stdout = Buffer.concat(output).toString("utf8");
      if (code === 0) {
        resolve(stdout);
        return;
      }
      const tail = `${stdout}\n${Buffer.concat(errors).toString("utf8")}`.trim().split("\n");
      reject(
        new NativeBackendError(
          `${command} ${args.join(" ")} exited with code ${code} in ${options.cwd}:\n` +
            tail.slice(-25).join("\n"),
        ),
      );
    });
  });

/** Highest N-API version in tfjs-node's `binary.napi_versions` that this Node.js supports. */
export function napiBuildVersion(napiVersions: readonly number[], nodeNapiVersion: number): number {
  const usable = napiVersions.filter((version) => version <= nodeNapiVersion);
  if (usable.length === 0) {
    throw new NativeBackendError(
      `Node.js N-API version ${nodeNapiVersion} is below every version tfjs-node supports (${napiVersions.join(", ")})`,
    );
  }
  return Math.max(...usable);
}

/**
 * C source of a library defining every given Python C API symbol as a function that aborts.
 * TensorFlow before 2.12 exports its C API only from `_pywrap_tensorflow_internal.so`, which
 * references Python symbols (e.g. `PyTuple_Type`) that a Node.js process lacks; the C API itself
 * never calls them.
 */
export function pythonStubSource(symbols: readonly string[]): string {
  const lines = [
    "#include <stdio.h>",
    "#include <stdlib.h>",
    "static void medfm_python_stub_called(const char* name) {",
    '  fprintf(stderr, "medfm: TensorFlow called the Python C API (%s), which Node.js lacks\\n", name);',
    "  abort();",
    "}",
  ];
  for (const symbol of symbols) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(symbol)) {
      throw new NativeBackendError(`not a C identifier in the Python symbol list: "${symbol}"`);
    }
    lines.push(`void ${symbol}(void) { medfm_python_stub_called("${symbol}"); }`);
  }
  return `${lines.join("\n")}\n`;
}

/** Names of undefined Python C API symbols in `nm -D -u` output. */
export function undefinedPythonSymbols(nmOutput: string): string[] {
  const symbols = new Set<string>();
  for (const line of nmOutput.split("\n")) {
    const match = /^\s*[Uw]\s+(_?Py[A-Za-z0-9_]*)/.exec(line);
    if (match) symbols.add(match[1]);
  }
  return [...symbols].sort();
}

/**
 * Symbols of `required` (default `REQUIRED_TENSORFLOW_SYMBOLS`) that no `nm -D --defined-only`
 * output defines.
 */
export function missingTensorflowSymbols(
  nmOutputs: readonly string[],
  required: readonly string[] = REQUIRED_TENSORFLOW_SYMBOLS,
): string[] {
  const defined = new Set<string>();
  for (const output of nmOutputs) {
    for (const line of output.split("\n")) {
      const name = line.trim().split(/\s+/)[2];
      if (name) defined.add(name.replace(/@.*$/, ""));
    }
  }
  return required.filter((symbol) => !defined.has(symbol));
}

/** Reads the manifest of a provisioning directory, or `undefined` when none was written. */
export function readNativeBackendManifest(directory: string): NativeBackendManifest | undefined {
  const file = path.join(directory, NATIVE_BACKEND_MANIFEST);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, "utf8")) as NativeBackendManifest;
}

/** Directory of the `@tensorflow/tfjs` package that the working directory (or this CLI) loads. */
export function resolveTfjsPackageDirectory(workingDirectory: string): string {
  const candidates = [path.join(workingDirectory, "package.json"), __cliFile()];
  for (const from of candidates) {
    try {
      const packageJson = createRequire(from).resolve("@tensorflow/tfjs/package.json");
      return realpathSync(path.dirname(packageJson));
    } catch {
      // Try the next place; the error below lists both.
    }
  }
  throw new NativeBackendError(
    `@tensorflow/tfjs resolves neither from ${workingDirectory} nor from the medfm CLI; pass --tfjs DIR`,
  );
}

function __cliFile(): string {
  // tsup builds both ESM and CommonJS; each has exactly one of these.
  if (typeof __filename === "string") return __filename;
  return new URL(import.meta.url).pathname;
}

function replaceWithSymlink(link: string, target: string): void {
  rmSync(link, { recursive: true, force: true });
  mkdirSync(path.dirname(link), { recursive: true });
  symlinkSync(target, link, "dir");
}

const VERIFY_SCRIPT = `
const [tfjsDirectory, packagePath] = process.argv.slice(1);
const tf = require(tfjsDirectory);
const node = require(packagePath);
(async () => {
  if (!(await tf.setBackend("tensorflow"))) throw new Error("tensorflow backend did not initialize");
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  const product = Array.from(await tf.matMul(a, a).data());
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
  const w = tf.ones([2, 2, 1, 1]);
  const gradient = Array.from(await tf.grad((w) => tf.conv2d(x, w, 1, "valid").sum())(w).data());
  console.log(JSON.stringify({
    backend: tf.getBackend(),
    tensorflowVersion: tf.backend().binding.TF_Version,
    sameEngine: node.engine() === tf.engine(),
    medfmKernels: tf.backend().binding.medfmKernels === 1,
    product,
    gradient,
  }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

/**
 * Provisions a native TensorFlow backend without Google's storage: downloads a TensorFlow wheel
 * with pip (honouring `PIP_INDEX_URL`), installs `@tensorflow/tfjs-node` without its install
 * script, lays out `deps/lib` and `deps/include` from the wheel, builds the binding with
 * node-gyp and checks a matrix product and a convolution gradient on the `tensorflow` backend.
 */
export async function installNativeBackend(
  options: InstallNativeBackendOptions = {},
): Promise<NativeBackendManifest> {
  const directory = path.resolve(options.directory ?? DEFAULT_NATIVE_DIRECTORY);
  const gpu = options.gpu ?? false;
  const tensorflowVersion = options.tensorflowVersion ?? DEFAULT_TENSORFLOW_VERSION;
  const python = options.python ?? "python3";
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const run = options.runCommand ?? spawnCommand;
  const packageName = gpu ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
  const wheelName = gpu ? "tensorflow" : "tensorflow-cpu";
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new NativeBackendError(
      `backend install supports Linux x86_64 only (this is ${process.platform} ${process.arch}): the PyPI wheels for other systems are not laid out the same way`,
    );
  }
  const tfjsPackageDirectory =
    options.tfjsPackageDirectory ?? resolveTfjsPackageDirectory(process.cwd());
  const wheelDirectory = path.join(directory, "wheels");
  mkdirSync(wheelDirectory, { recursive: true });
  const pipDownload = (requirements: readonly string[]) =>
    run(
      python,
      [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        options.wheelPythonVersion ?? DEFAULT_WHEEL_PYTHON_VERSION,
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_17_x86_64",
        "--platform",
        "manylinux_2_27_x86_64",
        "--dest",
        wheelDirectory,
        ...requirements,
      ],
      { cwd: directory },
    );

  log(`[1/6] pip download ${wheelName}==${tensorflowVersion} (PyPI or PIP_INDEX_URL)`);
  await pipDownload([`${wheelName}==${tensorflowVersion}`]);
  const wheelPrefix = `${wheelName.replace("-", "_")}-${tensorflowVersion}-`;
  const wheel = readdirSync(wheelDirectory).find(
    (name) => name.startsWith(wheelPrefix) && name.endsWith(".whl"),
  );
  if (!wheel) {
    throw new NativeBackendError(
      `pip reported success but no ${wheelPrefix}*.whl is in ${wheelDirectory}`,
    );
  }

  log(`[2/6] npm install ${packageName}@${TFJS_NODE_VERSION} node-gyp --ignore-scripts`);
  const manifestPackage = path.join(directory, "package.json");
  if (!existsSync(manifestPackage)) {
    writeFileSync(
      manifestPackage,
      `${JSON.stringify({ name: "medfm-native-backend", private: true }, null, 2)}\n`,
    );
  }
  await run(
    "npm",
    [
      "install",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      `${packageName}@${TFJS_NODE_VERSION}`,
      "node-gyp@11",
    ],
    { cwd: directory },
  );
  const packagePath = path.join(directory, "node_modules", ...packageName.split("/"));

  log(`[3/6] extracting libraries and C API headers from ${wheel}`);
  const deps = path.join(packagePath, "deps");
  for (const stale of ["deps", "build", "lib"]) {
    rmSync(path.join(packagePath, stale), { recursive: true, force: true });
  }
  const extractor = path.join(directory, "extract-wheel.py");
  writeFileSync(extractor, EXTRACT_WHEEL_SCRIPT);
  const extracted = JSON.parse(
    await run(python, [extractor, path.join(wheelDirectory, wheel), deps], { cwd: directory }),
  ) as {
    libraries: string[];
    headers: number;
    missingHeaders: string[];
    cudaRequirements: string[];
  };
  log(
    `      ${extracted.libraries.join(", ")}; ${extracted.headers} headers` +
      (extracted.missingHeaders.length > 0
        ? `; not in the wheel: ${extracted.missingHeaders.join(", ")}`
        : ""),
  );
  if (gpu) {
    if (extracted.cudaRequirements.length === 0) {
      throw new NativeBackendError(
        `${wheel} declares no nvidia-* requirements for the "and-cuda" extra; pick a TensorFlow of 2.14 or later for --gpu`,
      );
    }
    log(`      pip download ${extracted.cudaRequirements.join(" ")}`);
    await pipDownload(extracted.cudaRequirements);
    for (const requirement of extracted.cudaRequirements) {
      const name = /^[A-Za-z0-9_.-]+/.exec(requirement)?.[0] ?? requirement;
      const prefix = `${name.replace(/[-.]/g, "_")}-`;
      const cudaWheel = readdirSync(wheelDirectory)
        .filter((file) => file.startsWith(prefix) && file.endsWith(".whl"))
        .sort()
        .at(-1);
      if (!cudaWheel) throw new NativeBackendError(`no ${prefix}*.whl in ${wheelDirectory}`);
      await run(python, [extractor, "--nvidia", path.join(wheelDirectory, cudaWheel), deps], {
        cwd: directory,
      });
    }
  }

  log("[4/6] checking the C API symbols and naming the libraries as tfjs-node's build expects");
  const libraryDirectory = path.join(deps, "lib");
  const symbolTables = await Promise.all(
    extracted.libraries.map((library) =>
      run("nm", ["-D", "--defined-only", path.join(libraryDirectory, library)], {
        cwd: directory,
      }),
    ),
  );
  const missing = missingTensorflowSymbols(symbolTables);
  if (missing.length > 0) {
    throw new NativeBackendError(
      `${wheel} exports none of these symbols that tfjs-node ${TFJS_NODE_VERSION} needs: ${missing.join(", ")}`,
    );
  }
  symlinkSync(
    "libtensorflow_framework.so.2",
    path.join(libraryDirectory, "libtensorflow_framework.so"),
  );
  if (extracted.libraries.includes("libtensorflow_cc.so.2")) {
    symlinkSync("libtensorflow_cc.so.2", path.join(libraryDirectory, "libtensorflow.so.2"));
    symlinkSync("libtensorflow_cc.so.2", path.join(libraryDirectory, "libtensorflow.so"));
  } else {
    const legacy = "_pywrap_tensorflow_internal.so";
    const undefinedSymbols = await run("nm", ["-D", "-u", path.join(libraryDirectory, legacy)], {
      cwd: directory,
    });
    const stubSource = path.join(deps, "medfm-python-stub.c");
    writeFileSync(stubSource, pythonStubSource(undefinedPythonSymbols(undefinedSymbols)));
    await run(
      "cc",
      [
        "-shared",
        "-fPIC",
        "-O1",
        "-Wl,-soname,libmedfm_python_stub.so",
        "-o",
        path.join(libraryDirectory, "libmedfm_python_stub.so"),
        stubSource,
      ],
      { cwd: directory },
    );
    symlinkSync(legacy, path.join(libraryDirectory, "libtensorflow.so.2"));
    // A linker script: -ltensorflow then records both libraries as DT_NEEDED of the binding.
    writeFileSync(
      path.join(libraryDirectory, "libtensorflow.so"),
      `INPUT(${legacy} libmedfm_python_stub.so)\n`,
    );
  }

  const asyncMissing = missingTensorflowSymbols(symbolTables, ASYNC_BINDING_SYMBOLS);
  const patcher = path.join(directory, "patch-binding.py");
  writeFileSync(patcher, PATCH_BINDING_SCRIPT);
  writeFileSync(path.join(directory, "medfm_kernels.cc"), MEDFM_KERNELS_SOURCE);
  const bindingSources = path.join(packagePath, "binding");
  // On a GPU TensorFlow already queues kernels on CUDA streams: the patched binding passed the
  // parity checks on an H200 but gave no speed there (docs/native-backend.md), so keep it simple.
  const asyncExecution = !gpu && asyncMissing.length === 0;
  if (asyncExecution) {
    log(
      "      patching the binding for asynchronous op execution (MEDFM_TF_ASYNC=0 turns it off) and the medfm kernels",
    );
    await run(python, [patcher, bindingSources], { cwd: directory });
  } else {
    log(
      gpu
        ? "      binding left synchronous: on a GPU, asynchronous execution gave no speed (CUDA streams already queue kernels)"
        : `      binding left synchronous: ${wheel} lacks ${asyncMissing.join(", ")}`,
    );
    await run(python, [patcher, "--revert", bindingSources], { cwd: directory });
  }

  log("[5/6] building tfjs_binding.node with node-gyp");
  const packageJson = JSON.parse(readFileSync(path.join(packagePath, "package.json"), "utf8")) as {
    binary: { napi_versions: number[]; module_path: string };
  };
  const napi = napiBuildVersion(packageJson.binary.napi_versions, Number(process.versions.napi));
  const modulePath = path.join(packagePath, "lib", `napi-v${napi}`);
  const nodeHeaders =
    options.nodeHeadersDirectory ?? path.resolve(path.dirname(process.execPath), "..");
  const nodeGypArgs = [
    path.join(directory, "node_modules", "node-gyp", "bin", "node-gyp.js"),
    "rebuild",
    "--module_name=tfjs_binding",
    `--module_path=${modulePath}`,
    `--napi_build_version=${napi}`,
    `-j`,
    String(Math.max(1, availableParallelism())),
  ];
  if (existsSync(path.join(nodeHeaders, "include", "node", "node_api.h"))) {
    nodeGypArgs.push(`--nodedir=${nodeHeaders}`);
  } else {
    log(`      no Node.js headers under ${nodeHeaders}/include/node: node-gyp fetches them`);
  }
  await run(process.execPath, nodeGypArgs, { cwd: packagePath });

  log("[6/6] loading the binding into @tensorflow/tfjs and running a small product and gradient");
  // tfjs keeps its engine and kernel registry on the global object; pointing tfjs-node's own
  // @tensorflow/tfjs and tfjs-core at the caller's copies also keeps the cpu kernels registered once.
  const tfjsCore = realpathSync(
    path.dirname(
      createRequire(path.join(tfjsPackageDirectory, "package.json")).resolve(
        "@tensorflow/tfjs-core/package.json",
      ),
    ),
  );
  for (const [name, target] of [
    ["tfjs", tfjsPackageDirectory],
    ["tfjs-core", tfjsCore],
  ] as const) {
    const nested = path.join(packagePath, "node_modules", "@tensorflow", name);
    const link = existsSync(nested)
      ? nested
      : path.join(directory, "node_modules", "@tensorflow", name);
    replaceWithSymlink(link, target);
  }
  const verification = JSON.parse(
    (
      await run(process.execPath, ["-e", VERIFY_SCRIPT, tfjsPackageDirectory, packagePath], {
        cwd: directory,
      })
    )
      .trim()
      .split("\n")
      .at(-1) ?? "{}",
  ) as {
    backend: string;
    tensorflowVersion: string;
    sameEngine: boolean;
    medfmKernels: boolean;
    product: number[];
    gradient: number[];
  };
  const expectedProduct = [7, 10, 15, 22];
  const expectedGradient = [12, 16, 24, 28];
  if (
    verification.backend !== "tensorflow" ||
    !verification.sameEngine ||
    verification.product.join() !== expectedProduct.join() ||
    verification.gradient.join() !== expectedGradient.join()
  ) {
    throw new NativeBackendError(
      `the built backend gave wrong results: ${JSON.stringify(verification)}; expected product ${expectedProduct} and gradient ${expectedGradient} on one engine`,
    );
  }
  if (verification.medfmKernels !== asyncExecution) {
    throw new NativeBackendError(
      asyncExecution
        ? `TensorFlow ${verification.tensorflowVersion} refused @medfm/models' kernels (medfm_kernels.cc); the build's output above says why`
        : "the unpatched binding registered @medfm/models' kernels, which only the patched one has",
    );
  }
  const manifest: NativeBackendManifest = {
    packagePath,
    packageName,
    tensorflowVersion: verification.tensorflowVersion,
    wheel,
    gpu,
    libraries: extracted.libraries,
    tfjsPackageDirectory,
    asyncExecution,
    medfmKernels: verification.medfmKernels,
    provisionedAt: new Date().toISOString(),
  };
  writeFileSync(
    path.join(directory, NATIVE_BACKEND_MANIFEST),
    `${JSON.stringify(manifest, null, 2)}\n`,
  );
  log(`TensorFlow ${verification.tensorflowVersion} backend ready. Make it visible with:`);
  log(`  export MEDFM_TFJS_NODE_PATH=${packagePath}`);
  return manifest;
}

/** Registers `medfm backend` and its subcommands (`install`, `status`). */
export function registerBackendCommand(program: Command): void {
  const backend = program
    .command("backend")
    .description("Native TensorFlow backend for tfjs, provisioned from PyPI wheels");
  backend
    .command("install")
    .description(
      "Download a TensorFlow wheel with pip, build tfjs-node's binding against it, and verify it",
    )
    .option("--gpu", "use the tensorflow wheel with CUDA/cuDNN wheels and tfjs-node-gpu", false)
    .option("--dir <directory>", "provisioning directory", DEFAULT_NATIVE_DIRECTORY)
    .option("--tf-version <version>", "TensorFlow wheel version", DEFAULT_TENSORFLOW_VERSION)
    .option("--python <executable>", "Python interpreter with pip", "python3")
    .option(
      "--wheel-python-version <version>",
      "Python version tag of the wheel",
      DEFAULT_WHEEL_PYTHON_VERSION,
    )
    .option("--tfjs <directory>", "@tensorflow/tfjs package directory to register into")
    .action(
      async (flags: {
        gpu: boolean;
        dir: string;
        tfVersion: string;
        python: string;
        wheelPythonVersion: string;
        tfjs?: string;
      }) => {
        const manifest = await installNativeBackend({
          directory: flags.dir,
          gpu: flags.gpu,
          tensorflowVersion: flags.tfVersion,
          python: flags.python,
          wheelPythonVersion: flags.wheelPythonVersion,
          tfjsPackageDirectory: flags.tfjs,
        });
        process.stdout.write(`MEDFM_TFJS_NODE_PATH=${manifest.packagePath}\n`);
      },
    );
  backend
    .command("status")
    .description("Show the provisioned native backend, if any")
    .option("--dir <directory>", "provisioning directory", DEFAULT_NATIVE_DIRECTORY)
    .action((flags: { dir: string }) => {
      const manifest = readNativeBackendManifest(path.resolve(flags.dir));
      if (!manifest) {
        process.stdout.write(
          `no native backend in ${path.resolve(flags.dir)}; run: medfm backend install\n`,
        );
        return;
      }
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    });
}
