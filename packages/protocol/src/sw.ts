// Status words: ISO 7816-4 §5.1.3, ETSI TS 102 221 §10.2, and GSMA IoT.05's table.

export const SW = {
  OK: 0x9000,
  MORE_DATA: 0x6300,
  REMOTE_ADMIN_COMPLETED: 0x63cf,
  INTEGRITY_ISSUE: 0x6400,
  MEMORY_FAILURE: 0x6581,
  WRONG_LENGTH: 0x6700,
  LOGICAL_CHANNEL_NOT_SUPPORTED: 0x6881,
  SECURE_MESSAGING_NOT_SUPPORTED: 0x6882,
  CHAINING_NOT_SUPPORTED: 0x6884,
  INCOMPATIBLE_FILE_STRUCTURE: 0x6981,
  SECURITY_STATUS_NOT_SATISFIED: 0x6982,
  REFERENCED_DATA_INVALIDATED: 0x6984,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  CAPACITY_REACHED: 0x6989,
  INCORRECT_DATA: 0x6a80,
  FUNCTION_NOT_SUPPORTED: 0x6a81,
  NOT_FOUND: 0x6a82,
  INSUFFICIENT_MEMORY: 0x6a84,
  INCORRECT_P1P2: 0x6a86,
  REFERENCED_DATA_NOT_FOUND: 0x6a88,
  INS_NOT_SUPPORTED: 0x6d00,
  SIGNATURE_MISMATCH: 0x6d01,
  CLA_NOT_SUPPORTED: 0x6e00,
  UNKNOWN_ERROR: 0x6f00,
} as const;

const MEANINGS: Record<number, string> = {
  36864: 'successful execution',
  25344: 'more data available',
  25551: 'successful, and a remote administration session has completed',
  25600: 'integrity issue in the applet store',
  25985: 'memory failure',
  26368: 'wrong length',
  26753: 'logical channel not supported or not open',
  26754: 'secure messaging not supported',
  26756: 'command chaining not supported',
  27009: 'command incompatible with file structure (or offset out of bounds)',
  27010: 'security status not satisfied',
  27012: 'referenced data invalidated (remote administration session in progress)',
  27013: 'conditions of use not satisfied',
  27017: 'remote administration completed and the command failed, or maximum capacity reached',
  27264: 'incorrect data',
  27265: 'function not supported',
  27266: 'file or object not found',
  27268: 'insufficient memory',
  27270: 'incorrect P1 or P2',
  27272: 'referenced data not found',
  27904: 'instruction not supported',
  27905: 'provided signature does not match',
  28160: 'class not supported',
  28416: 'unknown error',
};

export function swToHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** A readable reason for a status word, including the ranges with a parameter in SW2. */
export function describeStatusWord(sw: number): string {
  const known = MEANINGS[sw];
  if (known) return known;
  const sw1 = sw >> 8;
  const sw2 = sw & 0xff;
  if (sw1 === 0x61) return `${sw2 || 256} response bytes available (GET RESPONSE)`;
  if (sw1 === 0x6c) return `wrong Le; ${sw2 || 256} bytes available`;
  if (sw1 === 0x91) return `successful, proactive command of ${sw2} bytes pending`;
  if (sw1 === 0x9f) return `${sw2 || 256} response bytes available (GSM class)`;
  if (sw1 === 0x63 && (sw2 & 0xf0) === 0xc0) return `verification failed, ${sw2 & 0x0f} tries left`;
  return 'unknown status word';
}

/** True for the SW1 values ISO 7816-4 §5.1.3 allows (61–6F and 90–9F). */
export function isValidStatusWord(sw: number): boolean {
  const sw1 = sw >> 8;
  return sw >= 0 && sw <= 0xffff && ((sw1 >= 0x61 && sw1 <= 0x6f) || (sw1 >= 0x90 && sw1 <= 0x9f));
}

/** A command answered with a status word other than the one expected; carries the SW. */
export class StatusWordError extends Error {
  override name = 'StatusWordError';
  constructor(
    readonly sw: number,
    readonly commandName: string,
  ) {
    super(`${commandName} failed: ${swToHex(sw)} (${describeStatusWord(sw)})`);
  }
}
