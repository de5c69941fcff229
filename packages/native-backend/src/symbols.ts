// The one list of TensorFlow C API symbols the native backend needs, and the nm parsers that
// check a wheel's libraries against it before anything is built.

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
 * C API functions that the binding patched by `assets/patch-binding.py` imports besides
 * `REQUIRED_TENSORFLOW_SYMBOLS`: those of asynchronous execution, then TensorFlow's C kernel API
 * that @medfm/models' own kernels (`assets/medfm_kernels.cc`) use. Without them the binding is built
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
  "TFE_OpSetAttrStringList",
  "TFE_OpSetAttrTypeList",
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
  "TF_OpKernelConstruction_GetAttrInt32",
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
