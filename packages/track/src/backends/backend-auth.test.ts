import { describe, expect, it } from "vitest";
import { authorizationFromEnv, credentialsInUri, redactUri } from "./backend-auth";

describe("authorizationFromEnv", () => {
  it("prefers a bearer token, else basic auth, else nothing", () => {
    expect(authorizationFromEnv("MLFLOW_TRACKING", { MLFLOW_TRACKING_TOKEN: "t" })).toEqual({
      authorization: "Bearer t",
    });
    expect(
      authorizationFromEnv("MLFLOW_TRACKING", {
        MLFLOW_TRACKING_USERNAME: "ada",
        MLFLOW_TRACKING_PASSWORD: "pw:1",
      }),
    ).toEqual({ authorization: `Basic ${Buffer.from("ada:pw:1").toString("base64")}` });
    expect(authorizationFromEnv("MLFLOW_TRACKING", {})).toEqual({});
  });
});

describe("redactUri", () => {
  it("drops credentials, query and fragment", () => {
    expect(redactUri("https://ada:secret@mlflow.example.org/base/?token=x#y")).toBe(
      "https://mlflow.example.org/base",
    );
  });
});

describe("credentialsInUri", () => {
  it("turns user:password@ into basic auth", () => {
    expect(credentialsInUri("http://ada:p%40ss@127.0.0.1:5000")).toEqual({
      authorization: `Basic ${Buffer.from("ada:p@ss").toString("base64")}`,
    });
    expect(credentialsInUri("http://127.0.0.1:5000")).toEqual({});
  });
});
