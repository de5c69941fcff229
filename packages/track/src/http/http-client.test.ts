import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TrackError } from "../track-error";
import { createHttpClient } from "./http-client";
import { AbortedError, HttpError } from "./http-error";
import { parseRetryAfter, retryDelay } from "./retry-delay";

let server: Server | undefined;
let connections = 0;

async function serve(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<string> {
  connections = 0;
  server = createServer(handler);
  server.on("connection", () => {
    connections += 1;
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

function recordingSleep(delays: number[]) {
  return async (milliseconds: number) => {
    delays.push(milliseconds);
  };
}

describe("createHttpClient", () => {
  it("keeps connections alive across requests instead of one per request", async () => {
    const uri = await serve((_request, response) => response.end('{"ok":true}'));
    const client = createHttpClient({ baseUrl: uri });
    for (let index = 0; index < 20; index += 1) {
      expect((await client.request({ method: "GET", path: "/x" })).json).toEqual({ ok: true });
    }
    await client.close();
    // undici may open a second socket while the first is being released; never one per request.
    expect(connections).toBeLessThanOrEqual(2);
  });

  it("retries 429 honouring Retry-After, then succeeds", async () => {
    let count = 0;
    const uri = await serve((_request, response) => {
      count += 1;
      if (count <= 2) {
        response.writeHead(429, { "retry-after": "2" });
        response.end("slow down");
      } else response.end("{}");
    });
    const delays: number[] = [];
    const client = createHttpClient({ baseUrl: uri, sleep: recordingSleep(delays) });
    expect((await client.request({ method: "POST", path: "/y", json: { a: 1 } })).status).toBe(200);
    await client.close();
    expect(count).toBe(3);
    expect(delays).toEqual([2000, 2000]);
  });

  it("backs off exponentially with jitter on 5xx and gives up with a retryable HttpError", async () => {
    let count = 0;
    const uri = await serve((_request, response) => {
      count += 1;
      response.writeHead(503, { "content-type": "application/json" });
      response.end(JSON.stringify({ error_code: "TEMPORARILY_UNAVAILABLE", message: "busy" }));
    });
    const delays: number[] = [];
    const client = createHttpClient({
      baseUrl: uri,
      maxRetries: 3,
      baseDelayMs: 100,
      random: () => 0.5,
      sleep: recordingSleep(delays),
    });
    const error = await client.request({ method: "GET", path: "/z" }).catch((caught) => caught);
    await client.close();
    expect(count).toBe(4);
    expect(delays).toEqual([75, 150, 300]);
    expect(HttpError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({
      status: 503,
      attempts: 4,
      isRetryable: true,
      serverMessage: "TEMPORARILY_UNAVAILABLE: busy",
    });
  });

  it("does not retry other 4xx and carries the server's message", async () => {
    let count = 0;
    const uri = await serve((_request, response) => {
      count += 1;
      response.writeHead(400, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          error_code: "INVALID_PARAMETER_VALUE",
          message: "Changing param values is not allowed",
        }),
      );
    });
    const client = createHttpClient({ baseUrl: uri, sleep: recordingSleep([]) });
    await expect(client.request({ method: "POST", path: "/p", json: {} })).rejects.toThrow(
      /POST http:\/\/127\.0\.0\.1:\d+\/p answered 400: INVALID_PARAMETER_VALUE: Changing param values is not allowed/,
    );
    await client.close();
    expect(count).toBe(1);
  });

  it("retries refused connections, then fails naming the error", async () => {
    const uri = await serve(() => {});
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const delays: number[] = [];
    const client = createHttpClient({ baseUrl: uri, maxRetries: 2, sleep: recordingSleep(delays) });
    const error = await client.request({ method: "GET", path: "/" }).catch((caught) => caught);
    await client.close();
    expect(delays).toHaveLength(2);
    expect(error).toBeInstanceOf(HttpError);
    expect(error.message).toMatch(/failed after 3 attempt\(s\): ECONNREFUSED/);
    expect(error.isRetryable).toBe(true);
  });

  it("retries a dropped connection", async () => {
    let count = 0;
    const uri = await serve((request, response) => {
      count += 1;
      if (count === 1) request.socket.destroy();
      else response.end("{}");
    });
    const client = createHttpClient({ baseUrl: uri, sleep: recordingSleep([]) });
    expect((await client.request({ method: "GET", path: "/" })).status).toBe(200);
    await client.close();
    expect(count).toBe(2);
  });

  it("never retries after an abort", async () => {
    let count = 0;
    const uri = await serve(() => {
      count += 1; // never answers
    });
    const client = createHttpClient({ baseUrl: uri, sleep: recordingSleep([]) });
    const controller = new AbortController();
    const pending = client.request({ method: "GET", path: "/", signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await pending.catch((caught) => caught);
    await client.close();
    expect(error).toBeInstanceOf(AbortedError);
    expect(TrackError.isInstance(error) && error.isRetryable).toBe(false);
    expect(count).toBe(1);
  });

  it("times out a server that does not answer, as a retryable failure", async () => {
    const uri = await serve(() => {});
    const client = createHttpClient({
      baseUrl: uri,
      requestTimeoutMs: 100,
      maxRetries: 1,
      sleep: recordingSleep([]),
    });
    await expect(client.request({ method: "GET", path: "/" })).rejects.toThrow(
      /UND_ERR_HEADERS_TIMEOUT/,
    );
    await client.close();
  });

  it("refuses credentials in the URL, without echoing them", () => {
    expect(() => createHttpClient({ baseUrl: "http://user:hunter2@127.0.0.1:1" })).toThrow(
      /credentials in the server URL are not accepted/,
    );
    try {
      createHttpClient({ baseUrl: "http://user:hunter2@127.0.0.1:1" });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain("hunter2");
    }
  });
});

describe("retryDelay", () => {
  it("doubles up to the cap, jittered within the upper half", () => {
    const options = { baseDelayMs: 100, maxDelayMs: 1000 };
    expect(retryDelay(1, undefined, { ...options, random: () => 0 })).toBe(50);
    expect(retryDelay(1, undefined, { ...options, random: () => 0.999999 })).toBe(100);
    expect(retryDelay(3, undefined, { ...options, random: () => 0 })).toBe(200);
    expect(retryDelay(10, undefined, { ...options, random: () => 0 })).toBe(500);
    expect(retryDelay(10, undefined, { ...options, random: () => 0.999999 })).toBe(1000);
  });

  it("reads Retry-After as seconds or an HTTP date, capped", () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(retryDelay(1, "120", { baseDelayMs: 100, maxDelayMs: 30_000 })).toBe(30_000);
  });
});
