// The personalisation scripts of a rotation (the project's format, docs/perso-format.md), one per SCP80
// step, each applied by the card as one change: generate the new key pair beside the current one
// (A001 + A003), sign a certification request for it in the SIM (A006), write the certificate and mark
// it pending in the credential selector (A002), then commit (selector → new, A004 the old) or roll back
// (selector → old, A004 the new). A PSK rotation writes a secret container (DA, ciphered) the same way.
import {
  type CredentialSelector,
  certificationRequest,
  certificationRequestInfo,
  decodeBerTlvs,
  encodeCredentialSelector,
  hexToBytes,
  type ObjectDescriptor,
  type PersoOperation,
  SELECTOR_FILE_ID,
  SELECTOR_LABEL,
} from '@iotsafe/protocol';

/** Where a certificate credential lives: container IDs, hex. */
export interface CertificateSlot {
  key: string;
  publicKey: string;
  certificate: string;
}

/** Where a PSK lives: the secret container's ID, hex. */
export interface PskSlot {
  secret: string;
}

/** The two places a credential alternates between (the profile's current one first). */
export const DEFAULT_CERTIFICATE_SLOTS: readonly [CertificateSlot, CertificateSlot] = [
  { key: '01', publicKey: '01', certificate: '02' },
  { key: '11', publicKey: '11', certificate: '12' },
];
export const DEFAULT_PSK_SLOTS: readonly [PskSlot, PskSlot] = [{ secret: '01' }, { secret: '11' }];

const id = (hex: string) => hexToBytes(hex);
const ref = (hex: string) => ({ id: id(hex) });

// Attributes as a profile's `functions: [sign, keyGeneration, keyAgreement]` P-256 key gives them (IoT.05
// §4.2: key type 13 NIST P-256, usage 01, functions 07, signature 04 ECDSA, hash 07).
const keyDescriptor = (slot: CertificateSlot): ObjectDescriptor => ({
  objectClass: 'privateKey',
  id: id(slot.key),
  label: `rotation-key-${slot.key}`,
  access: 0x02,
  state: 0,
  keyType: 0x13,
  keyUsage: 0x01,
  cryptoFunctions: 0x07,
  signatureAlgorithms: 0x04,
  hashAlgorithms: 0x07,
  keyAgreementAlgorithms: 0x01,
});

const publicKeyDescriptor = (slot: CertificateSlot): ObjectDescriptor => ({
  objectClass: 'publicKey',
  id: id(slot.publicKey),
  label: `rotation-key-${slot.key}-public`,
  access: 0x01,
  state: 0,
  keyType: 0x13,
  keyUsage: 0x01,
  cryptoFunctions: 0x01,
  signatureAlgorithms: 0x04,
  hashAlgorithms: 0x07,
  keyAgreementAlgorithms: 0,
});

const fileDescriptor = (hex: string, label: string, fileUsage: number): ObjectDescriptor => ({
  objectClass: 'file',
  id: id(hex),
  label,
  access: 0x01,
  state: 0,
  fileUsage,
  fileSize: 0,
});

const secretDescriptor = (slot: PskSlot): ObjectDescriptor => ({
  objectClass: 'secret',
  id: id(slot.secret),
  label: `rotation-psk-${slot.secret}`,
  access: 0,
  state: 1,
  keyType: 0xa0,
  cryptoFunctions: 0x08,
  kdfAlgorithms: 0x03,
});

/** Step "generate": a fresh key container pair in `slot` (replacing any leftover) and a key pair in it. */
export function generateOps(slot: CertificateSlot): PersoOperation[] {
  return [
    { op: 'create', descriptor: keyDescriptor(slot), publicKeyId: id(slot.publicKey) },
    { op: 'create', descriptor: publicKeyDescriptor(slot) },
    { op: 'generate', ref: ref(slot.key) },
  ];
}

/** The subject of a rotated certificate's request: CN = the ICCID (the CA's profile sets the rest). */
export function requestInfoFor(iccid: string, point: Uint8Array): Uint8Array {
  return certificationRequestInfo({ commonName: iccid }, point);
}

/** Step "sign": the SIM signs the request for its new key (A006). */
export function signOps(slot: CertificateSlot, requestInfo: Uint8Array): PersoOperation[] {
  return [{ op: 'signRequest', ref: ref(slot.key), requestInfo }];
}

/** The PKCS#10 request (RFC 2986 §4.2) from the info and the SIM's ecdsa-with-SHA256 signature (DER). */
export const assembleCsr = (requestInfo: Uint8Array, signature: Uint8Array): Uint8Array =>
  certificationRequest(requestInfo, signature);

const selectorOps = (selector: CredentialSelector): PersoOperation[] => [
  { op: 'create', descriptor: fileDescriptor('0F', SELECTOR_LABEL, 0x01) },
  {
    op: 'content',
    objectClass: 'file',
    ref: { id: SELECTOR_FILE_ID },
    content: { kind: 'file', content: encodeCredentialSelector(selector) },
  },
];

/** Step "write": the certificate into the new slot's file, and the selector naming it pending. */
export function writeCertificateOps(
  slot: CertificateSlot,
  certificate: Uint8Array,
  selector: CredentialSelector,
): PersoOperation[] {
  return [
    {
      op: 'create',
      descriptor: fileDescriptor(slot.certificate, `rotation-certificate-${slot.certificate}`, 0x02),
    },
    {
      op: 'content',
      objectClass: 'file',
      ref: ref(slot.certificate),
      content: { kind: 'file', content: certificate },
    },
    ...selectorOps(selector),
  ];
}

/** Step "write" of a PSK rotation: the new secret (it travels ciphered: SPI with ciphering) and the selector. */
export function writePskOps(slot: PskSlot, psk: Uint8Array, selector: CredentialSelector): PersoOperation[] {
  return [
    { op: 'create', descriptor: secretDescriptor(slot) },
    { op: 'content', objectClass: 'secret', ref: ref(slot.secret), content: { kind: 'secret', value: psk } },
    ...selectorOps(selector),
  ];
}

/** Step "finish": the selector as it ends (one active entry), and the slot given up deleted. */
export function finishCertificateOps(
  retired: CertificateSlot,
  selector: CredentialSelector,
): PersoOperation[] {
  return [
    ...selectorOps(selector),
    { op: 'delete', objectClass: 'privateKey', ref: ref(retired.key) },
    { op: 'delete', objectClass: 'publicKey', ref: ref(retired.publicKey) },
    { op: 'delete', objectClass: 'file', ref: ref(retired.certificate) },
  ];
}

export function finishPskOps(retired: PskSlot, selector: CredentialSelector): PersoOperation[] {
  return [...selectorOps(selector), { op: 'delete', objectClass: 'secret', ref: ref(retired.secret) }];
}

/** A tag's value inside the first class object of a script's answer (C1 { 84 …, D8/DB … }). */
export function answerField(answer: Uint8Array, tag: number): Uint8Array | undefined {
  const [object] = decodeBerTlvs(answer);
  if (!object) return undefined;
  return decodeBerTlvs(object.value).find((t) => t.tag === tag)?.value;
}
