import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What the proxy does with the next request. */
export type Fault =
  | "pass"
  /** Destroys the connection before forwarding. */
  | "drop"
  /** Forwards, lets the server act, then destroys the connection instead of answering. */
  | "drop-after"
  | { status: number; retryAfter?: string };

/**
 * A local HTTP proxy on 127.0.0.1 for fault tests: forwards to a target, or refuses (closes its
 * port), drops connections, or answers an error status, as the test decides per request.
 * Test-only; not exported from the package.
 */
export class FaultProxy {
  /** Requests seen, faults included. */
  requests = 0;
  /** Decides the fault for the n-th request (1-based), given its body; default passes everything. */
  decide: (n: number, request: IncomingMessage, body: Buffer) => Fault = () => "pass";
  private server: Server | undefined;
  private port = 0;
  private readonly target: URL;

  constructor(target: string) {
    this.target = new URL(target);
  }

  /** The proxy's base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts listening (on the same port as before, after `refuse()`). */
  async listen(): Promise<void> {
    const server = createServer((incoming, outgoing) => {
      this.requests += 1;
      const n = this.requests;
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => {
        const fault = this.decide(n, incoming, Buffer.concat(chunks));
        if (fault === "drop") {
          incoming.socket.destroy();
          return;
        }
        if (typeof fault === "object") {
          outgoing.writeHead(fault.status, {
            "content-type": "application/json",
            ...(fault.retryAfter ? { "retry-after": fault.retryAfter } : {}),
          });
          outgoing.end(
            JSON.stringify({
              error_code: fault.status === 400 ? "INVALID_PARAMETER_VALUE" : "FAULT",
              message: `injected ${fault.status}`,
            }),
          );
          return;
        }
        const forward = httpRequest(
          {
            host: this.target.hostname,
            port: this.target.port,
            method: incoming.method,
            path: incoming.url,
            headers: incoming.headers,
          },
          (response) => {
            const body: Buffer[] = [];
            response.on("data", (chunk: Buffer) => body.push(chunk));
            response.on("end", () => {
              if (fault === "drop-after") {
                incoming.socket.destroy();
                return;
              }
              outgoing.writeHead(response.statusCode ?? 502, response.headers);
              outgoing.end(Buffer.concat(body));
            });
          },
        );
        forward.on("error", () => incoming.socket.destroy());
        forward.end(Buffer.concat(chunks));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Closes the port, so connections are refused, until `listen()` again. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Reserves a port and closes it at once: a URL where nothing listens yet. */
  async reserveRefused(): Promise<void> {
    await this.listen();
    await this.refuse();
  }

  /** Stops the proxy. */
  close(): Promise<void> {
    return this.refuse();
  }
}
