"""Extracts what tfjs-node's native build needs from a TensorFlow wheel, without importing it.

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
