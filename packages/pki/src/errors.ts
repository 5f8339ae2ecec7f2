// The PKI's typed errors: each says what was refused and why, never a key or a secret.

/** Why a certification request (PKCS#10, RFC 2986) was refused. */
export type CsrProblem = 'malformed' | 'signature' | 'algorithm' | 'key-mismatch' | 'subject';

export class CsrError extends Error {
  override name = 'CsrError';
  constructor(
    readonly problem: CsrProblem,
    message: string,
  ) {
    super(message);
  }
}

/** A CA directory that cannot be used: missing, not a CA, sealed with another key, or damaged. */
export class CaStoreError extends Error {
  override name = 'CaStoreError';
}

/** A serial the CA never issued, or a revocation it cannot make. */
export class RevocationError extends Error {
  override name = 'RevocationError';
}
