// The fleet bench's API clients, in a process of their own (forked by bench/fleet.ts, IPC channel):
// `clients` loops, each sending its requests one after another over keep-alive, until `requests` in
// all have been answered; answers with the latencies (ms), sorted, and the status codes seen.
import { Agent, request } from 'node:http';

export interface ClientRun {
  url: string;
  token?: string;
  paths: string[];
  clients: number;
  requests: number;
}

export interface ClientResult {
  type: 'latencies';
  latencies: number[];
  statuses: Record<string, number>;
  seconds: number;
}

function get(agent: Agent, url: URL, token: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

if (process.send) {
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (run: ClientRun) => {
    const agent = new Agent({ keepAlive: true, maxSockets: run.clients });
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let issued = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: run.clients }, async () => {
        while (issued < run.requests) {
          const path = run.paths[issued++ % run.paths.length]!;
          const at = performance.now();
          const status = await get(agent, new URL(path, run.url), run.token);
          latencies.push(performance.now() - at);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
      }),
    );
    agent.destroy();
    latencies.sort((a, b) => a - b);
    const result: ClientResult = {
      type: 'latencies',
      latencies,
      statuses,
      seconds: (performance.now() - started) / 1000,
    };
    process.send?.(result);
  });
}
