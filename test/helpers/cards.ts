// Shared fixtures for card-side and client tests: a profile exercising every container class and
// attribute, and a raw APDU helper.
import { bytesToHex, hexToBytes, parseResponseApdu } from '@iotsafe/protocol';
import type { Profile } from '@iotsafe/sim';

/** Every class, both curves, volatile keys, each key usage, secrets with each derivation. */
export const TEST_PROFILE: Profile = {
  description: 'test profile (test keys only)',
  containers: [
    {
      class: 'privateKey',
      id: '01',
      label: 'device-key',
      functions: ['sign', 'keyGeneration', 'keyAgreement'],
      key: 'generate',
      publicKeyId: '01',
    },
    { class: 'publicKey', id: '01', label: 'device-key-public', functions: ['verify'], access: ['read'] },
    {
      class: 'file',
      id: '02',
      label: 'device-certificate',
      usage: 'certificate',
      content: { hex: '30820100'.padEnd(2 * 260, 'AB') },
    },
    { class: 'file', id: '03', label: 'empty-file' },
    { class: 'file', id: '07', label: 'secret-file', access: [], content: { text: 'not readable' } },
    {
      class: 'privateKey',
      id: '04',
      label: 'ephemeral-key',
      volatile: true,
      functions: ['keyGeneration', 'keyAgreement'],
    },
    { class: 'publicKey', id: '05', label: 'peer-key', functions: ['verify', 'keyAgreement'] },
    {
      class: 'publicKey',
      id: '06',
      label: 'read-only-key',
      access: ['read'],
      key: {
        pointHex:
          '049E5B7F778B7997617C8993B6406608EFE2D3F2D6751D6B3F5F5320FFFD6A7DC9A8F6C5C1474F64D668364AE2ED8DC4C1C6C4767423B013937B4499F52C4F89A0',
      },
    },
    {
      class: 'privateKey',
      id: '08',
      label: 'tls13-key',
      usage: 'tls13CertificateVerify',
      functions: ['sign', 'keyAgreement'],
      hashes: ['sha256'],
      key: 'generate',
    },
    {
      class: 'privateKey',
      id: '09',
      label: 'brainpool-key',
      curve: 'brainpoolP256r1',
      functions: ['sign', 'keyGeneration', 'keyAgreement'],
      key: 'generate',
    },
    { class: 'privateKey', id: '0A', label: 'no-sign-key', functions: ['keyAgreement'], key: 'generate' },
    { class: 'privateKey', id: '0B', label: 'empty-key', functions: ['sign', 'keyGeneration'] },
    { class: 'secret', id: '10', label: 'psk', value: { hex: '0102030405060708090A0B0C0D0E0F10' } },
    { class: 'secret', id: '11', label: 'hkdf-only', derivations: ['hkdf'], value: { hex: 'AA'.repeat(32) } },
    { class: 'secret', id: '12', label: 'empty-secret' },
  ],
};

export interface Answer {
  data: string;
  sw: string;
}

/** Sends hex to anything with a card's transmit and returns hex data and SW. */
export function send(card: { transmit(b: Uint8Array): Uint8Array }, hex: string): Answer {
  const { data, sw } = parseResponseApdu(card.transmit(hexToBytes(hex)));
  return { data: bytesToHex(data), sw: sw.toString(16).toUpperCase().padStart(4, '0') };
}

/** The GlobalPlatform test key 404142…4F (GPPro/kaoh default): a TEST key, for tests and the demo only. */
export const GP_TEST_KEY = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);
export const GP_TEST_KEYS = { enc: GP_TEST_KEY, mac: GP_TEST_KEY, dek: GP_TEST_KEY };
