// DTLS-only handshake messages (RFC 6347 §4.2.1): HelloVerifyRequest, with a marshal and an unmarshal
// function as every other message has, so the client and the scripted test server share them.
import { concatBytes } from '@iotsafe/protocol';
import { HANDSHAKE_TYPE } from '../constants.js';
import { tlsFail } from '../errors.js';
import { handshakeMessage } from '../messages.js';
import { Reader, u16, vec8 } from '../wire.js';

export interface HelloVerifyRequest {
  serverVersion: number;
  cookie: Uint8Array;
}

/** The cookie is at most 255 bytes in DTLS 1.2 (RFC 6347 §4.2.1 raised it from 32). */
export const MAX_COOKIE = 255;

export function marshalHelloVerifyRequest(m: HelloVerifyRequest): Uint8Array {
  return handshakeMessage(
    HANDSHAKE_TYPE.HELLO_VERIFY_REQUEST,
    concatBytes(u16(m.serverVersion), vec8(m.cookie)),
  );
}

export function unmarshalHelloVerifyRequest(body: Uint8Array): HelloVerifyRequest {
  const r = new Reader(body);
  const serverVersion = r.u16();
  const cookie = r.vector8();
  r.end();
  if (serverVersion >> 8 !== 0xfe) tlsFail('protocol_version', 'a HelloVerifyRequest of another protocol');
  return { serverVersion, cookie };
}
