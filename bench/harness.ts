// A small benchmark harness: each case runs for a fixed time after a warm-up and reports operations
// per second; ratios compare cases measured in the same run, never numbers from elsewhere.

export interface Result {
  name: string;
  opsPerSecond: number;
  microseconds: number;
}

export async function measure(
  name: string,
  run: () => unknown,
  seconds = Number(process.env.BENCH_SECONDS ?? 1),
): Promise<Result> {
  const deadline = (ms: number) => performance.now() + ms;
  for (let end = deadline(150); performance.now() < end; ) await run();
  let count = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 16; i++) await run();
    count += 16;
  }
  const elapsed = (performance.now() - started) / 1000;
  return { name, opsPerSecond: count / elapsed, microseconds: (elapsed * 1e6) / count };
}

export function printTable(
  title: string,
  rows: { name: string; value: string; unit: string; ratio?: string; target?: string }[],
): void {
  const header = ['case', 'result', 'unit', 'ratio', 'target'];
  const body = rows.map((r) => [r.name, r.value, r.unit, r.ratio ?? '', r.target ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 1 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  process.stdout.write(
    `\n${title}\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${body.map(line).join('\n')}\n`,
  );
}
