// Puts the emulated modem on a serial device — one side of a pty pair made by socat — so a device
// stack opens the other side as if it were a real modem (iotsafe sim serve --modem).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Card } from '../card/runtime.js';
import { EmulatedModem, type ModemOptions } from './modem.js';

export interface ServedModem {
  /** The path the device opens (like /dev/ttyUSB2 on a real board). */
  devicePath: string;
  modem: EmulatedModem;
  stop(): Promise<void>;
}

/** Creates a pty pair with socat in `dir`, attaches the emulated modem to one side, returns the other. */
export async function serveModem(
  card: Card,
  dir: string,
  options: ModemOptions & { baudRate?: number } = {},
): Promise<ServedModem> {
  const { SerialPort } = await import('serialport');
  const devicePath = join(dir, 'modem');
  const simPath = join(dir, 'modem-sim-side');
  const socat = spawn(
    'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${devicePath}`, `pty,raw,echo=0,link=${simPath}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  socat.stderr.on('data', (d) => {
    log += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socat did not create the pty pair: ${log}`)), 5000);
    const check = () => {
      if (existsSync(devicePath) && existsSync(simPath) && /starting data transfer loop/.test(log)) {
        clearTimeout(timer);
        resolve();
      } else if (socat.exitCode !== null) {
        clearTimeout(timer);
        reject(new Error(`socat exited: ${log}`));
      } else setTimeout(check, 10);
    };
    check();
  });
  const port = new SerialPort({ path: simPath, baudRate: options.baudRate ?? 115_200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const modem = new EmulatedModem(card, (text) => port.write(text, 'latin1'), options);
  port.on('data', (chunk: Buffer) => modem.receive(chunk.toString('latin1')));
  return {
    devicePath,
    modem,
    stop: async () => {
      await new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve()));
      if (socat.exitCode === null) {
        const exited = new Promise<void>((resolve) => socat.once('exit', () => resolve()));
        socat.kill();
        await exited;
      }
    },
  };
}
