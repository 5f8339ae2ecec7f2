// Human-readable traces of CoAP messages (for --trace and logs): type, code, IDs, options, payload size.
import { decodeBlock } from './block.js';
import { describeCode } from './codes.js';
import { contentFormatName } from './content-format.js';
import { type CoapMessage, MESSAGE_TYPE_NAMES } from './message.js';
import { type CoapOption, decodeUint, OptionNumber, optionDefinition, optionName } from './options.js';

export type TraceKind = 'send' | 'retransmit' | 'receive' | 'duplicate' | 'discard' | 'timeout' | 'error';

export interface TraceEvent {
  kind: TraceKind;
  /** The decoded message; absent for a datagram that does not decode. */
  message?: CoapMessage;
  /** The bytes on the wire (empty for a transport 'error'). */
  datagram: Uint8Array;
  /** 1 for the first retransmission, and so on. */
  attempt?: number;
  reason?: string;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');

export function describeOption(option: CoapOption): string {
  const name = optionName(option.number);
  const definition = optionDefinition(option.number);
  try {
    if (option.number === OptionNumber.Block1 || option.number === OptionNumber.Block2) {
      const b = decodeBlock(option.value);
      return `${name}:${b.num}/${b.more ? 1 : 0}/${1 << (b.szx + 4)}`;
    }
    if (option.number === OptionNumber.ContentFormat || option.number === OptionNumber.Accept) {
      const n = decodeUint(option.value);
      return `${name}:${contentFormatName(n) ?? n}`;
    }
    if (definition?.format === 'uint') return `${name}:${decodeUint(option.value)}`;
    if (definition?.format === 'string')
      return `${name}:${JSON.stringify(Buffer.from(option.value).toString('utf8'))}`;
    if (definition?.format === 'empty') return name;
  } catch {
    // a malformed value is shown as hex below
  }
  return `${name}:0x${hex(option.value)}`;
}

/** "CON 0.01 GET mid=0x1234 token=a1b2 Uri-Path:"time" payload=12B" */
export function describeMessage(message: CoapMessage): string {
  const parts = [
    MESSAGE_TYPE_NAMES[message.type],
    describeCode(message.code),
    `mid=0x${message.messageId.toString(16).padStart(4, '0')}`,
  ];
  if (message.token.length > 0) parts.push(`token=${hex(message.token)}`);
  for (const option of message.options) parts.push(describeOption(option));
  if (message.payload.length > 0) parts.push(`payload=${message.payload.length}B`);
  return parts.join(' ');
}

/** One line per event: "-> CON 0.01 GET ..." / "<- ACK 2.05 Content ..." / "~> retransmit 2 ..." */
export function formatTraceEvent(event: TraceEvent): string {
  const what = event.message
    ? describeMessage(event.message)
    : `${event.datagram.length} bytes 0x${hex(event.datagram.subarray(0, 16))}`;
  switch (event.kind) {
    case 'send':
      return `-> ${what}`;
    case 'retransmit':
      return `~> retransmission ${event.attempt}: ${what}`;
    case 'receive':
      return `<- ${what}`;
    case 'duplicate':
      return `<= duplicate: ${what}`;
    case 'discard':
      return `x- discarded (${event.reason}): ${what}`;
    case 'error':
      return `!! transport: ${event.reason}`;
    case 'timeout':
      return `!! no acknowledgement after ${event.attempt} retransmissions: ${what}`;
  }
}
