// The parts of smpp@0.5.1 this package uses (it ships no types), as lib/smpp.js and lib/pdu.js define
// them: a PDU is a bag of decoded fields, a Session one TCP connection, a Server a net.Server.
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer, Socket } from 'node:net';

  export interface Pdu {
    command: string;
    command_id: number;
    command_length: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    /** The matching *_resp (generic_nack for an unknown command), with the same sequence number. */
    response(fields?: Record<string, unknown>): Pdu;
    toBuffer(): Buffer;
  }

  /** How a PDU field is read and written (lib/defs.js `types`). */
  export interface FieldType {
    read(buffer: Buffer, offset: number, length?: number): unknown;
    write(value: unknown, buffer: Buffer, offset: number): void;
    size(value: unknown): number;
    default: unknown;
  }

  export interface CommandDefinition {
    id: number;
    params?: Record<string, { type: FieldType; default?: unknown; filter?: unknown }>;
    tlvMap?: Record<string, string>;
  }

  export interface Session extends EventEmitter {
    /**
     * Writes a PDU (a request gets the next sequence number); `response` is called with the *_resp
     * that carries the same sequence number, `sent` once the bytes are written. False when the socket
     * is no longer writable: nothing was sent.
     */
    send(pdu: Pdu, response?: (pdu: Pdu) => void, sent?: (pdu: Pdu) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    socket: Socket;
    [command: string]: unknown;
  }
  export interface Server extends NetServer {
    sessions: Session[];
  }
  export function connect(options: { host: string; port: number }, listener?: () => void): Session;
  export function createServer(listener: (session: Session) => void): Server;
  /** Replaces (or adds) a command definition, e.g. to read a field differently. */
  export function addCommand(command: string, definition: CommandDefinition): void;
  export const commands: Record<string, CommandDefinition>;
  /** `new PDU(command, fields)` builds a PDU; `new PDU(buffer)` decodes one (and may throw). */
  export const PDU: {
    new (command: string, fields?: Record<string, unknown>): Pdu;
    new (buffer: Buffer): Pdu;
    maxLength: number;
  };
}
