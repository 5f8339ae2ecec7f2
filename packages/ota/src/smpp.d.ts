// The parts of smpp@0.5.1 this package uses (it ships no types).
declare module 'smpp' {
  import type { EventEmitter } from 'node:events';
  import type { Server as NetServer } from 'node:net';

  export interface Pdu {
    command: string;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    response(fields?: Record<string, unknown>): Pdu;
  }
  export interface Session extends EventEmitter {
    send(pdu: Pdu, response?: (pdu: Pdu) => void): boolean;
    close(callback?: () => void): void;
    destroy(callback?: () => void): void;
    socket: import('node:net').Socket;
    [command: string]: unknown;
  }
  export interface Server extends NetServer {
    sessions: Session[];
  }
  export function connect(options: { host: string; port: number }, listener?: () => void): Session;
  export function createServer(listener: (session: Session) => void): Server;
  export const PDU: new (command: string, fields?: Record<string, unknown>) => Pdu;
}
