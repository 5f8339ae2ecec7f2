// Command APDU builders for every IoT SAFE command (GSMA IoT.05). The CLA carries the channel;
// callers pick 8N (default) or 0N. Commands with data are sent without Le (case 3), as every public
// trace shows; responses then come directly (T=1) or through 61xx + GET RESPONSE (T=0).
import { type CommandApdu, command, EMPTY } from '../apdu.js';
import type { HashAlgorithm } from '../crypto/hash.js';
import { INFO_TAG, INS, type ObjectClass } from './constants.js';
import {
  type DhRequest,
  encodeDhRequest,
  encodeHkdfRequest,
  encodePrfRequest,
  encodeSignatureInit,
  type HkdfRequest,
  PRF_MODE_BYTE,
  type PrfRequest,
  type SignatureInit,
} from './messages.js';
import { encodeObjectRef, type ObjectRef } from './objects.js';

export const UPDATE_LAST = 0x80;
export const UPDATE_MORE = 0x00;
export const INIT_OPEN = 0x00;
export const INIT_CLOSE = 0x01;

export const buildGetRandom = (cla: number, length: number) =>
  command(cla, INS.GET_RANDOM, 0, 0, EMPTY, length);
export const buildGetApplicationInfo = (cla: number) => command(cla, INS.GET_DATA, 0x00, 0x00, EMPTY, 256);
/** P2 = 00 for the first page, 01 for the next ones after 6300. */
export const buildGetObjectList = (cla: number, next: boolean) =>
  command(cla, INS.GET_DATA, 0x01, next ? 0x01 : 0x00, EMPTY, 256);
export const buildGetObjectInfo = (cla: number, objectClass: ObjectClass, ref: ObjectRef) =>
  command(cla, INS.GET_DATA, INFO_TAG[objectClass], 0x00, encodeObjectRef(objectClass, ref));

export function buildReadFile(cla: number, ref: ObjectRef, offset: number, le = 256): CommandApdu {
  return command(cla, INS.READ_FILE, (offset >> 8) & 0xff, offset & 0xff, encodeObjectRef('file', ref), le);
}

export const buildGenerateKeyPair = (cla: number, ref: ObjectRef) =>
  command(cla, INS.GENERATE_KEY_PAIR, 0, 0, encodeObjectRef('privateKey', ref));
export const buildReadPublicKey = (cla: number, ref: ObjectRef) =>
  command(cla, INS.READ_PUBLIC_KEY, 0, 0, encodeObjectRef('publicKey', ref));

export const buildPutPublicKeyInit = (cla: number, session: number, ref: ObjectRef) =>
  command(cla, INS.PUT_PUBLIC_KEY_INIT, INIT_OPEN, session, encodeObjectRef('publicKey', ref));
/** INIT close: `CLA INS 01 <session> 00`, the 5-byte form every trace shows (P3 = 00, T=0 style). */
export const buildInitClose = (cla: number, ins: number, session: number) =>
  command(cla, ins, INIT_CLOSE, session, EMPTY, 256);
export const buildUpdate = (cla: number, ins: number, session: number, last: boolean, chunk: Uint8Array) =>
  command(cla, ins, last ? UPDATE_LAST : UPDATE_MORE, session, chunk);

export const buildSignInit = (cla: number, session: number, init: SignatureInit) =>
  command(cla, INS.COMPUTE_SIGNATURE_INIT, INIT_OPEN, session, encodeSignatureInit('privateKey', init));
export const buildVerifyInit = (cla: number, session: number, init: SignatureInit) =>
  command(cla, INS.VERIFY_SIGNATURE_INIT, INIT_OPEN, session, encodeSignatureInit('publicKey', init));

export const buildComputeDh = (cla: number, request: DhRequest) =>
  command(cla, INS.COMPUTE_DH, 0, 0, encodeDhRequest(request));
export const buildComputePrf = (cla: number, request: PrfRequest) =>
  command(cla, INS.COMPUTE_PRF, PRF_MODE_BYTE[request.mode], 0, encodePrfRequest(request));
export const buildComputeHkdf = (cla: number, request: HkdfRequest) =>
  command(cla, INS.COMPUTE_HKDF, request.mode === 'ikm' ? 0 : 1, 0, encodeHkdfRequest(request));

/** MANAGE CHANNEL open (card assigns, Le = 01) and close (`00 70 80 0N 00`, as Orange sends). */
export const buildOpenChannel = () => command(0x00, INS.MANAGE_CHANNEL, 0x00, 0x00, EMPTY, 1);
export const buildCloseChannel = (channel: number) =>
  command(0x00, INS.MANAGE_CHANNEL, 0x80, channel, EMPTY, 256);
/** SELECT by AID, no FCI expected (real IoT SAFE applets answer a bare 9000). */
export const buildSelect = (cla: number, aid: Uint8Array) => command(cla, INS.SELECT, 0x04, 0x00, aid);

/** Splits data across UPDATE APDUs of at most `maxChunk` bytes (the header travels only in the first). */
export function splitIntoChunks(data: Uint8Array, maxChunk = 255): Uint8Array[] {
  if (data.length === 0) return [EMPTY];
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += maxChunk) out.push(data.subarray(i, i + maxChunk));
  return out;
}

export type { HashAlgorithm };
