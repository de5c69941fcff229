import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { SiteFile } from "./viewer-site";

const contentTypes: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json; charset=utf-8",
  wasm: "application/wasm",
  bin: "application/octet-stream",
  png: "image/png",
  svg: "image/svg+xml",
  ico: "image/x-icon",
};

/** A running viewer server. */
export interface ServedSite {
  /** The site's root URL, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
  /** The underlying server. */
  server: Server;
}

/**
 * Serves `files` read-only on 127.0.0.1 (`port` 0 picks a free one): GET and HEAD only,
 * `/` is `/index.html`, anything else is 404. Nothing is read from disk after start.
 */
export async function serveSite(files: readonly SiteFile[], port: number): Promise<ServedSite> {
  const byPath = new Map(files.map((file) => [file.path, file]));
  const server = createServer((request, response) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const pathname = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    const file = byPath.get(pathname === "/" ? "/index.html" : pathname);
    if (!file) {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${pathname}`);
      return;
    }
    const extension = file.path.split(".").at(-1) ?? "";
    response.writeHead(200, {
      "content-type": contentTypes[extension] ?? "application/octet-stream",
      "content-length": file.data.byteLength,
      "cache-control": "no-cache",
    });
    response.end(request.method === "HEAD" ? undefined : file.data);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}/`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
