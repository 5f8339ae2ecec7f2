// `iotsafe modem probe PATH`: what a serial port is and what its modem lets the host do with the SIM —
// whether it answers AT at all (the wrong ttyUSB is the usual first mistake), who the modem is (ATI),
// the SIM PIN state (AT+CPIN?, 3GPP TS 27.007 §8.3), and whether the IoT SAFE applet is reachable
// through AT+CSIM (§8.17, with MANAGE CHANNEL and SELECT) and through AT+CCHO/AT+CGLA (§8.45–8.46).
// Every wait is bounded; nothing is left open.
import type { Duplex } from 'node:stream';
import { bytesToHex, IOTSAFE_AID } from '@iotsafe/protocol';
import { TransportError } from '../transport.js';
import { AtChannel, openSerialPort } from './at-channel.js';
import { pinState, unlockSim } from './at-modem.js';

export interface ModemProbe {
  /** The modem answered AT with OK. */
  answers: boolean;
  /** ATI's lines (manufacturer, model, revision), when it answers. */
  identity: string[];
  /** AT+CPIN? state (READY, SIM PIN, SIM PUK, …) or the modem's error. */
  pin?: string;
  /** AT+CSIM carried APDUs; `csimApplet`: the IoT SAFE applet answered SELECT through it. */
  csim: boolean;
  csimApplet: boolean;
  /** AT+CCHO opened a channel to the IoT SAFE applet (so AT+CGLA reaches it). */
  cgla: boolean;
  /** What to do next, in words. */
  advice: string[];
}

export interface ModemProbeOptions {
  /** Bound on each AT command (default 3 s). */
  timeoutMs?: number;
  baudRate?: number;
  pin?: string;
  /** The applet to look for (default the GSMA IoT SAFE AID). */
  aid?: Uint8Array;
}

const attempt = async <T>(run: () => Promise<T>): Promise<T | undefined> => {
  try {
    return await run();
  } catch (error) {
    if (error instanceof TransportError) return undefined;
    throw error;
  }
};

const csimPayload = (lines: string[]) => /"?([0-9A-Fa-f]{4,})"?\s*$/.exec(lines[0] ?? '')?.[1]?.toUpperCase();

/** Probes a modem over a connected stream; the stream is closed afterwards. */
export async function probeModemStream(stream: Duplex, options: ModemProbeOptions = {}): Promise<ModemProbe> {
  const at = new AtChannel(stream, options.timeoutMs ?? 3000);
  const result: ModemProbe = {
    answers: false,
    identity: [],
    csim: false,
    csimApplet: false,
    cgla: false,
    advice: [],
  };
  try {
    result.answers = (await attempt(() => at.command('AT', ''))) !== undefined;
    if (!result.answers) {
      result.advice.push(
        "no answer to AT: this is not the AT port (try the modem's other ttyUSB/ttyACM ports), or another program (ModemManager) holds it",
      );
      return result;
    }
    await attempt(() => at.command('ATE0', ''));
    await attempt(() => at.command('AT+CMEE=1', ''));
    result.identity = (await attempt(() => at.command('ATI', '*'))) ?? [];
    try {
      result.pin = pinState(await at.command('AT+CPIN?', '+CPIN'));
      if (result.pin === 'SIM PIN' && options.pin !== undefined) {
        await unlockSim(at, options.pin);
        result.pin = 'READY';
      }
    } catch (error) {
      result.pin = (error as Error).message;
    }
    if (result.pin !== 'READY') {
      result.advice.push(
        result.pin === 'SIM PIN'
          ? 'the SIM wants its PIN: pass --pin (or IOTSAFE_SIM_PIN)'
          : `the SIM is not ready (${result.pin}): is a SIM inserted?`,
      );
      return result;
    }
    const aid = options.aid ?? IOTSAFE_AID;
    // AT+CSIM: MANAGE CHANNEL open, SELECT the applet on it, close the channel.
    const opened = await attempt(() => at.command('AT+CSIM=10,"0070000001"', '+CSIM'));
    const openedHex = opened && csimPayload(opened);
    if (openedHex) {
      result.csim = true;
      if (openedHex.length === 6 && openedHex.endsWith('9000')) {
        const channel = Number.parseInt(openedHex.slice(0, 2), 16);
        const select = `${bytesToHex(Uint8Array.of(channel & 0x03, 0xa4, 0x04, 0x00, aid.length))}${bytesToHex(aid)}`;
        const selected = await attempt(() => at.command(`AT+CSIM=${select.length},"${select}"`, '+CSIM'));
        const sw = selected && csimPayload(selected)?.slice(-4);
        result.csimApplet = sw === '9000' || sw?.startsWith('61') === true;
        const close = bytesToHex(Uint8Array.of(0x00, 0x70, 0x80, channel, 0x00));
        await attempt(() => at.command(`AT+CSIM=${close.length},"${close}"`, '+CSIM'));
      }
    }
    // AT+CCHO: the modem opens the channel and selects the applet itself.
    const session = await attempt(() => at.command(`AT+CCHO="${bytesToHex(aid)}"`, '+CCHO'));
    const id = /^\+CCHO:\s*"?(\d+)"?/.exec(session?.[0] ?? '')?.[1];
    if (id !== undefined) {
      result.cgla = true;
      await attempt(() => at.command(`AT+CCHC=${id}`, ''));
    }
    if (result.csimApplet)
      result.advice.push('the IoT SAFE applet answers through AT+CSIM: use --modem PATH');
    if (result.cgla)
      result.advice.push(
        `the IoT SAFE applet answers through AT+CCHO/AT+CGLA: use --modem PATH --at-mode cgla${result.csimApplet ? ' (if AT+CSIM is refused on logical channels)' : ''}`,
      );
    if (!result.csimApplet && !result.cgla)
      result.advice.push(
        result.csim
          ? 'AT+CSIM works but the IoT SAFE applet did not answer: is it on this SIM (another AID? --aid)'
          : 'neither AT+CSIM nor AT+CCHO reached the SIM: this modem may not allow APDU access (docs/hardware.md)',
      );
    return result;
  } finally {
    await at.close();
  }
}

export async function probeModem(path: string, options: ModemProbeOptions = {}): Promise<ModemProbe> {
  return probeModemStream(await openSerialPort(path, options.baudRate), options);
}
