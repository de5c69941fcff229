import { describe, expect, it } from "vitest";
import { RedisUrlError } from "./grid-error";
import { redactRedisUrl, redactSecrets, redisConnectionOptions } from "./redis-connection";

describe("redisConnectionOptions", () => {
  it("reads host, port, database, user and password from the URL", () => {
    expect(
      redisConnectionOptions({ url: "redis://grid:s%40cret@10.0.0.5:6390/2", env: {} }),
    ).toEqual({
      host: "10.0.0.5",
      port: 6390,
      db: 2,
      username: "grid",
      password: "s@cret",
      maxRetriesPerRequest: null,
    });
  });

  it("turns on TLS for rediss:// and takes the password and URL from the environment", () => {
    const options = redisConnectionOptions({
      env: { MEDFM_REDIS_URL: "rediss://cache.example.org", MEDFM_REDIS_PASSWORD: "pw" },
    }) as Record<string, unknown>;
    expect(options).toMatchObject({ host: "cache.example.org", port: 6379, password: "pw" });
    expect(options.tls).toEqual({ servername: "cache.example.org" });
  });

  it("defaults to 127.0.0.1:6379 and rejects other schemes without showing the password", () => {
    expect(redisConnectionOptions({ env: {} })).toMatchObject({ host: "127.0.0.1", port: 6379 });
    let message = "";
    try {
      redisConnectionOptions({ url: "http://user:hunter2@host:1", env: {} });
    } catch (error) {
      expect(error).toBeInstanceOf(RedisUrlError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/expected the scheme redis:\/\//);
    expect(message).not.toContain("hunter2");
    expect(() => redisConnectionOptions({ url: "hunter2", env: {} })).toThrow(
      /^\(a Redis URL that does not parse\)/,
    );
  });
});

describe("redactRedisUrl", () => {
  it("hides the password and user, and whole text that is not a URL", () => {
    expect(redactRedisUrl("redis://grid:hunter2@host:6379/0")).toBe("redis://***:***@host:6379/0");
    expect(redactRedisUrl("redis://host:6379")).toBe("redis://host:6379");
    expect(
      redactSecrets("connect to redis://:hunter2@h:1 failed: hunter2", "redis://:hunter2@h:1"),
    ).toBe("connect to redis://:***@h:1 failed: ***");
  });
});
