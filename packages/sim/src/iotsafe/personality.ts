// Real-applet personalities: the behaviours of docs/personalities.md as named presets, so a
// client is tested against every variant seen on real cards. `reference` is this project's reading of
// IoT.05 where implementations disagree; each other preset names its source.
import type { AppInfoTagStyle, FullTextLength } from '@iotsafe/protocol';
import type { TransmissionProtocol } from '../card/runtime.js';

export interface Personality {
  name: string;
  description: string;
  protocol: TransmissionProtocol;
  /** Which CLA families IoT SAFE commands accept: 0N and 8N (real applets, §1.3), or one of them. */
  classes: 'both' | 'proprietary' | 'interindustry';
  /** Tag 33 length bytes in COMPUTE SIGNATURE answers (§2.2). */
  signatureLengthBytes: 1 | 2;
  /** Object list with C1–C4 wrappers or flat descriptors (§3.2). */
  objectList: 'wrapped' | 'flat';
  /** Length byte of tag 92 in object descriptors: 1, or 2 with one byte of value (Thales MVP trace, §3.2). */
  signatureAlgorithmsLength: 1 | 2;
  /** Capability tags 90/93 (spec) or 61/6F (Thales MVP) (§3.2). */
  appInfoTags: AppInfoTagStyle;
  /** GENERATE KEY PAIR answer: 84 ID 85 ID 34 … or only 34 … (m33mu / what wolfSSL parses) (§3.4). */
  keygenResponse: 'idsAndKey' | 'keyOnly';
  /** Public key ID when a private key has no declared partner: its own ID, or the next one (ZARIOT 001→002). */
  keygenPublicId: 'same' | 'next';
  /** COMPUTE HKDF refuses an empty salt (Thales, Kigen; §3.11). */
  hkdfRejectsEmptySalt: boolean;
  /** Largest READ FILE answer (≤ 256; m33mu 240). */
  readFileMaxChunk: number;
  /** SW for a READ FILE offset at or past the end: 6A86 or 6981 (both in the SW table, §3.3). */
  readFileOffsetSw: number;
  /** SW for closing a session that is not open: 6A86 (Kigen-class) or 9000 (lenient). */
  closeUnopenedSessionSw: number;
  /** Open sessions per command family (GET DATA B7). */
  maxSessions: number;
  /**
   * INIT open on a session whose final UPDATE has run reopens it (the operation is over), as Thales
   * applets must for the Thales middleware, which never closes (docs/personalities.md); otherwise 6985 until
   * INIT close (the O/K "close first" pattern). A session still taking UPDATEs always answers 6985.
   */
  reopenFinishedSession: boolean;
  /** Object list bytes per GET DATA answer before 6300 paging. */
  objectListPageSize: number;
  multiSelectable: boolean;
  implicitChannelOpen: boolean;
  channels: number;
  /** Volatile containers are also cleared when a channel the applet was selected on closes. */
  clearVolatileOnDeselect: boolean;
  proprietaryId: string;
  /** Length of full-text data (tag 9B): auto-detected, or always a fixed 3 bytes (Kigen; ZARIOT's 6985 fits it). */
  fullTextLength: FullTextLength;
  /** SW for malformed data in a final UPDATE: 6A80, or 6985 as a ZARIOT card answered (docs/personalities.md). */
  updateFormatErrorSw: number;
}

export const REFERENCE: Personality = {
  name: 'reference',
  description: "this project's reading of IoT.05 (2-byte signature length, wrapped list, tags 90/93, T=1)",
  protocol: 'T=1',
  classes: 'both',
  signatureLengthBytes: 2,
  objectList: 'wrapped',
  signatureAlgorithmsLength: 1,
  appInfoTags: 'spec',
  keygenResponse: 'idsAndKey',
  keygenPublicId: 'same',
  hkdfRejectsEmptySalt: false,
  readFileMaxChunk: 256,
  readFileOffsetSw: 0x6a86,
  closeUnopenedSessionSw: 0x6a86,
  maxSessions: 4,
  reopenFinishedSession: true,
  objectListPageSize: 255,
  multiSelectable: true,
  implicitChannelOpen: false,
  channels: 4,
  clearVolatileOnDeselect: false,
  proprietaryId: 'iotsafe-stack virtual applet',
  updateFormatErrorSw: 0x6a80,
  fullTextLength: 'auto',
};

export const PERSONALITIES: Record<string, Personality> = {
  reference: REFERENCE,
  'thales-mvp': {
    ...REFERENCE,
    name: 'thales-mvp',
    description:
      'Thales MVP applet (quantag traces): 33 LL signature, flat object list with tag 92 declaring 2 bytes for 1, tags 61/6F, 1 session, no empty HKDF salt',
    signatureLengthBytes: 1,
    objectList: 'flat',
    signatureAlgorithmsLength: 2,
    appInfoTags: 'thalesMvp',
    hkdfRejectsEmptySalt: true,
    maxSessions: 1,
    objectListPageSize: 120,
    proprietaryId: 'Thales IoT SAFE MVP (virtual)',
  },
  zariot: {
    ...REFERENCE,
    reopenFinishedSession: false,
    name: 'zariot',
    description:
      'ZARIOT SIM (atsign traces): T=0 with 61xx, CLA 8N only, keygen moves the public key to the next ID, 9B length on 3 bytes',
    protocol: 'T=0',
    classes: 'proprietary',
    keygenPublicId: 'next',
    readFileOffsetSw: 0x6981,
    updateFormatErrorSw: 0x6985,
    fullTextLength: 'fixed3',
    proprietaryId: 'ZARIOT IoT SAFE (virtual)',
  },
  kigen: {
    ...REFERENCE,
    reopenFinishedSession: false,
    name: 'kigen',
    description:
      'Kigen/KORE OmniSIM SAFE (libiotSafe analysis): T=0, not multi-selectable, no empty HKDF salt, 9B length on 3 bytes',
    protocol: 'T=0',
    hkdfRejectsEmptySalt: true,
    multiSelectable: false,
    objectListPageSize: 200,
    fullTextLength: 'fixed3',
    proprietaryId: 'Kigen OmniSIM SAFE (virtual)',
  },
  m33mu: {
    ...REFERENCE,
    reopenFinishedSession: false,
    name: 'm33mu',
    description:
      'm33mu emulator / wolfSSL expectations: keygen answers only 34 …, flat list, 240-byte READ FILE, SELECT without MANAGE CHANNEL',
    objectList: 'flat',
    keygenResponse: 'keyOnly',
    readFileMaxChunk: 240,
    implicitChannelOpen: true,
    closeUnopenedSessionSw: 0x9000,
    clearVolatileOnDeselect: true,
    proprietaryId: 'm33mu-compatible (virtual)',
  },
  'orange-partner': {
    ...REFERENCE,
    reopenFinishedSession: false,
    name: 'orange-partner',
    description:
      'Orange partner applet (IoT-SAFE-APDU-library): CLA 0N only, T=0, 6981 past the end of a file',
    protocol: 'T=0',
    classes: 'interindustry',
    readFileOffsetSw: 0x6981,
    proprietaryId: 'Orange partner applet (virtual)',
  },
};

export function personalityByName(name: string): Personality {
  const p = PERSONALITIES[name];
  if (!p) throw new Error(`unknown personality "${name}"; known: ${Object.keys(PERSONALITIES).join(', ')}`);
  return p;
}
