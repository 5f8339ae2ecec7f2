// The iotsafe command in a child process, for CLI tests: run to completion, or start a long-running
// command (sim serve, ota network, ota serve) and wait for the line that says where it listens.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../../packages/cli/src/main.ts', import.meta.url));
/** The bundle `npm test` builds once for the run (scripts/bundle.mjs); the sources under tsx otherwise. */
export const CLI_BUNDLE = process.env.IOTSAFE_TEST_CLI_BUNDLE;
const NODE_ARGS = CLI_BUNDLE ? [CLI_BUNDLE] : ['--conditions=development', '--import', 'tsx', CLI_MAIN];
/** Background commands die with the test process even when it is killed (util-linux setpriv). */
const DIE_WITH_PARENT = ['--pdeathsig', 'KILL', process.execPath];

const environment = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', ...env });

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the command to completion, with only PATH and `env` in its environment. It blocks this process:
 * for a command that talks to a server of this test process, use spawnCli.
 */
export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], { encoding: 'utf8', env: environment(env) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The command as a child process with piped stdio, this process free to serve it meanwhile. */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawn('setpriv', [...DIE_WITH_PARENT, ...NODE_ARGS, ...args], { env: environment(env) });
}

/**
 * Runs the command to completion as a child process (this process stays free to serve it), with
 * `stdin` written and closed; its exit code and output.
 */
export async function runCliAsync(
  args: string[],
  env: Record<string, string> = {},
  stdin = '',
): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  child.stdin.end(stdin);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

export interface Background {
  /** The match of `ready` in the command's output. */
  match: RegExpExecArray;
  output: () => string;
  /** stdout alone (a --json document). */
  stdout: () => string;
  /** The exit code, once the command ends by itself. */
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
  /** This signal (SIGINT: Ctrl-C), then the exit code. */
  signal: (signal: NodeJS.Signals) => Promise<number | null>;
}

export async function startCli(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Background> {
  const child = spawn('setpriv', [...DIE_WITH_PARENT, ...NODE_ARGS, ...args], {
    env: environment(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  child.stdout.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const signal = (sig: NodeJS.Signals) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.once('exit', (code) => resolve(code));
      child.kill(sig);
    });
  const stop = () => signal('SIGTERM');
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`iotsafe ${args[0]} did not start: ${out}`)), 15_000);
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`iotsafe ${args.join(' ')} exited: ${out}`));
      } else setTimeout(check, 30);
    };
    check();
  }).catch(async (error) => {
    await stop();
    throw error;
  });
  return { match, output: () => out, stdout: () => stdout, exited, stop, signal };
}
