import path from "node:path";
import type { Command } from "commander";
import {
  DEFAULT_TENSORFLOW_VERSION,
  DEFAULT_WHEEL_PYTHON_VERSION,
  installNativeBackend,
} from "./install";
import { DEFAULT_NATIVE_DIRECTORY, readNativeBackendManifest } from "./manifest";

/** Options of `registerNativeBackendCommands`. */
export interface NativeBackendCommandsOptions {
  /** Files whose `@tensorflow/tfjs` `install` uses when the working directory resolves none. */
  resolveTfjsFrom?: readonly string[];
  /** How the commands are invoked, for the hint `status` prints. Default `medfm-native-backend`. */
  invokedAs?: string;
}

/**
 * Adds `install` and `status` to `parent`: the `medfm-native-backend` bin's commands, and those of
 * `medfm backend`, which wraps them.
 */
export function registerNativeBackendCommands(
  parent: Command,
  options: NativeBackendCommandsOptions = {},
): Command {
  const invokedAs = options.invokedAs ?? "medfm-native-backend";
  parent
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
          resolveTfjsFrom: options.resolveTfjsFrom,
        });
        process.stdout.write(`MEDFM_TFJS_NODE_PATH=${manifest.packagePath}\n`);
      },
    );
  parent
    .command("status")
    .description("Show the provisioned native backend, if any")
    .option("--dir <directory>", "provisioning directory", DEFAULT_NATIVE_DIRECTORY)
    .action((flags: { dir: string }) => {
      const manifest = readNativeBackendManifest(path.resolve(flags.dir));
      if (!manifest) {
        process.stdout.write(
          `no native backend in ${path.resolve(flags.dir)}; run: ${invokedAs} install\n`,
        );
        return;
      }
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    });
  return parent;
}
