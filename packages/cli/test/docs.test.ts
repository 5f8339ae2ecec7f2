// Documentation that runs: every ```sh block of README.md and docs/*.md, in order, one bash per file,
// in a fresh temporary directory, against local peers only. A change that breaks a documented step
// fails here.
//
// Conventions (also in docs/guide-docs.md):
// - ```sh blocks run; ```text (output samples, steps that need hardware) and every other language do not.
// - Blocks of one file share one shell: `cd`, variables and `export` carry over, `set -euo pipefail`
//   holds, so a failing command fails the file (show an expected refusal as `cmd || echo …`).
// - A server the reader would start in a second terminal is started with a trailing `&` and writes its
//   port with `--port-file FILE` (or, for openssl s_server, its ACCEPT line to a log); the next steps
//   wait for that file. The doc stops it with `kill %N` when it needs what the server holds; when the
//   file ends, the runner stops every process the file started (its process group).
// - The runner stands in for npm, since it runs inside the checkout being tested: `npm run iotsafe --`
//   and `npm run demo` run the CLI directly, `npm ci` and `npm test` are skipped (this test is part of
//   `npm test`), and any other npm command fails. `npm run iotsafe` itself (relative paths from where
//   npm was started) is tested in cli.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_BUNDLE, CLI_MAIN } from '../../../test/helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** tsx's loader by path: the temporary directory has no node_modules to resolve `--import tsx` in. */
const TSX = import.meta.resolve('tsx');

interface ShellBlock {
  line: number;
  code: string;
}

/** The ```sh blocks of a Markdown text, with the line each starts on. */
function shellBlocks(markdown: string): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```sh\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!));
    blocks.push({ line: start + 1, code: lines.slice(start, i).join('\n') });
  }
  return blocks;
}

/** The runner's `npm`, first on PATH (so `setsid npm …` and `$(npm run -s …)` find it too). */
const NPM_SHIM = `#!/usr/bin/env bash
set -euo pipefail
if [ "\${1:-}" = run ] && [ "\${2:-}" = -s ]; then set -- run "\${@:3}"; fi
if [ -n "\${IOTSAFE_CLI_BUNDLE:-}" ]; then cli=(setpriv --pdeathsig KILL node "$IOTSAFE_CLI_BUNDLE")
else cli=(setpriv --pdeathsig KILL node --conditions=development --import "$IOTSAFE_TSX" "$IOTSAFE_CLI"); fi
case "\${1:-} \${2:-}" in
  "ci "*|"test "*) echo "(docs runner: 'npm $*' is what runs this test; skipped)" >&2 ;;
  "run iotsafe") shift 2; [ "\${1:-}" = -- ] && shift; exec "\${cli[@]}" "$@" ;;
  "run demo") shift 2; [ "\${1:-}" = -- ] && shift; exec "\${cli[@]}" demo "$@" ;;
  *) echo "docs runner: no stand-in for 'npm $*'" >&2; exit 127 ;;
esac
`;

/** The bash script of one documentation file: the npm stand-in, then each block after a marker. */
function scriptOf(file: string, blocks: ShellBlock[]): string {
  return [
    'set -euo pipefail',
    ...blocks.map((b) => `echo "### ${file}:${b.line}" >&2\n${b.code}`),
    'echo "### done" >&2',
  ].join('\n');
}

function runScript(
  script: string,
  cwd: string,
  bin: string,
): Promise<{ code: number | null; output: string }> {
  const file = join(bin, 'docs-run.sh');
  writeFileSync(file, script);
  writeFileSync(join(bin, 'npm'), NPM_SHIM, { mode: 0o755 });
  // its own process group (detached), so everything it started can be stopped together; bash dies
  // with this process, and its background jobs with bash (pdeathsig).
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', 'bash', file], {
    cwd,
    detached: true,
    env: {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      HOME: cwd,
      IOTSAFE_CLI: CLI_MAIN,
      IOTSAFE_TSX: TSX,
      ...(CLI_BUNDLE ? { IOTSAFE_CLI_BUNDLE: CLI_BUNDLE } : {}),
      LANG: 'C.UTF-8',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  return new Promise((resolve) => {
    child.once('close', (code) => {
      try {
        process.kill(-child.pid!, 'SIGKILL'); // servers the file left running
      } catch {
        // the group is already gone
      }
      resolve({ code, output });
    });
  });
}

const files = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

describe('the documentation runs as written', () => {
  test('the block extractor takes ```sh only, with the line of each block', () => {
    const blocks = shellBlocks(
      'a\n```sh\necho 1\n```\n```text\nnot run\n```\n```ts\nno\n```\n```sh\necho 2\necho 3\n```\n',
    );
    assert.deepEqual(blocks, [
      { line: 3, code: 'echo 1' },
      { line: 12, code: 'echo 2\necho 3' },
    ]);
  });

  test('no block runs the test suite or the install (the runner skips them)', () => {
    for (const file of files)
      for (const block of shellBlocks(readFileSync(join(ROOT, file), 'utf8')))
        assert.doesNotMatch(block.code, /\bnpm (install|i)\b/, `${file}:${block.line} installs packages`);
  });

  for (const file of files) {
    const blocks = shellBlocks(readFileSync(join(ROOT, file), 'utf8'));
    if (blocks.length === 0) continue;
    test(`${file}: ${blocks.length} shell blocks`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'iotsafe-docs-'));
      const bin = mkdtempSync(join(tmpdir(), 'iotsafe-docs-bin-'));
      try {
        const { code, output } = await runScript(scriptOf(file, blocks), dir, bin);
        const at = [...output.matchAll(/^### (.*)$/gm)].pop()?.[1];
        assert.equal(code, 0, `${file} failed in the block at ${at}:\n${output.slice(-4000)}`);
        assert.equal(at, 'done');
      } finally {
        rmSync(dir, { recursive: true, force: true });
        rmSync(bin, { recursive: true, force: true });
      }
    });
  }
});
