import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A repository the fake hub serves. */
export interface FakeRepo {
  /** `org/name`. */
  id: string;
  /** Branch and tag names to commit hashes; `main` at least. */
  refs: Record<string, string>;
  /** Files per commit hash: name to content. */
  commits: Record<string, Record<string, Uint8Array>>;
  /** Access tokens that may read a gated repository; unset: not gated. */
  gatedTokens?: string[];
}

/** One request the fake hub or its CDN received. */
export interface FakeHubRequest {
  /** Which server: the hub (resolve endpoint) or the CDN that LFS files redirect to. */
  server: "hub" | "cdn";
  /** HTTP method. */
  method: string;
  /** Path and query. */
  url: string;
  /** Request headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
}

/** A running fake hub: a resolve endpoint and a second origin acting as the LFS CDN. */
export interface FakeHub {
  /** `http://127.0.0.1:PORT` of the hub. */
  endpoint: string;
  /** `http://127.0.0.1:PORT` of the CDN. */
  cdn: string;
  /** Every request received, in order. */
  requests: FakeHubRequest[];
  /** The next CDN GET of this sha256 sends this many bytes, then drops the connection. */
  interruptNext(sha256: string, afterBytes: number): void;
  /** CDN GETs of this sha256 serve content with one byte flipped (a corrupted transfer). */
  corrupt(sha256: string): void;
  /** Stops both servers. */
  close(): Promise<void>;
}

/** Files stored with Git LFS on the real hub: weights. Others are plain git blobs. */
function isLfs(name: string): boolean {
  return name.endsWith(".safetensors") || name.endsWith(".bin");
}

/** sha256 hex of a buffer (the hub's ETag of an LFS file). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** git's blob sha1 (the hub's ETag of a non-LFS file). */
function gitBlobSha1(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Serves `bytes` honouring a `Range: bytes=N-` request, as the hub's CDN does. */
function sendRanged(
  request: IncomingMessage,
  response: ServerResponse,
  bytes: Uint8Array,
  headers: Record<string, string>,
  interruptAfter?: number,
): void {
  let start = 0;
  let status = 200;
  const range = /^bytes=(\d+)-$/.exec(String(request.headers.range ?? ""));
  if (range) {
    start = Number(range[1]);
    if (start >= bytes.length) {
      response.writeHead(416, { "content-range": `bytes */${bytes.length}` }).end();
      return;
    }
    status = 206;
    headers["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
  }
  const body = bytes.subarray(start);
  response.writeHead(status, {
    ...headers,
    "accept-ranges": "bytes",
    "content-length": String(body.length),
  });
  if (request.method === "HEAD") {
    response.end();
    return;
  }
  if (interruptAfter !== undefined) {
    response.write(body.subarray(0, interruptAfter), () => {
      // Drop the connection mid-body, as a network failure would.
      setTimeout(() => response.socket?.destroy(), 20);
    });
    return;
  }
  response.end(body);
}

/**
 * Starts a local server that mimics the Hugging Face hub's resolve endpoint and headers:
 * `GET|HEAD /{repo}/resolve/{revision}/{file}` answers plain files with 200, `ETag` (git sha1)
 * and `X-Repo-Commit`; LFS files with a 302 to a second origin (the CDN) and `X-Linked-Etag`
 * (sha256), `X-Linked-Size`; errors with `X-Error-Code` (`RepoNotFound` 401, `GatedRepo` 401,
 * `RevisionNotFound` 404, `EntryNotFound` 404). The CDN honours Range requests.
 */
export async function startFakeHub(repos: readonly FakeRepo[]): Promise<FakeHub> {
  const requests: FakeHubRequest[] = [];
  const interruptions = new Map<string, number>();
  const corrupted = new Set<string>();
  const blobs = new Map<string, Uint8Array>();
  let cdn = "";

  const hubServer = createServer((request, response) => {
    requests.push({
      server: "hub",
      method: request.method ?? "",
      url: request.url ?? "",
      headers: request.headers,
    });
    const url = new URL(request.url ?? "/", "http://hub");
    const match = /^\/([^/]+\/[^/]+|[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!match) {
      response.writeHead(404).end();
      return;
    }
    const [, repoId, rawRevision, rawFile] = match;
    const revision = decodeURIComponent(rawRevision as string);
    const filename = (rawFile as string).split("/").map(decodeURIComponent).join("/");
    const repo = repos.find((candidate) => candidate.id === repoId);
    if (repo === undefined) {
      response
        .writeHead(401, {
          "x-error-code": "RepoNotFound",
          "x-error-message": "Repository not found",
        })
        .end();
      return;
    }
    if (repo.gatedTokens !== undefined) {
      const token = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ""))?.[1];
      if (token === undefined || !repo.gatedTokens.includes(token)) {
        response
          .writeHead(401, {
            "x-error-code": "GatedRepo",
            "x-error-message": `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`,
          })
          .end();
        return;
      }
    }
    const commit = repo.refs[revision] ?? (repo.commits[revision] ? revision : undefined);
    if (commit === undefined) {
      response
        .writeHead(404, {
          "x-error-code": "RevisionNotFound",
          "x-error-message": "Invalid rev id",
        })
        .end();
      return;
    }
    const content = repo.commits[commit]?.[filename];
    if (content === undefined) {
      response
        .writeHead(404, {
          "x-error-code": "EntryNotFound",
          "x-error-message": "Entry not found",
          "x-repo-commit": commit,
        })
        .end();
      return;
    }
    if (isLfs(filename)) {
      const sha = sha256Hex(content);
      blobs.set(sha, content);
      response
        .writeHead(302, {
          location: `${cdn}/repos/${sha}?X-Amz-Signature=fake`,
          "x-repo-commit": commit,
          "x-linked-etag": `"${sha}"`,
          "x-linked-size": String(content.length),
          etag: `"${gitBlobSha1(content)}"`,
          "content-length": "0",
        })
        .end();
      return;
    }
    sendRanged(request, response, content, {
      etag: `"${gitBlobSha1(content)}"`,
      "x-repo-commit": commit,
      "content-type": "application/octet-stream",
    });
  });

  const cdnServer = createServer((request, response) => {
    requests.push({
      server: "cdn",
      method: request.method ?? "",
      url: request.url ?? "",
      headers: request.headers,
    });
    const sha = /^\/repos\/([0-9a-f]{64})/.exec(request.url ?? "")?.[1];
    const content = sha === undefined ? undefined : blobs.get(sha);
    if (sha === undefined || content === undefined) {
      response.writeHead(404).end();
      return;
    }
    let served = content;
    if (corrupted.has(sha)) {
      served = Uint8Array.from(content);
      served[Math.floor(served.length / 2)] ^= 0xff;
    }
    const interruptAfter = request.method === "GET" ? interruptions.get(sha) : undefined;
    interruptions.delete(sha);
    sendRanged(
      request,
      response,
      served,
      { "content-type": "binary/octet-stream" },
      interruptAfter,
    );
  });

  const endpoint = await listen(hubServer);
  cdn = await listen(cdnServer);
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    endpoint,
    cdn,
    requests,
    interruptNext: (sha, afterBytes) => interruptions.set(sha, afterBytes),
    corrupt: (sha) => corrupted.add(sha),
    close: async () => {
      await Promise.all([close(hubServer), close(cdnServer)]);
    },
  };
}
