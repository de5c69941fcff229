import { resolve } from "node:path";
import type { Command } from "commander";
import { integerOption } from "../parse-number";
import { resolveViewerSource } from "../viewer/resolve-viewer-source";
import { serveSite } from "../viewer/serve-site";
import { viewerSite, writeSite } from "../viewer/viewer-site";

interface ViewerOptions {
  root?: string;
  run?: string;
  imageSize?: number;
}

function addSourceOptions(command: Command): Command {
  return command
    .option("--run <run>", "run folder or id whose data and metrics fill the model card")
    .option(
      "--root <dir>",
      "runs root for a bare run id (default: MEDFM_TRACK_ROOT or ./.medfm/runs)",
    )
    .option(
      "--image-size <n>",
      "model input size (default: the size recorded at training)",
      integerOption({ min: 1 }),
    );
}

/** Registers `medfm serve` and `medfm export-web`. */
export function registerServeCommands(program: Command): void {
  addSourceOptions(
    program
      .command("serve")
      .description(
        "Serve a model viewer on 127.0.0.1: drop an image, see per-class scores, Grad-CAM overlays and the model card, computed in the browser with TensorFlow.js (WebGPU, WebGL or wasm)",
      )
      .argument(
        "<run-or-model>",
        "run folder or id, medfm train --output folder, or model directory",
      )
      .option("--port <n>", "port (0: any free port)", integerOption({ min: 0, max: 65535 }), 8080),
  ).action(async (source: string, options: ViewerOptions & { port: number }) => {
    const found = resolveViewerSource(source, options);
    const { files } = await viewerSite(found, options);
    const served = await serveSite(files, options.port);
    console.log(`Serving ${found.modelDirectory} at ${served.url} (Ctrl-C to stop)`);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        served.close().then(done);
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
  });
  addSourceOptions(
    program
      .command("export-web")
      .description(
        "Write the model viewer and the model as static files, for any web server (what medfm serve serves)",
      )
      .argument(
        "<run-or-model>",
        "run folder or id, medfm train --output folder, or model directory",
      )
      .requiredOption("--out <dir>", "folder to write"),
  ).action(async (source: string, options: ViewerOptions & { out: string }) => {
    const found = resolveViewerSource(source, options);
    const { files } = await viewerSite(found, options);
    await writeSite(files, options.out);
    console.log(
      `Wrote the viewer for ${found.modelDirectory} to ${resolve(options.out)} (${files.length} files)`,
    );
  });
}
