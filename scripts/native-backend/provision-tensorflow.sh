#!/usr/bin/env bash
# Provisions tfjs-node's native TensorFlow backend from PyPI's TensorFlow wheels, for people who
# use the @medfm libraries without the medfm CLI (`medfm backend install` does the same steps and
# also handles TensorFlow before 2.12). Nothing is downloaded from Google's storage: the wheel
# comes from PyPI or PIP_INDEX_URL, tfjs-node from npm with its install script disabled.
#
# Usage: provision-tensorflow.sh [--gpu] [--dir DIR] [--tf-version VERSION] [--tfjs TFJS_DIR]
#   --gpu          tensorflow wheel + its nvidia-* CUDA/cuDNN wheels, builds @tensorflow/tfjs-node-gpu
#   --dir          provisioning directory (default .medfm/native)
#   --tf-version   TensorFlow wheel version, 2.12 or later (default 2.18.1)
#   --tfjs         the @tensorflow/tfjs package directory your program loads (default: resolved
#                  from the working directory); the backend registers into that copy
# Needs: Linux x86_64, python3 with pip, npm, a C++ compiler and make.
# Ends by printing the line to export: MEDFM_TFJS_NODE_PATH=<dir>/node_modules/@tensorflow/tfjs-node
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir=".medfm/native"
gpu=0
tf_version="2.18.1"
tfjs=""
python="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) gpu=1 ;;
    --dir) dir="$2"; shift ;;
    --tf-version) tf_version="$2"; shift ;;
    --tfjs) tfjs="$2"; shift ;;
    -h | --help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "provision-tensorflow.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "provision-tensorflow.sh: Linux x86_64 only (this is $(uname -s) $(uname -m))" >&2
  exit 1
fi
if [ -z "$tfjs" ]; then
  tfjs="$(node -p "require('path').dirname(require.resolve('@tensorflow/tfjs/package.json', { paths: [process.cwd()] }))")"
fi
tfjs="$(cd "$tfjs" && pwd -P)"
mkdir -p "$dir/wheels"
dir="$(cd "$dir" && pwd)"
if [ "$gpu" = 1 ]; then wheel_name=tensorflow package=@tensorflow/tfjs-node-gpu; else wheel_name=tensorflow-cpu package=@tensorflow/tfjs-node; fi
package_dir="$dir/node_modules/$package"

pip_download() {
  "$python" -m pip download --no-deps --only-binary=:all: --python-version 3.10 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_27_x86_64 --dest "$dir/wheels" "$@"
}

echo "[1/6] pip download $wheel_name==$tf_version"
pip_download "$wheel_name==$tf_version"
wheel="$(ls "$dir/wheels/${wheel_name/-/_}-$tf_version-"*.whl | head -n 1)"

echo "[2/6] npm install $package@4.22.0 node-gyp --ignore-scripts"
[ -f "$dir/package.json" ] || echo '{ "name": "medfm-native-backend", "private": true }' > "$dir/package.json"
(cd "$dir" && npm install --ignore-scripts --no-audit --no-fund "$package@4.22.0" node-gyp@11)

echo "[3/6] extracting libraries and C API headers from $(basename "$wheel")"
rm -rf "$package_dir/deps" "$package_dir/build" "$package_dir/lib"
info="$("$python" "$here/extract-wheel.py" "$wheel" "$package_dir/deps")"
echo "      $info"
if [ "$gpu" = 1 ]; then
  mapfile -t cuda < <(echo "$info" | "$python" -c 'import json, sys; print("\n".join(json.load(sys.stdin)["cudaRequirements"]))')
  [ "${#cuda[@]}" -gt 0 ] || { echo "$(basename "$wheel") names no nvidia-* wheels; use TensorFlow 2.14+" >&2; exit 1; }
  pip_download "${cuda[@]}"
  for requirement in "${cuda[@]}"; do
    name="$(echo "$requirement" | sed -E 's/[<>=!~;].*//; s/[-.]/_/g')"
    "$python" "$here/extract-wheel.py" --nvidia "$(ls "$dir/wheels/$name-"*.whl | sort | tail -n 1)" "$package_dir/deps" > /dev/null
  done
fi

echo "[4/6] naming the libraries as tfjs-node's binding.gyp expects"
lib="$package_dir/deps/lib"
if [ ! -f "$lib/libtensorflow_cc.so.2" ]; then
  echo "$(basename "$wheel") has no libtensorflow_cc.so.2 (TensorFlow before 2.12); use 'medfm backend install'" >&2
  exit 1
fi
ln -sf libtensorflow_cc.so.2 "$lib/libtensorflow.so.2"
ln -sf libtensorflow_cc.so.2 "$lib/libtensorflow.so"
ln -sf libtensorflow_framework.so.2 "$lib/libtensorflow_framework.so"
# Ops run asynchronously (patch-binding.py; MEDFM_TF_ASYNC=0 turns it off at run time), with
# @medfm/models' own kernels (medfm_kernels.cc), when the libraries export what the patched
# binding imports, on CPU builds; else the binding is unpatched.
defined="$(nm -D --defined-only "$lib/libtensorflow_cc.so.2" "$lib/libtensorflow_framework.so.2" | awk '{ sub(/@.*/, "", $3); print $3 }')"
missing=""
for symbol in TFE_ContextGetExecutorForThread TFE_ContextOptionsSetAsync TFE_DeleteExecutor \
  TFE_ExecutorClearError TFE_InferShapes TFE_OpAttrsSerialize TFE_OpGetAttrs \
  TF_DeleteShapeAndTypeList TF_NewShapeAndTypeList TF_ShapeAndTypeListSetShape \
  TF_ShapeAndTypeListSetUnknownShape TF_AllocateOutput TF_DeleteShapeHandle \
  TF_ForwardInputOrAllocateOutput TF_GetInput TF_NewKernelBuilder TF_NewOpDefinitionBuilder \
  TF_NewShapeHandle TF_NumInputs TF_OpDefinitionBuilderAddAttr TF_OpDefinitionBuilderAddInput \
  TF_OpDefinitionBuilderAddOutput TF_OpDefinitionBuilderSetShapeInferenceFunction \
  TF_OpKernelConstruction_GetAttrBool TF_OpKernelConstruction_GetAttrFloat \
  TF_OpKernelContext_Failure TF_RegisterKernelBuilder TF_RegisterOpDefinition TF_SetStatus \
  TF_ShapeInferenceContextGetInput TF_ShapeInferenceContextNumInputs \
  TF_ShapeInferenceContextSetOutput TF_DeleteDimensionHandle TF_DimensionHandleValue \
  TF_DimensionHandleValueKnown TF_NewDimensionHandle TF_ShapeInferenceContextConcatenateShapes \
  TF_ShapeInferenceContextDim TF_ShapeInferenceContextRank TF_ShapeInferenceContextRankKnown \
  TF_ShapeInferenceContextSetUnknownShape TF_ShapeInferenceContextSubshape \
  TF_ShapeInferenceContextVectorFromSize; do
  grep -qx "$symbol" <<< "$defined" || missing="$missing $symbol"
done
if [ "$gpu" = 1 ]; then
  echo "      binding left synchronous: on a GPU, asynchronous execution gave no speed (CUDA streams already queue kernels)"
  "$python" "$here/patch-binding.py" --revert "$package_dir/binding"
elif [ -z "$missing" ]; then
  echo "      patching the binding for asynchronous op execution (MEDFM_TF_ASYNC=0 turns it off) and the medfm kernels"
  "$python" "$here/patch-binding.py" "$package_dir/binding"
else
  echo "      binding left synchronous: $(basename "$wheel") lacks$missing"
  "$python" "$here/patch-binding.py" --revert "$package_dir/binding"
fi

echo "[5/6] building tfjs_binding.node with node-gyp"
napi="$(node -p "Math.max(...require('$package_dir/package.json').binary.napi_versions.filter((v) => v <= Number(process.versions.napi)))")"
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
nodedir=()
[ -f "$node_prefix/include/node/node_api.h" ] && nodedir=("--nodedir=$node_prefix")
(cd "$package_dir" && node "$dir/node_modules/node-gyp/bin/node-gyp.js" rebuild \
  --module_name=tfjs_binding "--module_path=$package_dir/lib/napi-v$napi" \
  "--napi_build_version=$napi" "${nodedir[@]}" -j "$(nproc)")

echo "[6/6] registering into $tfjs and checking a product and a gradient"
# tfjs keeps its engine and kernel registry on the global object; pointing tfjs-node at the
# caller's @tensorflow/tfjs and tfjs-core keeps one copy of each loaded.
tfjs_core="$(cd "$(node -p "require('path').dirname(require.resolve('@tensorflow/tfjs-core/package.json', { paths: ['$tfjs'] }))")" && pwd -P)"
rm -rf "$dir/node_modules/@tensorflow/tfjs" "$dir/node_modules/@tensorflow/tfjs-core"
ln -s "$tfjs" "$dir/node_modules/@tensorflow/tfjs"
ln -s "$tfjs_core" "$dir/node_modules/@tensorflow/tfjs-core"
node -e '
const tf = require(process.argv[1]);
require(process.argv[2]);
(async () => {
  if (!(await tf.setBackend("tensorflow"))) throw new Error("tensorflow backend did not initialize");
  const a = tf.tensor2d([[1, 2], [3, 4]]);
  const product = Array.from(await tf.matMul(a, a).data()).join();
  if (product !== "7,10,15,22") throw new Error(`matMul gave ${product}`);
  const kernels = tf.backend().binding.medfmKernels === 1 ? "with" : "without";
  console.log(`TensorFlow ${tf.backend().binding.TF_Version} backend ready, ${kernels} the medfm kernels.`);
})().catch((error) => { console.error(error); process.exit(1); });
' "$tfjs" "$package_dir"
echo "Make it visible with:"
echo "  export MEDFM_TFJS_NODE_PATH=$package_dir"
