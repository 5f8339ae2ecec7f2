#!/usr/bin/env node
// `iotsafe`: the command line over the IoT SAFE client, the virtual SIM, GP, OTA and TLS.
// Exit codes: 0 success, 1 failure, 2 usage, 3 the card refused (status word, PoR), 4 the SIM
// directory or its storage key is unusable, 5 the card could not be reached (transport).
// With --json, a failure prints {"error": {code, message, sw?, hint?}} on stdout (docs/json.md).
import { CommanderError } from 'commander';
import { describeError, EXIT_CODE } from './errors.js';
import { printError, printJson } from './output.js';
import { createProgram } from './program.js';

// `npm run iotsafe -- … ./file` runs in the repository root; relative paths are the user's, from where
// npm was started (npm sets INIT_CWD to it).
if (
  process.env.INIT_CWD &&
  process.env.npm_lifecycle_event &&
  process.env.npm_package_name === 'iotsafe-stack'
)
  process.chdir(process.env.INIT_CWD);

const { program, jsonWanted, usageMessage } = createProgram();

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return; // --help, --version
      process.exitCode = 2;
      if (jsonWanted())
        printJson({
          error: {
            code: 'usage',
            message:
              usageMessage()
                .trim()
                .replace(/^error: /, '') || error.message,
          },
        });
      return;
    }
    const described = describeError(error);
    if (jsonWanted()) printJson({ error: described });
    else {
      printError(`iotsafe: ${described.message}${described.sw ? ` [SW ${described.sw}]` : ''}`);
      if (described.hint) printError(`hint: ${described.hint}`);
    }
    if (described.code === 'failed' && process.env.IOTSAFE_DEBUG) printError(String((error as Error).stack));
    process.exitCode = EXIT_CODE[described.code];
  }
}

await main();
