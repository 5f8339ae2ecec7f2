// How a long-running command (sim serve, ota network, ota serve, est serve) waits: until SIGINT or SIGTERM, with
// the port it listens on written to a file for scripts that started it in the background.
import { renameSync, writeFileSync } from 'node:fs';
import { emit } from './output.js';

export function untilInterrupted(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/**
 * `--port-file FILE`: the port, written once the server listens (temporary file, then rename), so a
 * script that started the server in the background waits for the file and reads the port from it.
 */
export function writePortFile(file: string | undefined, port: number): void {
  if (!file) return;
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${port}\n`);
  renameSync(temporary, file);
}

/**
 * A server command, once it listens: says where (one JSON document with --json), writes --port-file,
 * runs until SIGINT or SIGTERM, then closes what it opened, in the order given.
 */
export async function serveUntilInterrupted(served: {
  json: boolean | undefined;
  ready: unknown;
  text: () => string;
  portFile?: string | undefined;
  port?: number;
  close: (() => Promise<unknown>)[];
}): Promise<void> {
  // the port file first: a script that has read the ready line may read the file at once
  if (served.port !== undefined) writePortFile(served.portFile, served.port);
  emit(served.json, served.ready, served.text);
  await untilInterrupted();
  for (const close of served.close) await close();
}
