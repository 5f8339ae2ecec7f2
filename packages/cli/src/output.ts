// Everything the CLI prints goes through here: text for people, JSON with --json, errors on stderr.
import { bytesToHex } from '@iotsafe/protocol';

export function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export function printError(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** JSON with byte arrays as upper-case hex. */
export function printJson(value: unknown): void {
  print(JSON.stringify(value, (_key, v) => (v instanceof Uint8Array ? bytesToHex(v) : v), 2));
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
