// What a COMPUTE SIGNATURE sends, worked out on the host (IoT.05 §3.6): the digest, the message in full,
// or the hash state of its whole blocks and the last block; and whether a session opened early
// (openSignature) was opened for the same key, hash and mode.
import {
  digest,
  HASH_BLOCK_LENGTH,
  type HashAlgorithm,
  intermediateHashState,
  type ObjectRef,
  type SignatureInput,
  type SignMode,
} from '@iotsafe/protocol';
import type { OpenedSignature, SignPayload } from './iotsafe-types.js';

export function sameInit(
  opened: OpenedSignature,
  key: ObjectRef,
  hash: HashAlgorithm,
  mode: SignMode,
): boolean {
  return opened.hash === hash && opened.mode === mode && sameRef(opened.key, key);
}

function sameRef(a: ObjectRef, b: ObjectRef): boolean {
  if ('id' in a && 'id' in b) return Buffer.from(a.id).equals(b.id);
  return 'label' in a && 'label' in b && a.label === b.label;
}

export function signatureInput(mode: SignMode, hash: HashAlgorithm, payload: SignPayload): SignatureInput {
  if (mode === 'padAndSign')
    return { mode, hash: 'digest' in payload ? payload.digest : digest(hash, payload.message) };
  if (!('message' in payload)) throw new TypeError(`${mode} mode signs a message, not a digest`);
  if (mode === 'fullText') return { mode, data: payload.message };
  // Last block: the host hashes whole blocks, the card finishes with the rest (1..block bytes).
  const block = HASH_BLOCK_LENGTH[hash];
  const split = Math.max(0, Math.floor((payload.message.length - 1) / block) * block);
  return {
    mode,
    intermediateHash: intermediateHashState(hash, payload.message.subarray(0, split)),
    bytesHashed: split,
    lastBlock: payload.message.subarray(split),
  };
}
