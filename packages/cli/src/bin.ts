#!/usr/bin/env node
import { errorMessage } from "./error-message";
import { createProgram } from "./program";

createProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    console.error(errorMessage(error));
    process.exitCode = 1;
  });
