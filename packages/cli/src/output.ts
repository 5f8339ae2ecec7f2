// Everything the CLI prints goes through here: text for people, JSON with --json, errors and progress
// on stderr. JSON conventions (docs/json.md): byte values as upper-case hex strings, counters and sizes
// as numbers (bigint counters too: SCP80's are below 2^40), enumerations by name.
import { bytesToHex } from '@iotsafe/protocol';

export function print(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export function printError(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** The JSON form of a value: Uint8Array → hex, bigint → number. */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v) => (v instanceof Uint8Array ? bytesToHex(v) : typeof v === 'bigint' ? Number(v) : v),
    2,
  );
}

export function printJson(value: unknown): void {
  print(toJson(value));
}

/** One result: JSON when asked for, else the text form. */
export function emit(json: boolean | undefined, value: unknown, text: () => string): void {
  if (json) printJson(value);
  else print(text());
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

/**
 * A line on stderr while something takes longer than a second: `what` is printed once the wait passes
 * 1 s, then every `every` ms with the seconds elapsed, until the returned function is called.
 */
export function progress(what: () => string, every = 5000): () => void {
  const started = Date.now();
  const say = () => printError(`… ${what()} (${Math.round((Date.now() - started) / 1000)} s)`);
  let repeat: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    say();
    repeat = setInterval(say, every);
    repeat.unref();
  }, 1000);
  first.unref();
  return () => {
    clearTimeout(first);
    if (repeat) clearInterval(repeat);
  };
}
