// Extension and list codecs shared by the handshake messages (RFC 8446 §4.2): the extension list with
// its duplicate check, 16-bit value lists, ALPN (RFC 7301), key share entries (§4.2.8).
import { concatBytes, utf8 } from '@iotsafe/protocol';
import { tlsFail } from './errors.js';
import { Reader, u16, vec8, vec16 } from './wire.js';

export const extension = (type: number, body: Uint8Array) => concatBytes(u16(type), vec16(body));
export const u16List = (values: readonly number[]) => concatBytes(...values.map(u16));

/** Extensions by type; a type that appears twice is illegal_parameter (§4.2). */
export function readExtensions(r: Reader): Map<number, Uint8Array> {
  const map = new Map<number, Uint8Array>();
  if (r.remaining === 0) return map;
  const list = new Reader(r.vector16());
  while (list.remaining > 0) {
    const type = list.u16();
    const body = list.vector16();
    if (map.has(type)) tlsFail('illegal_parameter', `extension ${type} appears twice`);
    map.set(type, body);
  }
  return map;
}

export function readU16List(body: Uint8Array, lengthBytes: 1 | 2): number[] {
  const r = new Reader(body);
  const list = new Reader(lengthBytes === 1 ? r.vector8() : r.vector16());
  r.end();
  if (list.remaining % 2 !== 0) tlsFail('decode_error', 'odd-length list of 16-bit values');
  const out: number[] = [];
  while (list.remaining > 0) out.push(list.u16());
  return out;
}

export function readEmpty(body: Uint8Array | undefined): boolean {
  if (body === undefined) return false;
  if (body.length !== 0) tlsFail('decode_error', 'an extension that should be empty has content');
  return true;
}

/** ALPN in a ServerHello or EncryptedExtensions: exactly one protocol name (RFC 7301 §3.1). */
export function readSelectedAlpn(body: Uint8Array): string {
  const r = new Reader(body);
  const list = new Reader(r.vector16());
  r.end();
  const name = list.vector8();
  list.end();
  if (name.length === 0) tlsFail('decode_error', 'empty ALPN protocol name');
  return new TextDecoder().decode(name);
}

export const alpnBody = (names: readonly string[]) => vec16(concatBytes(...names.map((a) => vec8(utf8(a)))));

export interface KeyShareEntry {
  group: number;
  publicKey: Uint8Array;
}

export const keyShareEntry = (k: KeyShareEntry) => concatBytes(u16(k.group), vec16(k.publicKey));

export function readKeyShareEntry(r: Reader): KeyShareEntry {
  const group = r.u16();
  const publicKey = r.vector16();
  if (publicKey.length === 0) tlsFail('decode_error', 'empty key share');
  return { group, publicKey };
}

export interface PskIdentity {
  identity: Uint8Array;
  obfuscatedTicketAge: number;
}
