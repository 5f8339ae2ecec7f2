// --trace and progress for the OTA commands: every SMS the server sends or receives on its SMPP link
// (and every ENVELOPE a test-network handset gives its card), decoded — SPI, KIc/KID, TAR, CNTR, the
// script's C-APDUs, the PoR — with key material redacted: the data of PUT KEY, STORE DATA and PIN
// commands never appears (ETSI TS 102 225 §5, TS 102 226 §5.1 compact scripts).
import type { HandsetCard, SmsLink } from '@iotsafe/ota';
import {
  bytesToHex,
  decodeCommandHeader,
  decodeCompactScript,
  decodeResponsePacket,
  decodeSmsDeliver,
  decodeSmsPpDownload,
  decodeUserDataHeader,
  IEI_COMMAND_PACKET,
  type OtaKeys,
  openCommandPacket,
  type ResponseSecurity,
  SmsReassembler,
  type Spi,
  scriptFormat,
} from '@iotsafe/protocol';
import { porStatusName } from './errors.js';
import { progress } from './output.js';

type Trace = (line: string) => void;

/** INS whose data carries keys or PINs (GP PUT KEY, STORE DATA; ISO VERIFY, CHANGE, UNBLOCK PIN). */
const SECRET_INS = new Set([0xd8, 0xe2, 0x20, 0x24, 0x2c]);

/** A C-APDU for the trace: its header and, unless it may carry a secret, its data. */
export function describeCommand(apdu: Uint8Array): string {
  const header = bytesToHex(apdu.subarray(0, Math.min(5, apdu.length)));
  if (apdu.length <= 5) return header;
  return SECRET_INS.has(apdu[1]!)
    ? `${header} <${apdu.length - 5} bytes redacted>`
    : `${header} ${bytesToHex(apdu.subarray(5))}`;
}

export function describeSpi(spi: Spi): string {
  const por =
    spi.por === 'none'
      ? 'no PoR'
      : `PoR ${spi.por} (${spi.porCiphered ? 'ciphered' : 'clear'}, ${spi.porIntegrity.toUpperCase()}, via ${spi.porViaSubmit ? 'SMS-SUBMIT' : 'DELIVER-REPORT'})`;
  return `${spi.ciphered ? 'ciphered' : 'clear'}, ${spi.integrity.toUpperCase()}, counter ${spi.counter}, ${por}`;
}

/** The header of a command packet (in clear on the wire), and its script when the keys are known. */
function describePacket(packet: Uint8Array, keys: OtaKeys | undefined): string[] {
  const header = decodeCommandHeader(packet);
  const lines = [
    `  SPI ${bytesToHex(header.spiBytes)} (${describeSpi(header.spi)}), KIc ${bytesToHex(Uint8Array.of(header.kic))}, KID ${bytesToHex(Uint8Array.of(header.kid))}, TAR ${bytesToHex(header.tar)}`,
  ];
  if (!keys) return [...lines, `  ${packet.length} bytes, secured (no keys here to open it)`];
  try {
    const opened = openCommandPacket(packet, keys);
    const format = scriptFormat(opened.data);
    const commands = format === 'compact' ? decodeCompactScript(opened.data) : [];
    lines.push(
      `  CNTR ${opened.counter}, ${format} script${commands.length ? `: ${commands.map(describeCommand).join(' | ')}` : ` of ${opened.data.length} bytes`}`,
    );
  } catch (error) {
    lines.push(`  cannot open it: ${(error as Error).message}`);
  }
  return lines;
}

interface TracedLinkOptions {
  trace?: Trace;
  /** The keys of the SIM at `msisdn` for KIc byte `kic` (the server's key store). */
  keys: (msisdn: string, kic: number) => OtaKeys | undefined | Promise<OtaKeys | undefined>;
  /** Per-attempt PoR wait and attempts, for the progress line (none without them: a server). */
  timeoutMs?: number;
  attempts?: number;
}

/**
 * The SMPP link with a trace of every SMS, and a progress line while a PoR is awaited: each first
 * part sent is an attempt (OtaServer retries with a new counter), ended by the next PoR received.
 */
export function observedLink(link: SmsLink, options: TracedLinkOptions): SmsLink & { stopProgress(): void } {
  const reassembler = new SmsReassembler();
  const sent = new Map<string, { security: ResponseSecurity; keys: OtaKeys }>();
  let attempt = 0;
  let stop: (() => void) | undefined;
  const trace = options.trace;
  return {
    async submit(to, userData) {
      const { elements, body } = decodeUserDataHeader(userData);
      const whole = reassembler.add(`to ${to}`, elements, body);
      trace?.(
        `SMS → ${to}: ${userData.length} bytes of user data${whole ? '' : ' (a part of a concatenated SMS)'}`,
      );
      if (whole?.elements.some((e) => e.iei === IEI_COMMAND_PACKET)) {
        const header = decodeCommandHeader(whole.body);
        const keys = await Promise.resolve(options.keys(to, header.kic)).catch(() => undefined);
        if (keys)
          sent.set(`${to}/${bytesToHex(header.tar)}`, {
            security: { spi: header.spi, kic: header.kic, kid: header.kid },
            keys,
          });
        for (const line of describePacket(whole.body, keys)) trace?.(line);
        stop?.();
        attempt++;
        const n = attempt;
        const { timeoutMs, attempts } = options;
        if (timeoutMs !== undefined && attempts !== undefined)
          stop = progress(
            () =>
              `waiting for the PoR from ${to} (attempt ${n} of ${attempts}, up to ${timeoutMs / 1000} s each)`,
          );
      }
      return link.submit(to, userData);
    },
    onMessage(handler) {
      link.onMessage((from, userData) => {
        trace?.(`SMS ← ${from}: ${userData.length} bytes of user data`);
        if (userData[0] === 0x02 && userData[1] === 0x71 && userData.length >= 9) {
          stop?.();
          const context = sent.get(`${from}/${bytesToHex(userData.subarray(6, 9))}`);
          if (context) {
            try {
              const por = decodeResponsePacket(userData, context.security, context.keys);
              trace?.(
                `  PoR TAR ${bytesToHex(por.tar)}, CNTR ${por.counter}, status ${porStatusName(por.status)}${por.data.length ? `, data ${bytesToHex(por.data)}` : ''}`,
              );
            } catch (error) {
              trace?.(`  a PoR that does not open: ${(error as Error).message}`);
            }
          }
        }
        handler(from, userData);
      });
    },
    close: () => link.close(),
    stopProgress: () => stop?.(),
  };
}

/** A handset's card with a trace of the ENVELOPEs it gets (SMS-PP download) and what it answers. */
export function tracedCard(card: HandsetCard, trace: Trace): HandsetCard {
  return {
    transmit(command) {
      const response = card.transmit(command);
      if (command[1] === 0xc2 && command.length > 5) {
        try {
          const sms = decodeSmsDeliver(decodeSmsPpDownload(command.subarray(5)));
          trace(
            `ENVELOPE → card: SMS-DELIVER from ${sms.originator.digits}, ${sms.userData.length} bytes of user data`,
          );
          const { elements, body } = decodeUserDataHeader(sms.userData);
          if (elements.some((e) => e.iei === IEI_COMMAND_PACKET))
            for (const line of describePacket(body, undefined)) trace(line);
        } catch (error) {
          trace(`ENVELOPE → card: ${(error as Error).message}`);
        }
        trace(`← card: ${response.length - 2} bytes, SW ${bytesToHex(response.subarray(-2))}`);
      }
      return response;
    },
  };
}
