// The built-in profiles `sim create --profile` knows (docs/profile.md): the Type I and Type II layouts
// of the IoT SAFE demos, and a blank SIM for personalisation over SCP03.
import type { Profile } from './profile.js';

/**
 * Type I: ECC keys and certificate files (the layout of wolfSSL's and Thales' TLS demos, docs/profile.md):
 * a device key that signs and agrees, a client certificate file, a CA certificate file, a volatile
 * ephemeral key pair and volatile peer public keys for full handshake offload.
 */
export const TYPE1_PROFILE: Profile = {
  description: 'Type I: ECC P-256 keys and certificate files',
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
    { class: 'file', id: '02', label: 'device-certificate', usage: 'certificate' },
    { class: 'file', id: '03', label: 'ca-certificate', usage: 'certificate' },
    {
      class: 'privateKey',
      id: '04',
      label: 'ephemeral-key',
      volatile: true,
      functions: ['keyGeneration', 'keyAgreement'],
      publicKeyId: '04',
    },
    {
      class: 'publicKey',
      id: '04',
      label: 'ephemeral-key-public',
      volatile: true,
      functions: ['keyAgreement'],
      access: ['read'],
    },
    {
      class: 'publicKey',
      id: '05',
      label: 'peer-ephemeral-key',
      volatile: true,
      functions: ['keyAgreement'],
    },
    { class: 'publicKey', id: '06', label: 'peer-certificate-key', volatile: true, functions: ['verify'] },
  ],
};

/** Type II: secrets only — a PSK usable by COMPUTE PRF (TLS 1.2 PSK) and COMPUTE HKDF (TLS 1.3 PSK). */
export const TYPE2_PROFILE: Profile = {
  description: 'Type II: pre-shared secrets only',
  containers: [
    { class: 'secret', id: '01', label: 'psk', value: { generate: 32 } },
    { class: 'secret', id: '02', label: 'psk-hkdf-only', derivations: ['hkdf'], value: { generate: 32 } },
  ],
};

/** No containers: a SIM to personalise over SCP03 (`iotsafe gp perso`). */
export const BLANK_PROFILE: Profile = { description: 'blank: no containers', containers: [] };

export const BUILTIN_PROFILES: Record<string, Profile> = {
  type1: TYPE1_PROFILE,
  type2: TYPE2_PROFILE,
  blank: BLANK_PROFILE,
};
