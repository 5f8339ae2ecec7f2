// A device process for the kill test: it reaches the SIM over TCP (the test serves the card in the
// vpcd framing) and the cloud over our TLS client. It says "loaded"; on "go" (stdin) it resets the card
// — a device that restarts power-cycles its SIM, so nothing a killed device left open on the card
// (a logical channel, a signature session) survives it — and then reconnects to the cloud again and
// again with the credential the SIM's selector picks (the pending one first), printing each outcome,
// until it is SIGKILLed or its stdin closes. It never writes to the SIM.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { TcpTransport } from '@iotsafe/device';
import { deviceExchangeOver } from './rotation-rig.js';

const [cardPort, cloudPort, caFile] = process.argv.slice(2) as [string, string, string];
const ca = { certificatePem: readFileSync(caFile, 'utf8') };
const lines = createInterface({ input: process.stdin });
lines.once('close', () => process.exit(0));
const say = (line: string) => process.stdout.write(`${line}\n`);
say('loaded');
lines.once('line', async () => {
  const reset = new TcpTransport({ host: '127.0.0.1', port: Number(cardPort) });
  await reset.reset();
  await reset.close();
  say('running');
  for (;;) {
    const transport = new TcpTransport({ host: '127.0.0.1', port: Number(cardPort), timeoutMs: 5000 });
    try {
      const used = await deviceExchangeOver(transport, ca, Number(cloudPort));
      say(`used ${used.role} ${used.key}`);
    } catch (error) {
      say(`error ${(error as Error).message}`);
    } finally {
      await transport.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});
