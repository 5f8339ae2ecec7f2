// The TLS 1.2-and-below key schedule after the master secret: the PRF of the negotiated version (RFC
// 5246 §5; RFC 2246 §5 for TLS 1.0 and 1.1), the handshake hash Finished and the session hash take
// (RFC 5246 §7.4.9, RFC 2246 §7.4.9, RFC 7627 §3), and the key block cut into each direction's record
// protection (RFC 5246 §6.3).
import { concatBytes, type HashAlgorithm, tls12Prf, utf8 } from '@iotsafe/protocol';
import { TLS10, TLS12 } from '../constants.js';
import type { Transcript } from '../key-schedule.js';
import { MacThenEncryptCipher } from '../record/mac-then-encrypt.js';
import type { RecordCipher } from '../record/protection.js';
import { legacyPrf, md5Sha1 } from './legacy-prf.js';
import { Tls12RecordCipher } from './protection.js';
import type { Suite12 } from './suites.js';

/** PRF(secret, label, seed) of `version`: P_<hash> for TLS 1.2, MD5 ⊕ SHA-1 below. */
export function prf(
  hash: HashAlgorithm,
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
  version = TLS12,
): Uint8Array {
  const labelAndSeed = concatBytes(utf8(label), seed);
  return version < TLS12
    ? legacyPrf(secret, labelAndSeed, length)
    : tls12Prf(secret, labelAndSeed, length, hash);
}

/** The hash of the handshake so far: the suite's hash in TLS 1.2, MD5 ‖ SHA-1 in TLS 1.0 and 1.1. */
export function handshakeHash(transcript: Transcript, version = TLS12): Uint8Array {
  return version < TLS12 ? md5Sha1(transcript.concatenated()) : transcript.digest();
}

/**
 * key_block = PRF(master, "key expansion", server_random ‖ client_random) (RFC 5246 §6.3), cut into
 * the MAC keys (MAC-then-encrypt suites), the cipher keys and the IVs: the AEAD salt, or the CBC IV
 * that only TLS 1.0 takes from here.
 */
export function tls12KeyBlock(
  suite: Suite12,
  master: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  version = TLS12,
): { client: RecordCipher; server: RecordCipher } {
  const cbc = suite.macThenEncrypt;
  const macLength = cbc?.macLength ?? 0;
  const { keyLength } = suite;
  const ivLength = cbc && version !== TLS10 ? 0 : suite.fixedIvLength;
  const seed = concatBytes(serverRandom, clientRandom);
  const block = prf(
    suite.hash,
    master,
    'key expansion',
    seed,
    2 * (macLength + keyLength + ivLength),
    version,
  );
  let at = 0;
  const cut = (n: number) => {
    at += n;
    return block.subarray(at - n, at);
  };
  const [clientMac, serverMac] = [cut(macLength), cut(macLength)];
  const [clientKey, serverKey] = [cut(keyLength), cut(keyLength)];
  const [clientIv, serverIv] = [cut(ivLength), cut(ivLength)];
  if (cbc)
    return {
      client: new MacThenEncryptCipher(cbc, version, clientMac, clientKey, clientIv, 'seal'),
      server: new MacThenEncryptCipher(cbc, version, serverMac, serverKey, serverIv, 'open'),
    };
  return {
    client: new Tls12RecordCipher(suite, clientKey, clientIv),
    server: new Tls12RecordCipher(suite, serverKey, serverIv),
  };
}
